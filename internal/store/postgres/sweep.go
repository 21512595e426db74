package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/store"
)

// sweeps is the one bounded DELETE of each kind: at most $2 rows whose
// time is before $1, oldest first. The inner SELECT walks the time
// column's index where there is one (cache, pauses, quota) and stops at
// the limit, so a batch costs its size, not the table's; client_seen has
// a row per configured client and no index on last_seen; cache_purges is
// trimmed to a day by Publish and walks its id, which is publication
// order. FOR UPDATE SKIP LOCKED: two replicas' sweepers take different
// rows, and neither waits for a request holding one; the outer condition
// re-checks the row as locked, so a row renewed meanwhile (a pause
// extended, a quota window restarted) is kept.
var sweeps = map[store.SweepKind]string{
	store.SweepSeen: `DELETE FROM client_seen WHERE client IN (
		SELECT client FROM client_seen WHERE last_seen < $1
		ORDER BY last_seen LIMIT $2 FOR UPDATE SKIP LOCKED) AND last_seen < $1`,
	store.SweepCache: `DELETE FROM cache_records WHERE ctid IN (
		SELECT ctid FROM cache_records WHERE expires_at < $1
		ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) AND expires_at < $1`,
	store.SweepPauses: `DELETE FROM pauses WHERE key IN (
		SELECT key FROM pauses WHERE until < $1
		ORDER BY until LIMIT $2 FOR UPDATE SKIP LOCKED) AND until < $1`,
	store.SweepQuota: `DELETE FROM quota_usage WHERE key IN (
		SELECT key FROM quota_usage WHERE expires_at < $1
		ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) AND expires_at < $1`,
	store.SweepCachePurges: `DELETE FROM cache_purges WHERE id IN (
		SELECT id FROM cache_purges WHERE published_at < $1
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) AND published_at < $1`,
}

// Sweep deletes at most limit rows of kind that are past their retention
// as of before (see store.Store.Sweep), in one statement.
func (s *Store) Sweep(ctx context.Context, kind store.SweepKind, before time.Time, limit int) (_ int64, err error) {
	defer s.observe("Sweep", ctx, &err)
	query, ok := sweeps[kind]
	if !ok {
		return 0, fmt.Errorf("sweeping %q: %w", kind, store.ErrUnknownSweepKind)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("sweeping %s: limit must be positive, got %d", kind, limit)
	}
	if inTx(ctx, s) {
		return 0, fmt.Errorf("sweeping %s: %w", kind, store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, query, before.UTC(), limit)
	if err != nil {
		return 0, fmt.Errorf("sweeping %s: %w", kind, err)
	}
	return tag.RowsAffected(), nil
}

// PurgeBus is Notifier with the default NotifierOptions, as a
// cache.Broadcaster, for code that holds only a store.Store and finds the
// purge bus by type assertion without naming this package (as SQLite's
// store offers it).
func (s *Store) PurgeBus() cache.Broadcaster { return s.Notifier(NotifierOptions{}) }
