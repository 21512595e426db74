package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/store"
)

// The embedded governance state (govern/memory) writes its pauses through
// to here, so that revocations, upstream pauses and auth-check claims
// survive a restart (migration 0006).
var _ store.Pauses = (*Store)(nil)

// SavePause records that key is paused until until, keeping the later of
// until and the end already stored: two racing saves end on the later end
// whichever commits last, which is what lets govern/memory write outside
// its lock. An end in the past is stored as given (it reads as absent and
// is swept), so the result never depends on this store's clock.
func (s *Store) SavePause(ctx context.Context, key string, until time.Time) (err error) {
	defer s.observe("SavePause", &err)
	if key == "" {
		return errors.New("saving pause: key is empty")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("saving pause %q: %w", key, store.ErrInTx)
	}
	_, err = s.writes.ExecContext(ctx, `
		INSERT INTO pauses (key, until) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET until = max(until, excluded.until)`,
		key, formatTime(until))
	if err != nil {
		return fmt.Errorf("saving pause %q: %w", key, err)
	}
	return nil
}

// DeletePause ends key's pause; an absent key is not an error.
func (s *Store) DeletePause(ctx context.Context, key string) (err error) {
	defer s.observe("DeletePause", &err)
	if key == "" {
		return errors.New("deleting pause: key is empty")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("deleting pause %q: %w", key, store.ErrInTx)
	}
	if _, err = s.writes.ExecContext(ctx, "DELETE FROM pauses WHERE key = ?", key); err != nil {
		return fmt.Errorf("deleting pause %q: %w", key, err)
	}
	return nil
}

// LoadPauses returns every pause that ends after now, through the reader
// pool. now is the caller's (the governance state's clock), not the
// store's: the caller decides what has ended.
func (s *Store) LoadPauses(ctx context.Context, now time.Time) (_ map[string]time.Time, err error) {
	defer s.observe("LoadPauses", &err)
	rows, err := s.reads.QueryContext(ctx, "SELECT key, until FROM pauses WHERE until > ?", formatTime(now))
	if err != nil {
		return nil, fmt.Errorf("loading pauses: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := make(map[string]time.Time)
	for rows.Next() {
		var key, until string
		if err := rows.Scan(&key, &until); err != nil {
			return nil, fmt.Errorf("loading pauses: %w", err)
		}
		t, err := parseTime(until)
		if err != nil {
			return nil, fmt.Errorf("loading pause %q: %w", key, err)
		}
		out[key] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading pauses: %w", err)
	}
	return out, nil
}
