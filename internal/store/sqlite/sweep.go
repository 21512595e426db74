package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/store"
)

// sweeps is the one bounded DELETE of each kind: at most ? rows whose time
// is before ?, oldest first. The inner SELECT walks the time column's
// index where there is one (cache, pauses, quota) and stops at the limit,
// so a batch costs its size, not the table's. client_seen has a row per
// configured client and no index on last_seen; cache_purges is trimmed to
// a day by Publish and walks its id, which is publication order.
var sweeps = map[store.SweepKind]string{
	store.SweepSeen: `DELETE FROM client_seen WHERE rowid IN (
		SELECT rowid FROM client_seen WHERE last_seen < ? ORDER BY last_seen LIMIT ?)`,
	store.SweepCache: `DELETE FROM cache_records WHERE rowid IN (
		SELECT rowid FROM cache_records WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
	store.SweepPauses: `DELETE FROM pauses WHERE rowid IN (
		SELECT rowid FROM pauses WHERE until < ? ORDER BY until LIMIT ?)`,
	store.SweepQuota: `DELETE FROM quota_usage WHERE rowid IN (
		SELECT rowid FROM quota_usage WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
	store.SweepCachePurges: `DELETE FROM cache_purges WHERE id IN (
		SELECT id FROM cache_purges WHERE published_at < ? ORDER BY id LIMIT ?)`,
}

// Sweep deletes at most limit rows of kind that are past their retention
// as of before (see store.Store.Sweep), in one statement on the writer
// connection: each batch holds the write lock only for its own rows.
func (s *Store) Sweep(ctx context.Context, kind store.SweepKind, before time.Time, limit int) (_ int64, err error) {
	defer s.observe("Sweep", &err)
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
	res, err := s.writes.ExecContext(ctx, query, formatTime(before), limit)
	if err != nil {
		return 0, fmt.Errorf("sweeping %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sweeping %s: %w", kind, err)
	}
	return n, nil
}

// PurgeBus is PurgeLog(0) as a cache.Broadcaster, for code that holds
// only a store.Store and finds the purge log by type assertion without
// naming this package: the conformance suite seeds SweepCachePurges's
// rows through it.
func (s *Store) PurgeBus() cache.Broadcaster { return s.PurgeLog(0) }
