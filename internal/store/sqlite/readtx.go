package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/intelgate/intelgate/internal/store"
)

// ReadTx runs fn in one read-only transaction on a reader connection (see
// store.Store.ReadTx): fn's tx is a *sql.Tx. In WAL mode a read
// transaction is a snapshot that never takes the write lock, so a long
// audit export neither blocks writers nor sees a batch they commit
// halfway through it.
//
// The reader connections are query_only and the transaction is
// read-only, so a write through tx fails. A write through the Store with
// fn's ctx is allowed: it goes to the writer connection, which fn does
// not hold (unlike InTx's).
func (s *Store) ReadTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	defer s.observe("ReadTx", &err)
	tx, err := s.reads.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("beginning read transaction: %w", err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		// Ending the transaction is what gives the connection back to the
		// pool, so it runs when fn panics too; sql.ErrTxDone: the context
		// ended and database/sql already rolled back.
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) && err != nil {
			err = errors.Join(err, fmt.Errorf("ending read transaction: %w", rerr))
		}
	}()
	// A deferred transaction takes its snapshot at its first read, not at
	// BEGIN: read now, so that fn sees the database as it was when ReadTx
	// started, not as it is whenever fn first reads.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return fmt.Errorf("beginning read transaction: taking the snapshot: %w", err)
	}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ending read transaction: %w", err)
	}
	return nil
}
