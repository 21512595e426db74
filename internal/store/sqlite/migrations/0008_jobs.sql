-- Issue "async": bulk lookups (internal/jobs).
--
-- A job is one submission; each indicator in it is an item, worked by one
-- River job (river_id; River keeps its own tables, migrated by River's
-- rivermigrate beside these). An item's indicator and its result are
-- sealed (internal/seal, bound to the job id and item number), as the
-- cache's records are: the store can be asked neither what was looked up
-- nor what a provider said. spec is the sealed submission (type,
-- providers, markings, callback URL). idempotency and request_mac are
-- keyed HMACs (seal.Keyring.Index) of the client's Idempotency-Key and of
-- the whole submission, so a resubmission finds its job and a reused key
-- with another body is refused, without either being readable here.
--
-- pending counts the items not yet final; the completion that takes it to
-- zero sets finished_at, in the transaction that completes its River job.
-- Finished jobs are deleted retention.job_results after finished_at, items
-- first, in bounded batches (jobs.Queue.Sweep).
-- error is the failure kind of an item that failed or died (a problem
-- slug, never upstream text) and provider the provider it came from ('' for
-- the item's own failure): the dead-letter queue filters on both.
--
-- job_callbacks is the delivery of a job's signed summary to its
-- callback_url (River retries it; each attempt is recorded here): one row
-- per job, for its latest finish. Times use 0001's TEXT layout.

CREATE TABLE jobs (
    id          TEXT    NOT NULL PRIMARY KEY,
    client      TEXT    NOT NULL,
    idempotency TEXT,
    request_mac TEXT    NOT NULL,
    spec        BLOB    NOT NULL,
    total       INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    finished_at TEXT
) STRICT;

CREATE UNIQUE INDEX jobs_idempotency ON jobs (client, idempotency) WHERE idempotency IS NOT NULL;
CREATE INDEX jobs_client ON jobs (client, created_at);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE job_items (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    river_id   INTEGER,
    state      TEXT    NOT NULL CHECK (state IN ('queued', 'done', 'failed', 'dead', 'withheld')),
    indicator  BLOB    NOT NULL,
    result     BLOB,
    error      TEXT    NOT NULL DEFAULT '',
    provider   TEXT    NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) STRICT;

CREATE INDEX job_items_dead ON job_items (job_id, seq) WHERE state = 'dead';

CREATE TABLE job_callbacks (
    job_id      TEXT    NOT NULL PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    webhook_id  TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_at     TEXT,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT ''
) STRICT;
