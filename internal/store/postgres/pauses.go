package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intelgate/intelgate/internal/store"
)

// Pauses are kept for whichever process starts next (migration 0006): the
// in-process governance state (govern/memory) writes them through and
// reads them at start, not while serving, so replicas share running
// pauses through Redis (shared.driver: redis), not through this table.
var _ store.Pauses = (*Store)(nil)

// SavePause records that key is paused until until, keeping the later of
// until and the end already stored, in one upsert: racing saves from
// several replicas end on the latest end whatever order they commit in.
// An end in the past is stored as given (it reads as absent and is
// swept), so the result never depends on this store's clock.
func (s *Store) SavePause(ctx context.Context, key string, until time.Time) (err error) {
	defer s.observe("SavePause", ctx, &err)
	if key == "" {
		return errors.New("saving pause: key is empty")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("saving pause %q: %w", key, store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, `
		INSERT INTO pauses AS p (key, until) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET until = greatest(p.until, excluded.until)`,
		key, until.UTC())
	if err != nil {
		return fmt.Errorf("saving pause %q: %w", key, err)
	}
	return nil
}

// DeletePause ends key's pause; an absent key is not an error.
func (s *Store) DeletePause(ctx context.Context, key string) (err error) {
	defer s.observe("DeletePause", ctx, &err)
	if key == "" {
		return errors.New("deleting pause: key is empty")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("deleting pause %q: %w", key, store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, "DELETE FROM pauses WHERE key = $1", key); err != nil {
		return fmt.Errorf("deleting pause %q: %w", key, err)
	}
	return nil
}

// LoadPauses returns every pause that ends after now, in UTC. now is the
// caller's (the governance state's clock), not the store's: the caller
// decides what has ended.
func (s *Store) LoadPauses(ctx context.Context, now time.Time) (_ map[string]time.Time, err error) {
	defer s.observe("LoadPauses", ctx, &err)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT key, until FROM pauses WHERE until > $1", now.UTC())
	if err != nil {
		return nil, fmt.Errorf("loading pauses: %w", err)
	}
	out := make(map[string]time.Time)
	var key string
	var until time.Time
	if _, err := pgx.ForEachRow(rows, []any{&key, &until}, func() error {
		out[key] = until.UTC()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("loading pauses: %w", err)
	}
	return out, nil
}
