package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/intelgate/intelgate/internal/store"
)

// txKey marks a context as inside an InTx of the store it holds.
type txKey struct{}

func inTx(ctx context.Context, s *Store) bool {
	owner, _ := ctx.Value(txKey{}).(*Store)
	return owner == s
}

// InTx runs fn in one READ COMMITTED transaction that first takes this
// schema's InTx advisory lock (pg_advisory_xact_lock, released at commit
// or rollback), so InTx transactions run one at a time across every
// replica, as store.Store.InTx promises: a read-then-write in fn needs no
// locking of its own and never fails with a serialisation error.
//
// Why a lock and READ COMMITTED rather than SERIALIZABLE: SERIALIZABLE
// would make concurrent transactions fail (SQLSTATE 40001) and need
// retrying, and fn, which may have done other work, cannot be replayed
// safely. Under READ COMMITTED every statement takes a fresh snapshot,
// and the lock is taken by a statement of its own before fn runs, so
// fn's first read already sees everything the previous holder committed
// (PostgreSQL makes a commit visible before it releases the committing
// transaction's locks). The audit log also locks its head row (SELECT …
// FOR UPDATE), which keeps its chain whole even against a writer that
// does not go through InTx; under the lock that costs nothing.
//
// The cost is that InTx transactions do not run in parallel, so fn must
// be short: the whole transaction is bounded by OpTimeout unless ctx has
// its own deadline. Store writes do not take the lock.
//
// fn's tx is a *sql.Tx (stdlib over the store's pool). A Store write with
// fn's ctx fails with store.ErrInTx, as on SQLite, so that code written
// against either backend keeps its writes inside tx.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	defer s.observe("InTx", ctx, &err)
	if inTx(ctx, s) {
		return fmt.Errorf("beginning transaction: %w", store.ErrInTx)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return s.runTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, schemaLock(lockInTx),
		func(ctx context.Context, tx *sql.Tx) error { return fn(context.WithValue(ctx, txKey{}, s), tx) })
}

// ReadTx runs fn in one REPEATABLE READ, READ ONLY transaction (see
// store.Store.ReadTx): every statement of fn reads one snapshot, no lock
// is taken, and a write through tx fails. PostgreSQL would take the
// snapshot at fn's first statement; a statement of ReadTx's own takes it
// before fn runs, so fn sees the database as it was when ReadTx began. A
// Store write with fn's ctx is allowed (it runs on another connection).
//
// A long read (an audit export) must pass a ctx with its own deadline:
// without one, the transaction is bounded by OpTimeout.
func (s *Store) ReadTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	defer s.observe("ReadTx", ctx, &err)
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	return s.runTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, "SELECT 1",
		func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, tx) })
}

// runTx begins a transaction with opts, runs first (when not empty), then
// fn, and commits when fn returns nil. An error from fn is returned as
// is, after the rollback; a panic goes on after the rollback, which runs
// in any case because it is what gives the connection back to the pool.
func (s *Store) runTx(ctx context.Context, opts *sql.TxOptions, first string, fn func(context.Context, *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		// sql.ErrTxDone: the context ended and database/sql already
		// rolled back.
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) && err != nil {
			err = errors.Join(err, fmt.Errorf("rolling back transaction: %w", rerr))
		}
	}()
	if first != "" {
		if _, err := tx.ExecContext(ctx, first); err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
	}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	done = true // a failed Commit has ended the transaction too
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}
