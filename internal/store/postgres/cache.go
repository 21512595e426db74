package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/store"
)

// The distributed deployment can keep its durable cache tier here, beside
// the rest of its state, with the same semantics as SQLite's
// (internal/store/sqlite/cache.go), pinned by the same suite. The store
// only ever sees sealed records, so neither the tables nor the WAL hold a
// body or an indicator.
var _ cache.Records = (*Store)(nil)

const (
	// sweepBatch bounds how many expired records one Put deletes, so a
	// write never stalls behind a large backlog while the table still
	// stops growing without a background job.
	sweepBatch = 64
	// scanPage is how many records Scan reads per query. Scan pages by
	// key instead of holding a cursor (and a transaction) open while fn
	// writes.
	scanPage = 256
)

// sweepExpired deletes up to $2 records that expired at $1, oldest
// first. SKIP LOCKED: replicas sweeping at once take different rows
// instead of queueing on the same ones, and a Put never waits for
// another's sweep. The outer condition re-checks expiry on the row as
// locked, so a record replaced meanwhile by a live one is kept.
const sweepExpired = `
	DELETE FROM cache_records WHERE ctid IN (
		SELECT ctid FROM cache_records WHERE expires_at <= $1
		ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
	AND expires_at <= $1`

// Get returns the first record of refs, in refs' order, that is live on
// the store's clock (Options.Clock). All refs are read in one query.
func (s *Store) Get(ctx context.Context, provider string, refs []cache.Ref) (_ cache.Record, _ bool, err error) {
	defer s.observe("Get", ctx, &err)
	if len(refs) == 0 {
		return cache.Record{}, false, nil
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, tag, body, expires_at FROM cache_records
		WHERE provider = $1 AND expires_at > $2 AND id = ANY($3)`,
		provider, s.clock.Now().UTC(), ids)
	if err != nil {
		return cache.Record{}, false, fmt.Errorf("reading cache record: %w", err)
	}
	found := make(map[string]cache.Record, len(refs))
	var r cache.Record
	if _, err := pgx.ForEachRow(rows, []any{&r.ID, &r.Tag, &r.Body, &r.Expires}, func() error {
		r.Provider, r.Expires = provider, r.Expires.UTC()
		found[r.ID] = r
		r = cache.Record{} // a fresh Body for the next row
		return nil
	}); err != nil {
		return cache.Record{}, false, fmt.Errorf("reading cache record: %w", err)
	}
	for _, ref := range refs {
		if r, ok := found[ref.ID]; ok {
			return r, true, nil
		}
	}
	return cache.Record{}, false, nil
}

// Put stores r, replacing provider's record with its ID, then deletes a
// bounded batch of expired records in the same implicit transaction (one
// pipelined batch). A record that is already expired is not written; the
// copy it replaces is deleted.
func (s *Store) Put(ctx context.Context, r cache.Record) (err error) {
	defer s.observe("Put", ctx, &err)
	if r.ID == "" || r.Tag == "" || r.Provider == "" {
		return errors.New("writing cache record: id, tag and provider are required")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("writing cache record: %w", store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	now := s.clock.Now().UTC()
	b := &pgx.Batch{}
	if !r.Expires.After(now) {
		b.Queue("DELETE FROM cache_records WHERE provider = $1 AND id = $2", r.Provider, r.ID)
	} else {
		body := r.Body
		if body == nil {
			body = []byte{} // NOT NULL: pgx binds a nil slice as NULL
		}
		b.Queue(`
			INSERT INTO cache_records (provider, id, tag, body, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (provider, id) DO UPDATE SET tag = excluded.tag,
				body = excluded.body, expires_at = excluded.expires_at`,
			r.Provider, r.ID, r.Tag, body, r.Expires.UTC())
	}
	// The sweep comes last: the write locks its one row first and the
	// sweep never waits (SKIP LOCKED), so two Puts each refreshing a
	// record the other's sweep picked cannot deadlock.
	b.Queue(sweepExpired, now, sweepBatch)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	return nil
}

// Delete removes provider's record at ref; absent is not an error.
func (s *Store) Delete(ctx context.Context, provider string, ref cache.Ref) (err error) {
	defer s.observe("Delete", ctx, &err)
	if inTx(ctx, s) {
		return fmt.Errorf("deleting cache record: %w", store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, "DELETE FROM cache_records WHERE provider = $1 AND id = $2", provider, ref.ID); err != nil {
		return fmt.Errorf("deleting cache record: %w", err)
	}
	return nil
}

// Purge removes provider's records whose tag is one of tags (every record
// of provider when tags is nil, every record when provider is "" too) in
// one statement, and says how many rows it deleted, expired ones
// included, as SQLite does. A non-nil empty tags selects nothing: a purge
// never widens because a caller's list came out empty.
func (s *Store) Purge(ctx context.Context, provider string, tags []string) (_ int, err error) {
	defer s.observe("Purge", ctx, &err)
	if provider == "" && tags != nil {
		return 0, errors.New("purging cache records: tags need a provider")
	}
	if tags != nil && len(tags) == 0 {
		return 0, nil
	}
	wrap := func(err error) error {
		if provider == "" {
			return fmt.Errorf("purging cache records: %w", err)
		}
		return fmt.Errorf("purging cache records of provider %q: %w", provider, err)
	}
	if inTx(ctx, s) {
		return 0, wrap(store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var tag pgconn.CommandTag
	switch {
	case provider == "":
		tag, err = s.pool.Exec(ctx, "DELETE FROM cache_records")
	case tags == nil:
		tag, err = s.pool.Exec(ctx, "DELETE FROM cache_records WHERE provider = $1", provider)
	default:
		tag, err = s.pool.Exec(ctx, "DELETE FROM cache_records WHERE provider = $1 AND tag = ANY($2)", provider, tags)
	}
	if err != nil {
		return 0, wrap(err)
	}
	return int(tag.RowsAffected()), nil
}

// Scan calls fn for each live record, in (provider, id) order, a page at
// a time (see scanPage), each page its own query. fn may Put and Delete;
// a record it Puts may or may not be visited by the same Scan.
func (s *Store) Scan(ctx context.Context, fn func(cache.Record) error) (err error) {
	defer s.observe("Scan", ctx, &err)
	var after cache.Record // keyset: the last (provider, id) seen
	for {
		page, err := s.scanPage(ctx, after.Provider, after.ID)
		if err != nil {
			return fmt.Errorf("scanning cache records: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		after = page[len(page)-1]
	}
}

// scanPage reads one page, bounded by OpTimeout on its own: a Scan of a
// large cache is many short queries, not one long one.
func (s *Store) scanPage(ctx context.Context, afterProvider, afterID string) ([]cache.Record, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
		SELECT provider, id, tag, body, expires_at FROM cache_records
		WHERE (provider, id) > ($1, $2) AND expires_at > $3 ORDER BY provider, id LIMIT $4`,
		afterProvider, afterID, s.clock.Now().UTC(), scanPage)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (cache.Record, error) {
		var r cache.Record
		err := row.Scan(&r.Provider, &r.ID, &r.Tag, &r.Body, &r.Expires)
		r.Expires = r.Expires.UTC()
		return r, err
	})
}
