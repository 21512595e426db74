package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/store"
)

// The embedded deployment keeps its durable cache tier in the same file as
// the rest of its state: one file to back up, and answers that survive a
// restart. The store only ever sees sealed records (cache.Sealed seals
// them), so neither the file nor its WAL holds a body or an indicator.
var _ cache.Records = (*Store)(nil)

const (
	// sweepBatch bounds how many expired records one Put deletes, so a
	// write never stalls behind a large backlog while the file still stops
	// growing: every Put removes up to this many dead rows.
	sweepBatch = 64
	// scanPage is how many records Scan reads per query. Scan pages by id
	// instead of holding one cursor open, so fn's Puts and Deletes never
	// run under a read transaction that keeps the WAL from checkpointing.
	scanPage = 256
	// purgeChunk bounds the tags bound in one DELETE, far below SQLite's
	// limit on host parameters.
	purgeChunk = 500
)

// Get returns the first record of refs, in refs' order, that is live on
// the store's clock (Options.Clock). All refs are read in one query.
func (s *Store) Get(ctx context.Context, provider string, refs []cache.Ref) (_ cache.Record, _ bool, err error) {
	defer s.observe("Get", &err)
	if len(refs) == 0 {
		return cache.Record{}, false, nil
	}
	args := make([]any, 0, len(refs)+2)
	args = append(args, provider, formatTime(s.clock.Now()))
	for _, r := range refs {
		args = append(args, r.ID)
	}
	rows, err := s.reads.QueryContext(ctx, `
		SELECT id, tag, body, expires_at FROM cache_records
		WHERE provider = ? AND expires_at > ? AND id IN (`+placeholders(len(refs))+`)`, args...)
	if err != nil {
		return cache.Record{}, false, fmt.Errorf("reading cache record: %w", err)
	}
	defer func() { _ = rows.Close() }()
	found := make(map[string]cache.Record, len(refs))
	for rows.Next() {
		r := cache.Record{Provider: provider}
		var expires string
		if err := rows.Scan(&r.ID, &r.Tag, &r.Body, &expires); err != nil {
			return cache.Record{}, false, fmt.Errorf("reading cache record: %w", err)
		}
		if r.Expires, err = parseTime(expires); err != nil {
			return cache.Record{}, false, fmt.Errorf("reading cache record: %w", err)
		}
		found[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return cache.Record{}, false, fmt.Errorf("reading cache record: %w", err)
	}
	for _, ref := range refs {
		if r, ok := found[ref.ID]; ok {
			return r, true, nil
		}
	}
	return cache.Record{}, false, nil
}

// Put stores r, replacing provider's record with its ID, and deletes a bounded
// batch of expired records in the same transaction. A record that is
// already expired is not written; the copy it replaces is deleted.
func (s *Store) Put(ctx context.Context, r cache.Record) (err error) {
	defer s.observe("Put", &err)
	if r.ID == "" || r.Tag == "" || r.Provider == "" {
		return errors.New("writing cache record: id, tag and provider are required")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("writing cache record: %w", store.ErrInTx)
	}
	now := s.clock.Now()
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // report the cause, not the rollback
		}
	}()
	if _, err = tx.ExecContext(ctx, `
		DELETE FROM cache_records WHERE rowid IN (
			SELECT rowid FROM cache_records WHERE expires_at <= ? LIMIT ?)`,
		formatTime(now), sweepBatch); err != nil {
		return fmt.Errorf("writing cache record: deleting expired records: %w", err)
	}
	if !r.Expires.After(now) {
		_, err = tx.ExecContext(ctx, "DELETE FROM cache_records WHERE provider = ? AND id = ?", r.Provider, r.ID)
	} else {
		body := r.Body
		if body == nil {
			body = []byte{} // NOT NULL: database/sql binds a nil slice as NULL
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO cache_records (id, provider, tag, body, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (provider, id) DO UPDATE SET tag = excluded.tag,
				body = excluded.body, expires_at = excluded.expires_at`,
			r.ID, r.Provider, r.Tag, body, formatTime(r.Expires))
	}
	if err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	return nil
}

// Delete removes provider's record at ref; absent is not an error.
func (s *Store) Delete(ctx context.Context, provider string, ref cache.Ref) (err error) {
	defer s.observe("Delete", &err)
	if inTx(ctx, s) {
		return fmt.Errorf("deleting cache record: %w", store.ErrInTx)
	}
	_, err = s.writes.ExecContext(ctx, "DELETE FROM cache_records WHERE provider = ? AND id = ?", provider, ref.ID)
	if err != nil {
		return fmt.Errorf("deleting cache record: %w", err)
	}
	return nil
}

// Purge removes provider's records whose tag is one of tags (every record
// of provider when tags is nil, every record when provider is "" too) in
// one transaction, and says how many rows it deleted, expired ones
// included. A non-nil empty tags selects nothing: a purge never widens
// because a caller's list came out empty.
func (s *Store) Purge(ctx context.Context, provider string, tags []string) (n int, err error) {
	defer s.observe("Purge", &err)
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
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	exec := func(query string, args ...any) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return wrap(err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return wrap(err)
		}
		n += int(k)
		return nil
	}
	switch {
	case provider == "":
		err = exec("DELETE FROM cache_records")
	case tags == nil:
		err = exec("DELETE FROM cache_records WHERE provider = ?", provider)
	default:
		for chunk := range slices.Chunk(tags, purgeChunk) {
			args := make([]any, 0, len(chunk)+1)
			args = append(args, provider)
			for _, t := range chunk {
				args = append(args, t)
			}
			if err = exec("DELETE FROM cache_records WHERE provider = ? AND tag IN ("+placeholders(len(chunk))+")", args...); err != nil {
				break
			}
		}
	}
	if err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, wrap(err)
	}
	return n, nil
}

// Scan calls fn for each live record, in (provider, id) order, a page at
// a time (see scanPage). fn may Put and Delete; a record it Puts may or may not be
// visited by the same Scan.
func (s *Store) Scan(ctx context.Context, fn func(cache.Record) error) (err error) {
	defer s.observe("Scan", &err)
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

func (s *Store) scanPage(ctx context.Context, afterProvider, afterID string) ([]cache.Record, error) {
	rows, err := s.reads.QueryContext(ctx, `
		SELECT id, provider, tag, body, expires_at FROM cache_records
		WHERE (provider, id) > (?, ?) AND expires_at > ? ORDER BY provider, id LIMIT ?`,
		afterProvider, afterID, formatTime(s.clock.Now()), scanPage)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var page []cache.Record
	for rows.Next() {
		var r cache.Record
		var expires string
		if err := rows.Scan(&r.ID, &r.Provider, &r.Tag, &r.Body, &expires); err != nil {
			return nil, err
		}
		if r.Expires, err = parseTime(expires); err != nil {
			return nil, err
		}
		page = append(page, r)
	}
	return page, rows.Err()
}

// placeholders is n comma-separated "?".
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
