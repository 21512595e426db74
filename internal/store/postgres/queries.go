package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intelgate/intelgate/internal/store"
)

// TouchClient records that client was seen at from addr, in one upsert.
// An older at than the one stored leaves the row alone (the ON CONFLICT
// condition is evaluated on the row as locked, the latest committed), so
// replicas finishing requests out of order never move last_seen
// backwards.
func (s *Store) TouchClient(ctx context.Context, client, addr string, at time.Time) (err error) {
	defer s.observe("TouchClient", ctx, &err)
	if client == "" {
		return errors.New("touching client: client name is empty")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("touching client %q: %w", client, store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, `
		INSERT INTO client_seen AS c (client, last_seen, last_addr) VALUES ($1, $2, $3)
		ON CONFLICT (client) DO UPDATE SET last_seen = excluded.last_seen, last_addr = excluded.last_addr
		WHERE excluded.last_seen >= c.last_seen`,
		client, at.UTC(), addr)
	if err != nil {
		return fmt.Errorf("touching client %q: %w", client, err)
	}
	return nil
}

// ClientLastSeen returns when (in UTC) and from where client was last seen.
func (s *Store) ClientLastSeen(ctx context.Context, client string) (_ time.Time, _ string, _ bool, err error) {
	defer s.observe("ClientLastSeen", ctx, &err)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var at time.Time
	var addr string
	err = s.pool.QueryRow(ctx, "SELECT last_seen, last_addr FROM client_seen WHERE client = $1", client).Scan(&at, &addr)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("reading last seen of client %q: %w", client, err)
	}
	return at.UTC(), addr, true, nil
}

// RecordKeyFingerprint stores fingerprint for provider's key keyID and
// reports whether it replaced a different one.
//
// Three statements in one transaction: an insert that does nothing when
// the key is known, a read of the stored fingerprint under the row lock,
// and an update when it differs. At READ COMMITTED, SELECT … FOR UPDATE
// waits for a concurrent writer and then reads the version it committed,
// so when several replicas record the same new fingerprint at once, the
// first changes the row and the others find it already equal: exactly one
// sees changed. The old value is needed (not only whether the row
// changed) to tell a renamed fingerprint (previous) from a rotation.
func (s *Store) RecordKeyFingerprint(ctx context.Context, provider, keyID, fingerprint string, at time.Time, previous ...string) (changed bool, err error) {
	defer s.observe("RecordKeyFingerprint", ctx, &err)
	if provider == "" || keyID == "" || fingerprint == "" {
		return false, errors.New("recording key fingerprint: provider, key id and fingerprint are required")
	}
	wrap := func(err error) error {
		return fmt.Errorf("recording fingerprint of provider %q key %q: %w", provider, keyID, err)
	}
	if inTx(ctx, s) {
		return false, wrap(store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	// One transaction: insert the first fingerprint (nothing if one is
	// stored), then read the stored one under its row lock — FOR UPDATE
	// waits for a concurrent writer and reads what it committed — so of
	// several callers recording one new fingerprint only the first sees
	// the old one.
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO key_fingerprints (provider, key_id, fingerprint, first_seen, updated_at)
			VALUES ($1, $2, $3, $4, $4) ON CONFLICT (provider, key_id) DO NOTHING`, provider, keyID, fingerprint, at.UTC()); err != nil {
			return err
		}
		var old string
		if err := tx.QueryRow(ctx, `SELECT fingerprint FROM key_fingerprints WHERE provider = $1 AND key_id = $2 FOR UPDATE`,
			provider, keyID).Scan(&old); err != nil {
			return err
		}
		if old == fingerprint {
			return nil
		}
		changed = !slices.Contains(previous, old)
		_, err := tx.Exec(ctx, `UPDATE key_fingerprints SET fingerprint = $3, updated_at = $4 WHERE provider = $1 AND key_id = $2`,
			provider, keyID, fingerprint, at.UTC())
		return err
	})
	if err != nil {
		return false, wrap(err)
	}
	return changed, nil
}
