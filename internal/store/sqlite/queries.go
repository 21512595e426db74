package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/store"
)

// timeLayout is fixed-width UTC with nanoseconds, so that comparing the
// stored text compares the times.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// TouchClient records that client was seen at from addr. An older at than
// the one stored leaves the row alone, so concurrent requests finishing out
// of order never move last_seen backwards.
func (s *Store) TouchClient(ctx context.Context, client, addr string, at time.Time) (err error) {
	defer s.observe("TouchClient", &err)
	if client == "" {
		return errors.New("touching client: client name is empty")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("touching client %q: %w", client, store.ErrInTx)
	}
	_, err = s.writes.ExecContext(ctx, `
		INSERT INTO client_seen (client, last_seen, last_addr) VALUES (?, ?, ?)
		ON CONFLICT (client) DO UPDATE SET last_seen = excluded.last_seen, last_addr = excluded.last_addr
		WHERE excluded.last_seen >= client_seen.last_seen`,
		client, formatTime(at), addr)
	if err != nil {
		return fmt.Errorf("touching client %q: %w", client, err)
	}
	return nil
}

// ClientLastSeen returns when and from where client was last seen.
func (s *Store) ClientLastSeen(ctx context.Context, client string) (_ time.Time, _ string, _ bool, err error) {
	defer s.observe("ClientLastSeen", &err)
	var at, addr string
	err = s.reads.QueryRowContext(ctx,
		"SELECT last_seen, last_addr FROM client_seen WHERE client = ?", client).Scan(&at, &addr)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("reading last seen of client %q: %w", client, err)
	}
	t, err := parseTime(at)
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("reading last seen of client %q: %w", client, err)
	}
	return t, addr, true, nil
}

// RecordKeyFingerprint stores fingerprint for provider's key keyID and
// reports whether it replaced a different one. The read and the write run
// in one IMMEDIATE transaction on the single writer connection, so when
// several callers record the same new fingerprint exactly one sees changed.
func (s *Store) RecordKeyFingerprint(ctx context.Context, provider, keyID, fingerprint string, at time.Time, previous ...string) (changed bool, err error) {
	defer s.observe("RecordKeyFingerprint", &err)
	if provider == "" || keyID == "" || fingerprint == "" {
		return false, errors.New("recording key fingerprint: provider, key id and fingerprint are required")
	}
	wrap := func(err error) error {
		return fmt.Errorf("recording fingerprint of provider %q key %q: %w", provider, keyID, err)
	}
	if inTx(ctx, s) {
		return false, wrap(store.ErrInTx)
	}
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return false, wrap(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // report the error that caused the rollback
		}
	}()
	var old string
	err = tx.QueryRowContext(ctx,
		"SELECT fingerprint FROM key_fingerprints WHERE provider = ? AND key_id = ?",
		provider, keyID).Scan(&old)
	now := formatTime(at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO key_fingerprints
			(provider, key_id, fingerprint, first_seen, updated_at) VALUES (?, ?, ?, ?, ?)`,
			provider, keyID, fingerprint, now, now)
	case err != nil:
	case old == fingerprint:
	default:
		changed = !slices.Contains(previous, old)
		_, err = tx.ExecContext(ctx, `UPDATE key_fingerprints SET fingerprint = ?, updated_at = ?
			WHERE provider = ? AND key_id = ?`, fingerprint, now, provider, keyID)
	}
	if err != nil {
		return false, wrap(err)
	}
	if err = tx.Commit(); err != nil {
		return false, wrap(err)
	}
	return changed, nil
}
