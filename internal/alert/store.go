package alert

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/store"
)

// DB is what the alert table needs of the durable store: transactions in
// a known dialect. Both backends keep it (migration 0007), so every
// statement here is written once, with "?" placeholders rebound per
// dialect.
type DB interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
	ReadTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
	Dialect() store.Dialect
}

// Store reads and writes the alerts table.
type Store struct {
	db DB
	d  store.Dialect
}

// NewStore returns the alerts table of db.
func NewStore(db DB) *Store { return &Store{db: db, d: db.Dialect()} }

// write is one alert change the engine persists: the alert as it was
// when collected, and the firings since the last write.
type write struct {
	t      *tracked
	a      Alert
	delta  int64
	reopen bool // state open, even over an acknowledgement
	stored bool // a row was written for it before
	// ifSeen, when set, makes a resolution conditional: the row is
	// resolved only if it was last seen no later (see guardLocked).
	ifSeen time.Time
}

// written is what the table holds after a write: the id (another
// replica's, when it wrote the same live alert first) and the state (an
// acknowledgement made through another replica).
type written struct {
	ID      string
	State   State
	AckedBy string
	AckedAt time.Time
	// Kept: a conditional resolution found the row fired since (or
	// resolved already) and left it alone.
	Kept bool
}

// writeChunk bounds the writes of one transaction, which on PostgreSQL
// holds the store's InTx lock for every replica.
const writeChunk = 200

const alertColumns = "id, rule, severity, dedupe_key, labels, summary, first_seen, last_seen, count, state, acked_by, acked_at, resolved_at"

// apply writes ws, in transactions of at most writeChunk, and returns one
// written per write.
func (s *Store) apply(ctx context.Context, ws []write, now time.Time) ([]written, error) {
	out := make([]written, 0, len(ws))
	for len(ws) > 0 {
		n := min(len(ws), writeChunk)
		chunk := ws[:n]
		ws = ws[n:]
		var res []written
		err := s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			res = res[:0]
			for _, w := range chunk {
				r, err := s.writeOne(ctx, tx, w, now)
				if err != nil {
					return err
				}
				res = append(res, r)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("writing alerts: %w", err)
		}
		out = append(out, res...)
	}
	return out, nil
}

func (s *Store) writeOne(ctx context.Context, tx store.Tx, w write, now time.Time) (written, error) {
	lb, err := json.Marshal(w.a.Labels)
	if err != nil {
		return written{}, fmt.Errorf("encoding labels: %w", err)
	}
	a := w.a
	if a.State == StateResolved && w.stored {
		return s.resolveOne(ctx, tx, w)
	}
	// A live alert: one row per rule and dedupe key while it is not
	// resolved (the partial unique index), whichever replica writes it.
	// A row whose id is ours but was resolved meanwhile (by another
	// replica) must not be hit by the insert: a stored alert inserts
	// under a fresh id.
	id, state, resolvedAt := a.ID, "open", any(nil)
	if w.stored {
		id = newID("alr_")
	}
	if a.State == StateResolved {
		state, resolvedAt = "resolved", s.d.TimeArg(a.ResolvedAt)
	}
	reopen := 0
	if w.reopen {
		reopen = 1
	}
	row := tx.QueryRowContext(ctx, s.d.Rebind(`INSERT INTO alerts (`+alertColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', NULL, ?)
		ON CONFLICT (rule, dedupe_key) WHERE state <> 'resolved' DO UPDATE SET
			severity = excluded.severity, summary = excluded.summary, labels = excluded.labels,
			count = alerts.count + excluded.count,
			last_seen = CASE WHEN alerts.last_seen < excluded.last_seen THEN excluded.last_seen ELSE alerts.last_seen END,
			state = CASE WHEN ? = 1 THEN 'open' ELSE alerts.state END
		RETURNING id, state, acked_by, acked_at`),
		id, a.Rule, string(a.Severity), a.DedupeKey, string(lb), a.Summary, s.d.TimeArg(a.FirstSeen), s.d.TimeArg(a.LastSeen),
		w.delta, state, resolvedAt, reopen)
	var r written
	var ackedAt any
	if err := row.Scan(&r.ID, &r.State, &r.AckedBy, &ackedAt); err != nil {
		return written{}, fmt.Errorf("upserting alert: %w", err)
	}
	r.AckedAt = store.TimeOf(ackedAt)
	return r, nil
}

// resolveOne writes the resolution of a stored alert; with ifSeen, only
// if no replica has fired it since.
func (s *Store) resolveOne(ctx context.Context, tx store.Tx, w write) (written, error) {
	a := w.a
	q := `UPDATE alerts SET state = 'resolved', resolved_at = ?, severity = ?, summary = ?,
			count = count + ?, last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END
			WHERE id = ? AND state <> 'resolved'`
	args := []any{s.d.TimeArg(a.ResolvedAt), string(a.Severity), a.Summary, w.delta, s.d.TimeArg(a.LastSeen),
		s.d.TimeArg(a.LastSeen), a.ID}
	if !w.ifSeen.IsZero() {
		q += " AND last_seen <= ?"
		args = append(args, s.d.TimeArg(w.ifSeen))
	}
	res, err := tx.ExecContext(ctx, s.d.Rebind(q), args...)
	if err != nil {
		return written{}, fmt.Errorf("resolving alert: %w", err)
	}
	out := written{ID: a.ID, State: StateResolved}
	if !w.ifSeen.IsZero() {
		n, err := res.RowsAffected()
		if err != nil {
			return written{}, fmt.Errorf("resolving alert: %w", err)
		}
		out.Kept = n == 0
	}
	return out, nil
}

// live returns at most limit live (open or acknowledged) alerts, the most
// recently seen first, after the alert after (nil: from the newest).
func (s *Store) live(ctx context.Context, after *Alert, limit int) ([]Alert, error) {
	q := "SELECT " + alertColumns + " FROM alerts WHERE state <> 'resolved'"
	var args []any
	if after != nil {
		q += " AND (last_seen < ? OR (last_seen = ? AND id < ?))"
		args = append(args, s.d.TimeArg(after.LastSeen), s.d.TimeArg(after.LastSeen), after.ID)
	}
	q += " ORDER BY last_seen DESC, id DESC LIMIT ?"
	args = append(args, limit)
	var out []Alert
	err := s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, s.d.Rebind(q), args...)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading live alerts: %w", err)
	}
	return out, nil
}

// Filter selects alerts for List. Zero fields select all.
type Filter struct {
	State State
	Rule  string
	// Since keeps alerts last seen at or after it.
	Since time.Time
	// Cursor is a Page's Next, to read the page after it.
	Cursor string
	// Limit is the page size: default 100, at most 1000.
	Limit int
}

// Page is one page of alerts, newest first (by first seen), and the
// cursor of the next ("" on the last page).
type Page struct {
	Alerts []Alert `json:"alerts"`
	Next   string  `json:"next,omitempty"`
}

// Page sizes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// List returns the alerts matching f.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	where, args, err := f.where(s.d)
	if err != nil {
		return Page{}, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var page Page
	err = s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		page = Page{Alerts: []Alert{}}
		rows, err := tx.QueryContext(ctx, s.d.Rebind("SELECT "+alertColumns+" FROM alerts"+where+
			" ORDER BY first_seen DESC, id DESC LIMIT ?"), append(args, limit+1)...)
		if err != nil {
			return fmt.Errorf("reading alerts: %w", err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return err
			}
			if len(page.Alerts) == limit {
				last := page.Alerts[limit-1]
				page.Next = encodeCursor(last.FirstSeen, last.ID)
				break
			}
			page.Alerts = append(page.Alerts, a)
		}
		return rows.Err()
	})
	if err != nil {
		return Page{}, fmt.Errorf("listing alerts: %w", err)
	}
	return page, nil
}

func (f Filter) where(d store.Dialect) (string, []any, error) {
	var conds []string
	var args []any
	switch f.State {
	case "":
	case StateOpen, StateAcknowledged, StateResolved:
		conds, args = append(conds, "state = ?"), append(args, string(f.State))
	default:
		return "", nil, fmt.Errorf("%w: state must be open, acknowledged or resolved", ErrInvalidFilter)
	}
	if f.Rule != "" {
		conds, args = append(conds, "rule = ?"), append(args, f.Rule)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "last_seen >= ?"), append(args, d.TimeArg(f.Since))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, "(first_seen < ? OR (first_seen = ? AND id < ?))")
		args = append(args, d.TimeArg(at), d.TimeArg(at), id)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	bad := fmt.Errorf("%w: malformed cursor", ErrInvalidFilter)
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, id, ok := strings.Cut(string(b), "|")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !strings.HasPrefix(id, "alr_") {
		return time.Time{}, "", bad
	}
	return at, id, nil
}

// Get returns the alert with id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Alert, error) {
	var a Alert
	err := s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		a, err = s.get(ctx, tx, id)
		return err
	})
	return a, err
}

func (s *Store) get(ctx context.Context, tx store.Tx, id string) (Alert, error) {
	rows, err := tx.QueryContext(ctx, s.d.Rebind("SELECT "+alertColumns+" FROM alerts WHERE id = ?"), id)
	if err != nil {
		return Alert{}, fmt.Errorf("reading alert: %w", err)
	}
	defer func() { _ = rows.Close() }()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Alert{}, fmt.Errorf("reading alert: %w", err)
		}
		return Alert{}, ErrNotFound
	}
	return scanAlert(rows)
}

// Ack records that by acknowledged alert id at at. A resolved alert
// keeps its state and records the acknowledgement; an acknowledged one
// takes the new one (and a new quiet period). ErrNotFound if no alert
// has that id.
func (s *Store) Ack(ctx context.Context, id, by string, at time.Time) (Alert, error) {
	if by == "" || len(by) > 128 || strings.ContainsFunc(by, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Alert{}, errors.New("acknowledging alert: by must be 1–128 printable characters")
	}
	var a Alert
	err := s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE alerts SET acked_by = ?, acked_at = ?,
			state = CASE WHEN state = 'resolved' THEN state ELSE 'acknowledged' END WHERE id = ?`), by, s.d.TimeArg(at), id)
		if err != nil {
			return fmt.Errorf("acknowledging alert: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return fmt.Errorf("acknowledging alert: %w", err)
			}
			return ErrNotFound
		}
		a, err = s.get(ctx, tx, id)
		return err
	})
	return a, err
}

// Sweep deletes at most limit resolved or acknowledged alerts last seen
// before before, oldest first, and returns how many went; the retention
// runner calls it in batches (alerts.retention) until it returns fewer
// than limit. Open alerts are never swept.
func (s *Store) Sweep(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, errors.New("sweeping alerts: limit must be positive")
	}
	var n int64
	err := s.db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.Rebind(`DELETE FROM alerts WHERE id IN (SELECT id FROM alerts
			WHERE state IN ('resolved', 'acknowledged') AND last_seen < ? ORDER BY last_seen LIMIT ?)`), s.d.TimeArg(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sweeping alerts: %w", err)
	}
	return n, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanAlert(r scanner) (Alert, error) {
	var a Alert
	var labelsJSON string
	var first, last, acked, resolved any
	if err := r.Scan(&a.ID, &a.Rule, &a.Severity, &a.DedupeKey, &labelsJSON, &a.Summary, &first, &last, &a.Count,
		&a.State, &a.AckedBy, &acked, &resolved); err != nil {
		return Alert{}, fmt.Errorf("reading alert: %w", err)
	}
	if err := json.Unmarshal([]byte(labelsJSON), &a.Labels); err != nil {
		return Alert{}, fmt.Errorf("reading alert %s labels: %w", a.ID, err)
	}
	a.FirstSeen, a.LastSeen, a.AckedAt, a.ResolvedAt = store.TimeOf(first), store.TimeOf(last), store.TimeOf(acked), store.TimeOf(resolved)
	return a, nil
}
