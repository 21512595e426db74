package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/store"
)

// The transaction tests write to a scratch table of their own, created
// through InTx in portable SQL, so they pin the seam without knowing any
// backend's schema.

func txTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"TxCommitIsVisible", testTxCommit},
		{"TxErrorRollsBack", testTxError},
		{"TxPanicRollsBackAndPanics", testTxPanic},
		{"TxSerialisesReadThenWrite", testTxSerialised},
		{"TxStoreWriteInsideFails", testTxStoreWriteInside},
		{"TxCanceledContext", testTxCanceled},
		{"Dialect", testDialect},
	}
}

const scratch = "storetest_scratch"

// txTimeout bounds every transaction test's calls: a backend that never
// gives its connection back (a missed rollback) fails the test rather than
// hanging the run.
const txTimeout = 30 * time.Second

func txContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	t.Cleanup(cancel)
	return ctx
}

func createScratch(t *testing.T, s store.Store) {
	t.Helper()
	require.NoError(t, s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE "+scratch+" (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
		return err
	}))
}

func insert(ctx context.Context, s store.Store, tx store.Tx, k, v string) error {
	p := s.Dialect().Placeholder
	_, err := tx.ExecContext(ctx, "INSERT INTO "+scratch+" (k, v) VALUES ("+p(1)+", "+p(2)+")", k, v)
	return err
}

// read returns k's value in a transaction of its own; ok is false when k
// is absent.
func read(t *testing.T, s store.Store, k string) (v string, ok bool) {
	t.Helper()
	p := s.Dialect().Placeholder
	require.NoError(t, s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT v FROM "+scratch+" WHERE k = "+p(1), k).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	}))
	return v, ok
}

func testTxCommit(t *testing.T, s store.Store) {
	createScratch(t, s)
	require.NoError(t, s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		if err := insert(ctx, s, tx, "a", "1"); err != nil {
			return err
		}
		if err := insert(ctx, s, tx, "b", "2"); err != nil {
			return err
		}
		// The transaction sees its own writes before commit.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+scratch).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return fmt.Errorf("the transaction sees %d of its 2 rows", n)
		}
		rows, err := tx.QueryContext(ctx, "SELECT k FROM "+scratch+" ORDER BY k")
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			keys = append(keys, k)
		}
		if fmt.Sprint(keys) != "[a b]" {
			return fmt.Errorf("QueryContext read %v", keys)
		}
		return rows.Err()
	}))
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		v, ok := read(t, s, k)
		require.True(t, ok, "%s committed", k)
		require.Equal(t, want, v)
	}
}

func testTxError(t *testing.T, s store.Store) {
	createScratch(t, s)
	errStop := errors.New("stop")
	err := s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		if err := insert(ctx, s, tx, "a", "1"); err != nil {
			return err
		}
		return errStop
	})
	require.ErrorIs(t, err, errStop, "fn's error comes back")
	_, ok := read(t, s, "a")
	require.False(t, ok, "an error rolls the whole transaction back")

	// A failing statement is an error like any other.
	err = s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		if err := insert(ctx, s, tx, "b", "1"); err != nil {
			return err
		}
		return insert(ctx, s, tx, "b", "2") // duplicate key
	})
	require.Error(t, err)
	_, ok = read(t, s, "b")
	require.False(t, ok)
}

// testTxPanic: a panic in fn rolls back and goes on; the store (whose
// SQLite writer is one connection) is usable afterwards.
func testTxPanic(t *testing.T, s store.Store) {
	createScratch(t, s)
	require.PanicsWithValue(t, "boom", func() {
		_ = s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
			if err := insert(ctx, s, tx, "a", "1"); err != nil {
				return err
			}
			panic("boom")
		})
	})
	_, ok := read(t, s, "a")
	require.False(t, ok, "the panic rolled the transaction back")

	require.NoError(t, s.TouchClient(txContext(t), "siem", "10.0.0.1", base), "the connection was given back")
}

// testTxSerialised: concurrent read-then-write transactions lose no
// update, the guarantee a hash chain's append relies on.
func testTxSerialised(t *testing.T, s store.Store) {
	createScratch(t, s)
	p := s.Dialect().Placeholder
	require.NoError(t, s.InTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		return insert(ctx, s, tx, "n", "0")
	}))
	const goroutines, each = 8, 10
	ctx := txContext(t)
	errs := make(chan error, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				errs <- s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					var v string
					if err := tx.QueryRowContext(ctx, "SELECT v FROM "+scratch+" WHERE k = "+p(1), "n").Scan(&v); err != nil {
						return err
					}
					var n int
					if _, err := fmt.Sscan(v, &n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, "UPDATE "+scratch+" SET v = "+p(1)+" WHERE k = "+p(2), fmt.Sprint(n+1), "n")
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	v, ok := read(t, s, "n")
	require.True(t, ok)
	require.Equal(t, fmt.Sprint(goroutines*each), v, "no increment lost")
}

// testTxStoreWriteInside: the Store's writes refuse fn's context instead
// of waiting for the transaction's connection (or silently writing
// outside the transaction); reads work.
func testTxStoreWriteInside(t *testing.T, s store.Store) {
	createScratch(t, s)
	ctx := txContext(t)
	w := []govern.Window{{Key: "storetest:tx", Limit: 5, Expires: time.Now().Add(time.Hour)}}
	var touched, fingerprint, consumed, refunded, nested, readErr error
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		touched = s.TouchClient(ctx, "siem", "10.0.0.1", base)
		_, fingerprint = s.RecordKeyFingerprint(ctx, "p", "k", "fp", base)
		_, _, consumed = s.Consume(ctx, w)
		refunded = s.Refund(ctx, w)
		nested = s.InTx(ctx, func(context.Context, store.Tx) error { return nil })
		_, _, _, readErr = s.ClientLastSeen(ctx, "siem")
		return insert(ctx, s, tx, "a", "1")
	})
	require.NoError(t, err)
	for name, err := range map[string]error{"TouchClient": touched, "RecordKeyFingerprint": fingerprint,
		"Consume": consumed, "Refund": refunded, "InTx": nested} {
		require.ErrorIs(t, err, store.ErrInTx, name)
	}
	require.ErrorIs(t, consumed, govern.ErrUnavailable, "quota errors keep their contract")
	require.NoError(t, readErr, "reads through the store are fine")
	_, ok := read(t, s, "a")
	require.True(t, ok, "the refusals did not spoil the transaction")
	_, _, ok, err = s.ClientLastSeen(txContext(t), "siem")
	require.NoError(t, err)
	require.False(t, ok, "the refused touch wrote nothing")

	// Outside fn, the same context's parent writes as usual.
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.1", base))
}

func testTxCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := s.InTx(ctx, func(context.Context, store.Tx) error {
		called = true
		return nil
	})
	require.Error(t, err)
	require.False(t, called, "fn does not run without a transaction")
}

func testDialect(t *testing.T, s store.Store) {
	require.Contains(t, []store.Dialect{store.SQLite, store.Postgres}, s.Dialect())
}
