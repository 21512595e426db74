package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/store"
)

// DB is what the audit log needs of the durable store: transactions in a
// known SQL dialect. Both backends keep the audit tables (SQLite
// migration 0005, PostgreSQL's equivalent), so the statements here are
// written once, with "?" placeholders rebound per dialect.
type DB interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
	ReadTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
	Dialect() store.Dialect
}

// Store reads and appends the audit tables of a DB.
type Store struct {
	db   DB
	d    store.Dialect
	keys Keys
}

// NewStore returns the audit tables of db; keys MAC its checkpoints and
// protect its indicators.
func NewStore(db DB, keys Keys) *Store { return &Store{db: db, d: db.Dialect(), keys: keys} }

// Head is the chain's state: the last record appended and its hash, and
// the first record kept with the hash it chains from (retention moves the
// anchor forward as it deletes the oldest records).
type Head struct {
	Seq        int64
	Hash       string
	AnchorSeq  int64
	AnchorPrev string
	// MAC authenticates the four (headMAC); "" only before the first
	// append.
	MAC string
}

// Row is one stored record as it is on disk: the indexed columns, the
// canonical encoding and the stored hash. Verify compares them.
type Row struct {
	Seq              int64
	At               time.Time
	Kind             string
	Client, Provider string
	Record           []byte
	Hash             string
}

// insertChunk bounds the rows of one INSERT, far below either engine's
// limit on bind parameters (7 per row).
const insertChunk = 128

// readHead reads the head row, locking it for the rest of tx on
// PostgreSQL (SELECT … FOR UPDATE): replicas appending at once take turns
// on this one row, so each reads the hash the last one wrote. SQLite's
// transactions are already serialised by its single writer.
func (s *Store) readHead(ctx context.Context, tx store.Tx, lock bool) (Head, error) {
	q := "SELECT seq, hash, anchor_seq, anchor_prev, mac FROM audit_head WHERE id = 1"
	if lock && s.d == store.Postgres {
		q += " FOR UPDATE"
	}
	var h Head
	if err := tx.QueryRowContext(ctx, q).Scan(&h.Seq, &h.Hash, &h.AnchorSeq, &h.AnchorPrev, &h.MAC); err != nil {
		return Head{}, fmt.Errorf("reading audit head: %w", err)
	}
	return h, nil
}

// Append links recs after the chain's head and stores them in one
// transaction, setting each one's Seq, Prev and Hash. On error nothing is
// stored and recs' chain fields are to be ignored (the next Append sets
// them again).
func (s *Store) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		h, err := s.lockHead(ctx, tx)
		if err != nil {
			return err
		}
		seq, prev := h.Seq, h.Hash
		rows := make([][]any, 0, len(recs))
		for i := range recs {
			seq++
			if recs[i].Kind == KindCheckpoint {
				recs[i].MAC = checkpointMAC(s.keys, seq, prev)
			}
			b, err := link(&recs[i], seq, prev)
			if err != nil {
				return err
			}
			prev = recs[i].Hash
			r := &recs[i]
			rows = append(rows, []any{r.Seq, s.d.TimeArg(r.Time), string(r.Kind), r.Client, r.Provider, string(b), r.Hash})
		}
		for chunk := range chunks(rows, insertChunk) {
			q := "INSERT INTO audit_records (seq, at, kind, client, provider, record, hash) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", len(chunk)), ", ")
			args := make([]any, 0, 7*len(chunk))
			for _, r := range chunk {
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, s.d.Rebind(q), args...); err != nil {
				return fmt.Errorf("inserting audit records: %w", err)
			}
		}
		h.Seq, h.Hash = seq, prev
		return s.writeHead(ctx, tx, h)
	})
}

// ErrHeadUnverified: the head does not carry a valid MAC under a key the
// keyring holds, so nothing is appended or swept. Writing on would sign
// whatever an intruder left there (a tail cut off, a chain rewritten).
var ErrHeadUnverified = errors.New("the audit log's head does not verify (run intelgate audit verify); refusing to write")

// lockHead locks and reads the head for a writer, and refuses a head that
// is neither the fresh one nor MAC'd under a key the keyring holds.
func (s *Store) lockHead(ctx context.Context, tx store.Tx) (Head, error) {
	h, err := s.readHead(ctx, tx, true)
	if err != nil {
		return Head{}, err
	}
	if h.fresh() {
		return h, nil
	}
	if ok, known := checkMAC(s.keys, headMessage(h), h.MAC); !ok {
		if !known {
			return Head{}, fmt.Errorf("%w: its MAC names a key not in encryption.keys", ErrHeadUnverified)
		}
		return Head{}, ErrHeadUnverified
	}
	return h, nil
}

// RekeyHead re-MACs the head under the writer key, after checking it
// under whichever listed key made it: `intelgate cache rekey` moves
// everything to the first key, so the older one can go.
func (s *Store) RekeyHead(ctx context.Context) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		h, err := s.lockHead(ctx, tx)
		if err != nil || h.fresh() {
			return err
		}
		return s.writeHead(ctx, tx, h)
	})
}

// fresh reports whether h is the head the migration wrote: nothing ever
// appended.
func (h Head) fresh() bool {
	return h.Seq == 0 && h.Hash == GenesisHash && h.AnchorSeq == 1 && h.AnchorPrev == GenesisHash && h.MAC == ""
}

// writeHead stores h with a fresh MAC under the writer key.
func (s *Store) writeHead(ctx context.Context, tx store.Tx, h Head) error {
	h.MAC = mac(s.keys, headMessage(h))
	if _, err := tx.ExecContext(ctx, s.d.Rebind("UPDATE audit_head SET seq = ?, hash = ?, anchor_seq = ?, anchor_prev = ?, mac = ? WHERE id = 1"),
		h.Seq, h.Hash, h.AnchorSeq, h.AnchorPrev, h.MAC); err != nil {
		return fmt.Errorf("updating audit head: %w", err)
	}
	return nil
}

func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			m := min(n, len(s))
			if !yield(s[:m]) {
				return
			}
			s = s[m:]
		}
	}
}

// Has reports whether the record at seq is stored with hash: how the
// writer learns whether an append whose commit failed was committed.
//
// It takes the head's lock first, as appenders do: a commit still in
// progress holds that lock, so Has waits for it and then sees it, rather
// than reading a snapshot from before it and having the batch written
// twice.
func (s *Store) Has(ctx context.Context, seq int64, hash string) (bool, error) {
	var found bool
	err := s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := s.readHead(ctx, tx, true); err != nil {
			return err
		}
		var n int
		err := tx.QueryRowContext(ctx, s.d.Rebind("SELECT count(*) FROM audit_records WHERE seq = ? AND hash = ?"), seq, hash).Scan(&n)
		found = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("reading audit records: %w", err)
	}
	return found, nil
}

// Head reads the chain's head.
func (s *Store) Head(ctx context.Context) (Head, error) {
	var h Head
	err := s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		h, err = s.readHead(ctx, tx, false)
		return err
	})
	return h, err
}

// Scan calls fn with the head and then every stored row in sequence
// order, all read from one snapshot, so a verification never sees a
// half-appended batch. fn's error stops the scan and is returned.
func (s *Store) Scan(ctx context.Context, fn func(h Head, rows func(func(Row) error) error) error) error {
	return s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		h, err := s.readHead(ctx, tx, false)
		if err != nil {
			return err
		}
		return fn(h, func(each func(Row) error) error {
			rows, err := tx.QueryContext(ctx, "SELECT seq, at, kind, client, provider, record, hash FROM audit_records ORDER BY seq")
			if err != nil {
				return fmt.Errorf("reading audit records: %w", err)
			}
			defer func() { _ = rows.Close() }()
			for rows.Next() {
				var r Row
				var rec string
				var at any
				if err := rows.Scan(&r.Seq, &at, &r.Kind, &r.Client, &r.Provider, &rec, &r.Hash); err != nil {
					return fmt.Errorf("reading audit records: %w", err)
				}
				r.At = timeOf(at)
				r.Record = []byte(rec)
				if err := each(r); err != nil {
					return err
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("reading audit records: %w", err)
			}
			return nil
		})
	})
}

// Filter selects records for Page and Export. Zero fields select all.
type Filter struct {
	Since, Until time.Time // Since ≤ time < Until
	Client       string
	Provider     string
	After        int64 // only records with a larger seq (a page cursor)
	// Indicator, when set, keeps only records whose indicator_hmac is
	// one of these (IndicatorHMACs of the indicator searched for).
	Indicator []string
}

// Page returns up to limit records matching f in sequence order, with
// their hashes, and the seq to pass as f.After for the next page (0 when
// this page is the last).
func (s *Store) Page(ctx context.Context, f Filter, limit int) ([]Record, int64, error) {
	if limit <= 0 {
		return nil, 0, errors.New("reading audit records: limit must be positive")
	}
	var out []Record
	var next int64
	err := s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		out, next = nil, 0
		var lastRead int64
		where, args := f.where(s.d)
		rows, err := tx.QueryContext(ctx, s.d.Rebind("SELECT seq, record, hash FROM audit_records"+where+" ORDER BY seq LIMIT ?"),
			append(args, limit+1)...)
		if err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
		defer func() { _ = rows.Close() }()
		read := 0
		for rows.Next() {
			var seq int64
			var rec, hash string
			if err := rows.Scan(&seq, &rec, &hash); err != nil {
				return fmt.Errorf("reading audit records: %w", err)
			}
			if read++; read > limit {
				next = lastRead // a row beyond the page exists
				break
			}
			lastRead = seq
			r, err := decode([]byte(rec))
			if err != nil {
				// Shown, not hidden and not fatal: one bad row must not
				// take the rest of the log away from its readers.
				r = Record{Seq: seq, Kind: KindCorrupt, Detail: "the stored record is not a valid audit record; run intelgate audit verify"}
			} else if !f.matches(r) {
				continue // its indexed columns lie: verify reports it
			}
			r.Hash = hash
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
		// A row the record's own fields disagree with is skipped above,
		// so a page may hold fewer records than it read; the cursor
		// follows what was read.
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

// matches is the filter on a record's own (hashed) fields: the indexed
// columns select, this confirms, so an edited column cannot put a record
// into or out of a time range unnoticed by Verify.
func (f Filter) matches(r Record) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until),
		f.Client != "" && r.Client != f.Client,
		f.Provider != "" && r.Provider != f.Provider,
		len(f.Indicator) > 0 && !slices.Contains(f.Indicator, r.IndicatorHMAC):
		return false
	}
	return true
}

func (f Filter) where(d store.Dialect) (string, []any) {
	var conds []string
	var args []any
	if f.After > 0 {
		conds, args = append(conds, "seq > ?"), append(args, f.After)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, d.TimeArg(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, d.TimeArg(f.Until))
	}
	if f.Client != "" {
		conds, args = append(conds, "client = ?"), append(args, f.Client)
	}
	if f.Provider != "" {
		conds, args = append(conds, "provider = ?"), append(args, f.Provider)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Sweep deletes, in one short transaction, up to limit of the oldest
// records whose time is before before, and moves the anchor to the first
// record kept, so the rest still verifies. Only a prefix of the chain is
// ever deleted: a record older than before that follows a younger one
// (replicas' clocks differ a little) waits until the younger one is due.
// What is due is decided by each record's own hashed time, not by its
// indexed column, and the prefix is checked link by link first: a record
// edited, backdated or forged is never swept away, and the sweep fails
// with the Problem instead, keeping the evidence. It returns how many
// records went and the new anchor.
func (s *Store) Sweep(ctx context.Context, before time.Time, limit int) (deleted int64, anchor int64, err error) {
	if limit <= 0 {
		return 0, 0, errors.New("sweeping audit records: limit must be positive")
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		h, err := s.lockHead(ctx, tx)
		if err != nil {
			return err
		}
		anchor = h.AnchorSeq
		last, lastHash, err := s.duePrefix(ctx, tx, h, before, limit)
		if err != nil || last == 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, s.d.Rebind("DELETE FROM audit_records WHERE seq >= ? AND seq <= ?"), h.AnchorSeq, last)
		if err != nil {
			return fmt.Errorf("deleting audit records: %w", err)
		}
		if deleted, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting audit records: %w", err)
		}
		anchor = last + 1
		h.AnchorSeq, h.AnchorPrev = anchor, lastHash
		return s.writeHead(ctx, tx, h)
	})
	if err != nil {
		return 0, 0, err
	}
	return deleted, anchor, nil
}

// duePrefix reads up to limit records from the anchor on and returns the
// last of the longest due prefix (0 if none), having checked each link.
func (s *Store) duePrefix(ctx context.Context, tx store.Tx, h Head, before time.Time, limit int) (last int64, lastHash string, err error) {
	rows, err := tx.QueryContext(ctx, s.d.Rebind("SELECT seq, record, hash FROM audit_records WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?"),
		h.AnchorSeq, h.Seq, limit)
	if err != nil {
		return 0, "", fmt.Errorf("reading audit records to sweep: %w", err)
	}
	defer func() { _ = rows.Close() }()
	expSeq, expPrev := h.AnchorSeq, h.AnchorPrev
	for rows.Next() {
		var seq int64
		var rec, hash string
		if err := rows.Scan(&seq, &rec, &hash); err != nil {
			return 0, "", fmt.Errorf("reading audit records to sweep: %w", err)
		}
		r, derr := decode([]byte(rec))
		if derr != nil || seq != expSeq || r.Seq != seq || r.Prev != expPrev || HashOf([]byte(rec)) != hash {
			return 0, "", fmt.Errorf("not sweeping: the audit chain is broken at record %d (run intelgate audit verify)", expSeq)
		}
		if !r.Time.Before(before) {
			break
		}
		last, lastHash = seq, hash
		expSeq, expPrev = seq+1, hash
	}
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("reading audit records to sweep: %w", err)
	}
	return last, lastHash, nil
}

// timeOf reads an at column: TEXT in store.TimeLayout on SQLite, a
// timestamptz on PostgreSQL. Anything else is the zero time, which no
// record's own time matches.
func timeOf(v any) time.Time {
	switch v := v.(type) {
	case time.Time:
		return v.UTC()
	case string:
		t, _ := time.Parse(store.TimeLayout, v)
		return t
	case []byte:
		t, _ := time.Parse(store.TimeLayout, string(v))
		return t
	}
	return time.Time{}
}
