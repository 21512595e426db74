-- Issue 3: calendar quota counters (govern.QuotaCounter), so a restart
-- never resets a daily or monthly quota, and replicas share one count.
--
-- key names one counter and its period ("q:p:socialeye:prod-1:d:2026-11-27"),
-- so a new period is a new row. expires_at is the end of the period; a row
-- past it reads as zero (the next Consume starts it again) and is deleted
-- by the retention sweeper (Sweep "quota"), through the index.

CREATE TABLE quota_usage (
    key        TEXT        NOT NULL PRIMARY KEY,
    used       BIGINT      NOT NULL CHECK (used >= 0),
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX quota_usage_expires_at ON quota_usage (expires_at);
