-- Issue "alerts": the alert engine's table (internal/alert). The design
-- of SQLite's 0007, in PostgreSQL's types.
--
-- One row per alert: a rule firing for one dedupe key (its labels, in the
-- rule's order) from its first firing until it resolves. While an alert
-- is live (open or acknowledged) there is at most one row per rule and
-- dedupe key — the partial unique index — so replicas that see the same
-- condition add to one row's count (INSERT … ON CONFLICT) instead of
-- writing one each; once resolved, the row is history and a new firing
-- is a new row. labels is a JSON object of names the config defines
-- (provider, key_id, client, config field), indicator types and source
-- addresses: never an indicator, token, key or error text. acked_at and
-- resolved_at are NULL until then. Resolved and acknowledged rows not
-- seen for alerts.retention are deleted by the retention sweeper, oldest
-- first, through the index on last_seen.

CREATE TABLE alerts (
    id          TEXT        NOT NULL PRIMARY KEY,
    rule        TEXT        NOT NULL,
    severity    TEXT        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    dedupe_key  TEXT        NOT NULL,
    labels      TEXT        NOT NULL,
    summary     TEXT        NOT NULL,
    first_seen  TIMESTAMPTZ NOT NULL,
    last_seen   TIMESTAMPTZ NOT NULL,
    count       BIGINT      NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    acked_by    TEXT        NOT NULL DEFAULT '',
    acked_at    TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX alerts_live ON alerts (rule, dedupe_key) WHERE state <> 'resolved';
CREATE INDEX alerts_first_seen ON alerts (first_seen, id);
CREATE INDEX alerts_last_seen ON alerts (last_seen);
