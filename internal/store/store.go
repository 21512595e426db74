// Package store is intelgate's durable state: SQLite (embedded default) and,
// in a later issue, PostgreSQL, behind one interface pinned by one
// conformance suite (storetest).
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
	RecordKeyFingerprint(ctx context.Context, provider, keyID, fingerprint string, at time.Time) (changed bool, err error)

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

	// Ping checks the store is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

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
