package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/store"
)

// Replicas share calendar quotas through these rows: two replicas must
// never together exceed a provider's limit, and a restart must not reset
// one.
var _ govern.QuotaCounter = (*Store)(nil)

// unavailable wraps a database failure so the governor applies its fail
// mode, keeping the cause for the log.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, govern.ErrUnavailable, err)
}

// byKey returns the indices of windows ordered by key (stable, so
// duplicates keep their order). Every statement that locks several quota
// rows locks them in this order, so two replicas' transactions never wait
// for each other in a cycle.
func byKey(windows []govern.Window) []int {
	idx := make([]int, len(windows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(windows[a].Key, windows[b].Key) })
	return idx
}

// consumeOne takes a unit from one window if it has room, in one upsert
// that locks the row: a new window starts at 1, an expired one starts
// again at 1 (its period is over), a live one counts up unless full. No
// row returned means full.
const consumeOne = `
	INSERT INTO quota_usage AS q (key, used, expires_at) VALUES ($1, 1, $2)
	ON CONFLICT (key) DO UPDATE SET
		used = CASE WHEN q.expires_at <= $3 THEN 1 ELSE q.used + 1 END,
		expires_at = excluded.expires_at
	WHERE q.expires_at <= $3 OR q.used < $4
	RETURNING used`

// Consume takes one unit from every window if all have room, atomically
// across replicas: one READ COMMITTED transaction pipelines one
// conditional upsert per window (consumeOne), in key order, each locking
// its row until the end; if any window is full, the transaction rolls
// back and nothing is taken. A replica waiting on a row sees the count
// the previous holder committed, so the limit is exact. Windows expire by
// the store's clock (Options.Clock); expired rows are left to Sweep.
func (s *Store) Consume(ctx context.Context, windows []govern.Window) (ok bool, exhausted int, err error) {
	defer s.observe("Consume", ctx, &err)
	if len(windows) == 0 {
		return true, -1, nil
	}
	if inTx(ctx, s) {
		return false, 0, unavailable("consuming quota", store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	now := s.clock.Now().UTC()
	exhausted = -1
	full := func(i int) {
		if exhausted < 0 || i < exhausted {
			exhausted = i
		}
	}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, i := range byKey(windows) {
			w := windows[i]
			if w.Limit <= 0 {
				full(i) // no room ever: nothing to lock
				continue
			}
			b.Queue(consumeOne, w.Key, w.Expires.UTC(), now, w.Limit).QueryRow(func(row pgx.Row) error {
				var used int64
				err := row.Scan(&used)
				if errors.Is(err, pgx.ErrNoRows) {
					full(i)
					return nil
				}
				return err
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if exhausted >= 0 {
			return errFull // roll back what the other windows took
		}
		return nil
	})
	switch {
	case errors.Is(err, errFull):
		return false, exhausted, nil
	case err != nil:
		return false, 0, unavailable("consuming quota", err)
	}
	return true, -1, nil
}

// errFull rolls back a Consume that found a window full.
var errFull = errors.New("quota window full")

// Refund returns one unit to every live window, never below zero: one
// update per window, in key order, pipelined in one implicit transaction.
// Unknown and expired windows are left alone.
func (s *Store) Refund(ctx context.Context, windows []govern.Window) (err error) {
	defer s.observe("Refund", ctx, &err)
	if len(windows) == 0 {
		return nil
	}
	if inTx(ctx, s) {
		return unavailable("refunding quota", store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	now := s.clock.Now().UTC()
	b := &pgx.Batch{}
	for _, i := range byKey(windows) {
		b.Queue("UPDATE quota_usage SET used = used - 1 WHERE key = $1 AND used > 0 AND expires_at > $2",
			windows[i].Key, now)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return unavailable("refunding quota", err)
	}
	return nil
}

// Used returns the units used in each window, in one query: 0 for unknown
// and expired ones.
func (s *Store) Used(ctx context.Context, windows []govern.Window) (_ []int64, err error) {
	defer s.observe("Used", ctx, &err)
	return s.used(ctx, windows, s.clock.Now())
}

func (s *Store) used(ctx context.Context, windows []govern.Window, now time.Time) ([]int64, error) {
	out := make([]int64, len(windows))
	if len(windows) == 0 {
		return out, nil
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	keys := make([]string, len(windows))
	for i, w := range windows {
		keys[i] = w.Key
	}
	rows, err := s.pool.Query(ctx, "SELECT key, used FROM quota_usage WHERE key = ANY($1) AND expires_at > $2", keys, now.UTC())
	if err != nil {
		return nil, unavailable("reading quota usage", err)
	}
	found := map[string]int64{}
	var key string
	var used int64
	if _, err := pgx.ForEachRow(rows, []any{&key, &used}, func() error {
		found[key] = used
		return nil
	}); err != nil {
		return nil, unavailable("reading quota usage", err)
	}
	for i, w := range windows {
		out[i] = found[w.Key]
	}
	return out, nil
}
