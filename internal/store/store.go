// Package store is intelgate's durable state: SQLite (embedded default) and
// PostgreSQL (replicas), behind one interface pinned by one conformance
// suite (storetest).
//
// Two seams serve the features built on top without leaking a backend into
// their callers:
//
//   - InTx runs several statements in one transaction (the audit hash
//     chain reads the last link and appends the next atomically), in the
//     backend's Dialect;
//   - the job queue's handle: River's driver takes the backend's own handle
//     (riversqlite a *sql.DB, riverpgxv5 a pgx pool), so each backend
//     offers it through a small interface beside Store (SQLHandle for
//     SQLite), found by type assertion after switching on Dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
)

// Store is durable state.
type Store interface {
	// TouchClient records that client was seen now from addr.
	TouchClient(ctx context.Context, client, addr string, at time.Time) error
	// ClientLastSeen returns when and from where client was last seen;
	// ok is false if never.
	ClientLastSeen(ctx context.Context, client string) (at time.Time, addr string, ok bool, err error)
	// RecordKeyFingerprint stores the fingerprint of provider's key keyID
	// and reports whether it differs from the one stored before (rotation).
	// A stored fingerprint among previous is the same secret under another
	// name — fingerprints are keyed, and the data-at-rest key that keys
	// them rotates — so it is replaced without reporting a change.
	RecordKeyFingerprint(ctx context.Context, provider, keyID, fingerprint string, at time.Time, previous ...string) (changed bool, err error)

	// QuotaCounter: calendar quota counters are durable state — a daily
	// quota must not reset because the process restarted — so every store
	// counts them; the embedded governance state (govern/memory) counts in
	// the store. Errors wrap govern.ErrUnavailable.
	govern.QuotaCounter

	// InTx runs fn in one transaction: committed when fn returns nil,
	// rolled back when it returns an error (returned as is) or panics (the
	// panic goes on after the rollback: a panic is a bug, and an error
	// would hide where it happened). Transactions are serialised with
	// each other (SQLite has one writer; PostgreSQL must take a lock or
	// run SERIALIZABLE), so a read-then-write such as appending to a hash
	// chain needs no locking of its own.
	//
	// fn must reach the database through tx only, and not use tx after it
	// returns. A write through the Store with fn's ctx fails with ErrInTx
	// (on SQLite's single writer connection it would wait for fn forever);
	// a read through the Store does not see tx's uncommitted writes.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Dialect is the SQL that InTx's statements are written in.
	Dialect() Dialect

	// ReadTx runs fn in one read-only transaction on a consistent snapshot
	// (SQLite: a deferred transaction on a read connection, which never
	// holds the write lock; PostgreSQL: REPEATABLE READ READ ONLY). Long
	// reads — verifying or exporting the audit log — go here, so they
	// neither block writers nor see a half-appended batch. A write through
	// tx fails.
	ReadTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error

	// Pauses keeps the embedded governance state's pauses durably
	// (govern/memory.PauseLog): key revocations, upstream "slow down"
	// pauses and auth-check claims, so a restart never sends a revoked key
	// again or ignores a pause still running.
	Pauses

	// Sweep deletes at most limit rows of kind that are past their
	// retention as of before, oldest first, and returns how many it
	// deleted; the retention sweeper calls it in small batches until it
	// returns fewer than limit, so no call holds a write lock for long.
	// The audit log is not swept here: its chain needs the anchor kept in
	// the same transaction (internal/audit).
	Sweep(ctx context.Context, kind SweepKind, before time.Time, limit int) (int64, error)

	// Ping checks the store is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Pauses is durable pause state: each key's pause end. A pause that has
// ended reads as absent.
type Pauses interface {
	// SavePause records that key is paused until until, keeping the later
	// of until and an end already stored (pauses extend, never shorten).
	SavePause(ctx context.Context, key string, until time.Time) error
	// DeletePause ends key's pause (a revoked key that passed its
	// re-check); deleting an absent key is not an error.
	DeletePause(ctx context.Context, key string) error
	// LoadPauses returns every pause that ends after now.
	LoadPauses(ctx context.Context, now time.Time) (map[string]time.Time, error)
}

// SweepKind names what Sweep deletes and what before is compared with.
type SweepKind string

// The kinds Sweep knows. Each is bounded by its own retention setting or
// by the data's own expiry.
const (
	// SweepSeen: client last-seen rows whose last_seen is before before
	// (retention.seen).
	SweepSeen SweepKind = "seen"
	// SweepCache: durable cache records that expired before before (the
	// cache's TTLs, capped by retention.cache_max_ttl).
	SweepCache SweepKind = "cache"
	// SweepPauses: pauses that ended before before.
	SweepPauses SweepKind = "pauses"
	// SweepQuota: quota counters whose window ended before before.
	SweepQuota SweepKind = "quota"
	// SweepCachePurges: published purge announcements older than before.
	SweepCachePurges SweepKind = "cache_purges"
)

// SweepKinds lists every SweepKind, in the order the sweeper runs them.
var SweepKinds = []SweepKind{SweepSeen, SweepCache, SweepPauses, SweepQuota, SweepCachePurges}

// ErrUnknownSweepKind is returned by Sweep for a kind it does not know.
var ErrUnknownSweepKind = errors.New("unknown sweep kind")

// Tx is the statements of one InTx transaction, as database/sql has them
// (*sql.Tx implements it). A backend's Tx may be more: SQLite's is a
// *sql.Tx, which River's riversqlite InsertTx takes, so a job can be
// enqueued atomically with the state that asks for it. There is no Commit
// or Rollback here: InTx decides.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var _ Tx = (*sql.Tx)(nil)

// Dialect names a backend's SQL.
type Dialect string

// The dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Placeholder returns the bind parameter for the n-th (1-based) argument:
// "?" in SQLite, "$n" in PostgreSQL.
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// Rebind rewrites a query written with "?" placeholders into the
// dialect's (PostgreSQL's $1, $2, …). Queries shared by both backends are
// written once, with "?", and must not hold a literal "?" of their own.
func (d Dialect) Rebind(query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// TimeLayout is how SQLite stores times: fixed-width UTC text with
// nanoseconds, so that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// TimeOf reads a time column scanned into an any: TEXT in TimeLayout on
// SQLite, a timestamptz on PostgreSQL; NULL (or anything else) is the
// zero time.
func TimeOf(v any) time.Time {
	switch v := v.(type) {
	case time.Time:
		return v.UTC()
	case string:
		t, _ := time.Parse(TimeLayout, v)
		return t
	case []byte:
		t, _ := time.Parse(TimeLayout, string(v))
		return t
	}
	return time.Time{}
}

// TimeArg is t as a bind argument of the dialect: text in TimeLayout for
// SQLite, a time.Time in UTC for PostgreSQL's timestamptz.
func (d Dialect) TimeArg(t time.Time) any {
	if d == Postgres {
		return t.UTC()
	}
	return t.UTC().Format(TimeLayout)
}

// SQLHandle is the River seam of a backend whose River driver runs on a
// database/sql pool: SQLite, for riversqlite.New(h.DB()). The jobs layer
// finds it with a type assertion on a Store whose Dialect is SQLite, so it
// never imports the backend's package.
type SQLHandle interface {
	// DB returns the pool River must use. The store owns it: do not close
	// it or change its settings.
	DB() *sql.DB
}

// ErrInTx is returned by a Store write (and a nested InTx) called with the
// context of a running InTx: the write would not be part of the
// transaction, and on SQLite it would wait forever for the connection the
// transaction holds. Use the Tx instead.
var ErrInTx = errors.New("store write inside a transaction of the same store: use the transaction's Tx")
