-- Issue "durable records": the tamper-evident audit log (internal/audit).
-- The design of SQLite's 0005, in PostgreSQL's types.
--
-- record is the canonical JSON encoding of one audit record (without its
-- hash); hash is the SHA-256 of record, hex. Each record's JSON carries
-- the hash of the record before it ("prev"), so editing, deleting,
-- inserting or reordering rows breaks the chain where it happened. at,
-- kind, client and provider repeat fields of record for filtering;
-- `intelgate audit verify` checks that they agree with it.
CREATE TABLE audit_records (
    seq      BIGINT      NOT NULL PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    kind     TEXT        NOT NULL,
    client   TEXT        NOT NULL,
    provider TEXT        NOT NULL,
    record   TEXT        NOT NULL,
    hash     TEXT        NOT NULL
);

CREATE INDEX audit_records_at ON audit_records (at);
CREATE INDEX audit_records_client ON audit_records (client, seq);
CREATE INDEX audit_records_provider ON audit_records (provider, seq);

-- One row: the chain's head (the last record appended and its hash; 0 and
-- the genesis hash before any) and its anchor (the first record kept and
-- the hash it chains from), which retention moves forward as it deletes
-- the oldest records. mac is a keyed MAC (the data-at-rest key) of all
-- four, rewritten by every append and sweep: without the key, neither the
-- chain nor the anchor can be rewritten to look whole ('' only before the
-- first append). Appenders lock this row (SELECT … FOR UPDATE), so
-- replicas append one chain.
CREATE TABLE audit_head (
    id          BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT   NOT NULL,
    anchor_seq  BIGINT NOT NULL,
    anchor_prev TEXT   NOT NULL,
    mac         TEXT   NOT NULL
);

INSERT INTO audit_head (id, seq, hash, anchor_seq, anchor_prev, mac) VALUES
    (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
     1, '0000000000000000000000000000000000000000000000000000000000000000', '');
