-- Issue 2: per-client last-seen and upstream key fingerprints.
--
-- Times are TEXT in one fixed-width UTC layout with nanoseconds
-- (2006-01-02T15:04:05.000000000Z), so text order is time order and a
-- human reading the file with the sqlite3 shell sees real dates.
-- STRICT makes SQLite enforce the declared column types.

CREATE TABLE client_seen (
    client    TEXT NOT NULL PRIMARY KEY,
    last_seen TEXT NOT NULL,
    last_addr TEXT NOT NULL
) STRICT;

-- fingerprint is a one-way fingerprint of the key, never the key itself.
-- updated_at is when the fingerprint last changed (first_seen until then).
CREATE TABLE key_fingerprints (
    provider    TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (provider, key_id)
) STRICT;
