-- Issue "encrypted cache": the durable cache tier's sealed records
-- (cache.Records), so upstream answers survive a restart without spending
-- quota twice.
--
-- Nothing here is plaintext: id and tag are keyed HMACs (internal/seal) of
-- the cache key and of provider+indicator, body is sealed (AES-256-GCM,
-- the key id inside). provider is configuration, kept in clear so one
-- provider's records can be purged. A row past expires_at is never served
-- and is deleted in bounded batches by later writes and by the retention
-- sweeper, through the expires_at index.

-- Records are partitioned by provider (the cache.Records contract), so the
-- key is (provider, id).
CREATE TABLE cache_records (
    provider   TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    tag        TEXT        NOT NULL,
    body       BYTEA       NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, id)
);

-- Purges select by provider, or provider and tag.
CREATE INDEX cache_records_provider_tag ON cache_records (provider, tag);
CREATE INDEX cache_records_expires_at ON cache_records (expires_at);
