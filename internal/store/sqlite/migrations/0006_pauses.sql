-- Issue "durable records": the embedded governance state's pauses
-- (store.Pauses, written through by govern/memory), so a restart neither
-- sends a revoked key again nor forgets an upstream's "slow down" or an
-- auth-check claim still running.
--
-- key is the governor's state key: provider and key id, and for
-- revocations and claims the secret's fingerprint (never the secret).
-- until is the pause's end in 0001's TEXT layout. Saves keep the later
-- end, so a pause extends and never shortens; a row past its end reads
-- as absent and is deleted by the retention sweeper (Sweep "pauses"),
-- through the index.

CREATE TABLE pauses (
    key   TEXT NOT NULL PRIMARY KEY,
    until TEXT NOT NULL
) STRICT;

CREATE INDEX pauses_until ON pauses (until);
