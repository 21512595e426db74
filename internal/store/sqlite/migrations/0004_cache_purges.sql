-- Issue "encrypted cache": purges announced through the database, so a
-- purge run by `intelgate cache purge` (another process on the same file)
-- reaches the running gateway's in-process hot tier (cache.Broadcaster for
-- the embedded mode; Redis pub/sub does this when replicas share Redis).
--
-- A row names a provider at most ('' for every provider), never an
-- indicator: a per-indicator purge clears the provider's hot entries,
-- which refill from the durable tier the purge already cleared precisely.
-- Rows older than a day are deleted by later publishes.

CREATE TABLE cache_purges (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider     TEXT NOT NULL,
    published_at TEXT NOT NULL
) STRICT;
