-- Issue "durable records": governance pauses (store.Pauses): key
-- revocations, upstream "slow down" pauses and auth-check claims, so a
-- restart neither sends a revoked key again nor forgets a pause still
-- running.
--
-- key is the governor's state key: provider and key id, and for
-- revocations and claims the secret's fingerprint (never the secret).
-- Saves keep the later end, so a pause extends and never shortens; a row
-- past its end reads as absent and is deleted by the retention sweeper
-- (Sweep "pauses"), through the index.

CREATE TABLE pauses (
    key   TEXT        NOT NULL PRIMARY KEY,
    until TIMESTAMPTZ NOT NULL
);

CREATE INDEX pauses_until ON pauses (until);
