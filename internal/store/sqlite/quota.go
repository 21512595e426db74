package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/store"
)

// The embedded deployment keeps calendar quotas here, beside the rest of its
// durable state, so that a restart mid-day does not hand out the day's
// quota a second time.
var _ govern.QuotaCounter = (*Store)(nil)

// unavailable wraps a database failure so the governor applies its fail
// mode, keeping the cause for the log.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, govern.ErrUnavailable, err)
}

// Consume takes one unit from every window if all have room, in one
// IMMEDIATE transaction on the single writer connection: concurrent callers
// (and other processes on the file) are serialised, so the limit is exact.
// It also deletes expired rows, cheaply through the expires_at index.
// Windows expire by the store's clock (Options.Clock).
func (s *Store) Consume(ctx context.Context, windows []govern.Window) (_ bool, _ int, err error) {
	defer s.observe("Consume", &err)
	return s.consume(ctx, windows, s.clock.Now())
}

func (s *Store) consume(ctx context.Context, windows []govern.Window, now time.Time) (ok bool, exhausted int, err error) {
	if len(windows) == 0 {
		return true, -1, nil
	}
	if inTx(ctx, s) {
		return false, 0, unavailable("consuming quota", store.ErrInTx)
	}
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, unavailable("consuming quota", err)
	}
	defer func() {
		if err != nil || !ok {
			_ = tx.Rollback() // nothing to keep; report the cause, if any
		}
	}()
	at := formatTime(now)
	if _, err = tx.ExecContext(ctx, "DELETE FROM quota_usage WHERE expires_at <= ?", at); err != nil {
		return false, 0, unavailable("consuming quota: deleting expired windows", err)
	}
	for i, w := range windows {
		var used int64
		err = tx.QueryRowContext(ctx, "SELECT used FROM quota_usage WHERE key = ?", w.Key).Scan(&used)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, 0, unavailable("consuming quota", err)
		}
		err = nil
		if used >= w.Limit {
			return false, i, nil
		}
	}
	for _, w := range windows {
		_, err = tx.ExecContext(ctx, `
			INSERT INTO quota_usage (key, used, expires_at) VALUES (?, 1, ?)
			ON CONFLICT (key) DO UPDATE SET used = used + 1, expires_at = excluded.expires_at`,
			w.Key, formatTime(w.Expires))
		if err != nil {
			return false, 0, unavailable("consuming quota", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return false, 0, unavailable("consuming quota", err)
	}
	return true, -1, nil
}

// Refund returns one unit to every window, never below zero, in one
// transaction. Unknown and expired windows are left alone.
func (s *Store) Refund(ctx context.Context, windows []govern.Window) (err error) {
	defer s.observe("Refund", &err)
	if len(windows) == 0 {
		return nil
	}
	if inTx(ctx, s) {
		return unavailable("refunding quota", store.ErrInTx)
	}
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("refunding quota", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	at := formatTime(s.clock.Now())
	for _, w := range windows {
		_, err = tx.ExecContext(ctx,
			"UPDATE quota_usage SET used = used - 1 WHERE key = ? AND used > 0 AND expires_at > ?", w.Key, at)
		if err != nil {
			return unavailable("refunding quota", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return unavailable("refunding quota", err)
	}
	return nil
}

// Used returns the units used in each window: 0 for unknown and expired
// ones. It reads through the reader pool and never blocks the writer.
func (s *Store) Used(ctx context.Context, windows []govern.Window) (_ []int64, err error) {
	defer s.observe("Used", &err)
	return s.used(ctx, windows, s.clock.Now())
}

func (s *Store) used(ctx context.Context, windows []govern.Window, now time.Time) ([]int64, error) {
	out := make([]int64, len(windows))
	at := formatTime(now)
	for i, w := range windows {
		err := s.reads.QueryRowContext(ctx,
			"SELECT used FROM quota_usage WHERE key = ? AND expires_at > ?", w.Key, at).Scan(&out[i])
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, unavailable("reading quota usage", err)
		}
	}
	return out, nil
}
