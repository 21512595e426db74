-- Issue 2: per-client last-seen and upstream key fingerprints. The same
-- tables as SQLite's 0001, in PostgreSQL's types: times are TIMESTAMPTZ
-- (microseconds; read back in UTC), text is TEXT.

CREATE TABLE client_seen (
    client    TEXT        NOT NULL PRIMARY KEY,
    last_seen TIMESTAMPTZ NOT NULL,
    last_addr TEXT        NOT NULL
);

-- fingerprint is a one-way fingerprint of the key, never the key itself.
-- updated_at is when the fingerprint last changed (first_seen until then).
CREATE TABLE key_fingerprints (
    provider    TEXT        NOT NULL,
    key_id      TEXT        NOT NULL,
    fingerprint TEXT        NOT NULL,
    first_seen  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, key_id)
);
