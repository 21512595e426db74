package sqlite

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

// InTx runs fn in one IMMEDIATE transaction on the writer connection (see
// store.Store.InTx): fn's tx is a *sql.Tx. The rollback after an error or
// a panic is what gives the single writer connection back, so it runs
// even when fn panics; its own failure is joined to fn's error.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	defer s.observe("InTx", &err)
	if inTx(ctx, s) {
		return fmt.Errorf("beginning transaction: %w", store.ErrInTx)
	}
	tx, err := s.writes.BeginTx(ctx, nil)
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
	if err := fn(context.WithValue(ctx, txKey{}, s), tx); err != nil {
		return err
	}
	done = true // a failed Commit has released the transaction too
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}
