-- Issue "encrypted cache": purges announced to every replica. Replicas
-- hear them through LISTEN/NOTIFY (cache.Broadcaster); each is also
-- recorded here, in the same transaction as its notification, so an
-- operator can see when purges happened. A row names a provider at most
-- ('' for every provider), never an indicator. Rows older than a day are
-- deleted by later publishes and by the retention sweeper.

CREATE TABLE cache_purges (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider     TEXT        NOT NULL,
    published_at TIMESTAMPTZ NOT NULL
);
