-- Issue "async": inbound provider webhooks (internal/jobs, webhooks.go).
--
-- One row per verified event, keyed by the provider and a keyed HMAC of
-- the provider's event id (seal.Keyring.Index), so a replay finds its row
-- and is answered without being processed again, and the table holds no
-- id a provider chose. body is the event as received, sealed and bound to
-- its row. state follows the background processing (River's intelgate_webhook
-- jobs): queued, then processed (purged and forwarded counted) or failed.
-- Rows older than retention.webhook_ids are deleted, oldest first.
-- Times use 0001's TEXT layout.

CREATE TABLE webhook_events (
    provider    TEXT    NOT NULL,
    id_mac      TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'processed', 'failed')),
    purged      INTEGER NOT NULL DEFAULT 0,
    forwarded   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, id_mac)
) STRICT;

CREATE INDEX webhook_events_received ON webhook_events (received_at);
