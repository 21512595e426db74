package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/store"
)

// The durable-records cases: ReadTx, Pauses and Sweep. They reach rows
// through the Store's own methods (and the scratch table of tx.go for
// ReadTx), never through a backend's schema.

func durableTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ReadTxIsASnapshotFromItsStart", testReadTxSnapshot},
		{"ReadTxRefusesWrites", testReadTxWrite},
		{"ReadTxReturnsFnErrorAsIs", testReadTxError},
		{"ReadTxPanicEndsTxAndPanics", testReadTxPanic},
		{"ReadTxCanceledContext", testReadTxCanceled},
		{"PauseSaveAndLoad", testPauseSaveLoad},
		{"PauseExtendsNeverShortens", testPauseExtend},
		{"PauseDelete", testPauseDelete},
		{"PauseEndedNotLoaded", testPauseEnded},
		{"PauseConcurrentSavesKeepTheLatest", testPauseConcurrent},
		{"PauseEmptyKey", testPauseEmptyKey},
		{"SweepSeen", sweepCase(store.SweepSeen)},
		{"SweepCache", sweepCase(store.SweepCache)},
		{"SweepPauses", sweepCase(store.SweepPauses)},
		{"SweepQuota", sweepCase(store.SweepQuota)},
		{"SweepCachePurges", testSweepPurges},
		{"SweepEveryKindOnEmptyStore", testSweepEmpty},
		{"SweepKindsAreSeparate", testSweepSeparate},
		{"SweepUnknownKind", testSweepUnknown},
		{"SweepLimitMustBePositive", testSweepLimit},
		{"DurableWritesInsideTxFail", testDurableInsideTx},
		{"DurableCanceledContext", testDurableCanceled},
	}
}

// scratchKeys lists the scratch table's keys as tx sees them.
func scratchKeys(ctx context.Context, tx store.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT k FROM "+scratch+" ORDER BY k")
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// testReadTxSnapshot: a write committed after ReadTx began — by a writer
// that ReadTx must not block — is not seen inside it, even by fn's first
// read: the snapshot is taken before fn runs, not at fn's first query
// (which is when SQLite's deferred BEGIN and PostgreSQL's REPEATABLE READ
// would take it on their own).
func testReadTxSnapshot(t *testing.T, s store.Store) {
	createScratch(t, s)
	ctx := txContext(t)
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return insert(ctx, s, tx, "before", "1")
	}))
	var inside []string
	err := s.ReadTx(ctx, func(rctx context.Context, tx store.Tx) error {
		if err := s.InTx(ctx, func(ctx context.Context, wtx store.Tx) error {
			return insert(ctx, s, wtx, "after", "2")
		}); err != nil {
			return fmt.Errorf("writing while ReadTx runs: %w", err)
		}
		var err error
		inside, err = scratchKeys(rctx, tx)
		return err
	})
	require.NoError(t, err)
	require.Equal(t, []string{"before"}, inside, "the write committed after ReadTx began is outside its snapshot")
	_, ok := read(t, s, "after")
	require.True(t, ok, "the write committed")
}

func testReadTxWrite(t *testing.T, s store.Store) {
	createScratch(t, s)
	var writeErr error
	err := s.ReadTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		writeErr = insert(ctx, s, tx, "a", "1")
		return writeErr
	})
	require.Error(t, writeErr, "a write through a read-only transaction fails")
	require.Error(t, err)
	_, ok := read(t, s, "a")
	require.False(t, ok, "nothing was written")
}

func testReadTxError(t *testing.T, s store.Store) {
	errStop := errors.New("stop")
	err := s.ReadTx(txContext(t), func(ctx context.Context, tx store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
			return err
		}
		return errStop
	})
	require.Equal(t, errStop, err, "fn's error comes back as is, not wrapped")
}

// readTxPanics is how many panicking ReadTx calls testReadTxPanic makes:
// more than any backend's reader pool on a CI machine, so a transaction
// left open by a panic exhausts the pool and the next ReadTx times out.
const readTxPanics = 64

// testReadTxPanic: a panic in fn ends the transaction, giving its
// connection back, and goes on.
func testReadTxPanic(t *testing.T, s store.Store) {
	createScratch(t, s)
	ctx := txContext(t)
	for range readTxPanics {
		require.PanicsWithValue(t, "boom", func() {
			_ = s.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
				if _, err := scratchKeys(ctx, tx); err != nil {
					return err
				}
				panic("boom")
			})
		})
	}
	var keys []string
	require.NoError(t, s.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		keys, err = scratchKeys(ctx, tx)
		return err
	}), "every connection was given back")
	require.Empty(t, keys)
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.1", base))
}

func testReadTxCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := s.ReadTx(ctx, func(context.Context, store.Tx) error {
		called = true
		return nil
	})
	require.Error(t, err)
	require.False(t, called, "fn does not run without a transaction")
}

// requirePauses checks that LoadPauses(now) is exactly want, to the
// millisecond.
func requirePauses(t *testing.T, s store.Store, now time.Time, want map[string]time.Time) {
	t.Helper()
	got, err := s.LoadPauses(txContext(t), now)
	require.NoError(t, err)
	require.Len(t, got, len(want), "got %v", got)
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "pause %q is loaded", k)
		requireSameMillis(t, w, g)
	}
}

func testPauseSaveLoad(t *testing.T, s store.Store) {
	ctx := txContext(t)
	requirePauses(t, s, base, map[string]time.Time{})
	hour, day := base.Add(time.Hour), base.Add(24*time.Hour)
	require.NoError(t, s.SavePause(ctx, "p:se:k1", hour))
	require.NoError(t, s.SavePause(ctx, "x:se:k2:0123456789abcdef", day))
	requirePauses(t, s, base, map[string]time.Time{"p:se:k1": hour, "x:se:k2:0123456789abcdef": day})
}

func testPauseExtend(t *testing.T, s store.Store) {
	ctx := txContext(t)
	one, two, three := base.Add(time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour)
	steps := []struct {
		save, want time.Time
	}{
		{two, two},
		{one, two}, // shorter: kept
		{three, three},
		{time.Time{}, three},
		{base.Add(-time.Hour), three},
	}
	for i, st := range steps {
		require.NoError(t, s.SavePause(ctx, "k", st.save), "step %d", i)
		requirePauses(t, s, base, map[string]time.Time{"k": st.want})
	}
}

func testPauseDelete(t *testing.T, s store.Store) {
	ctx := txContext(t)
	hour := base.Add(time.Hour)
	require.NoError(t, s.SavePause(ctx, "a", hour))
	require.NoError(t, s.SavePause(ctx, "b", hour))
	require.NoError(t, s.DeletePause(ctx, "a"))
	requirePauses(t, s, base, map[string]time.Time{"b": hour})
	require.NoError(t, s.DeletePause(ctx, "a"), "deleting an absent pause is not an error")
	require.NoError(t, s.DeletePause(ctx, "never"))
	requirePauses(t, s, base, map[string]time.Time{"b": hour})

	// A deleted pause starts afresh: an earlier end is not kept from it.
	require.NoError(t, s.SavePause(ctx, "a", base.Add(time.Minute)))
	requirePauses(t, s, base, map[string]time.Time{"a": base.Add(time.Minute), "b": hour})
}

// testPauseEnded: LoadPauses returns the pauses that end after now; one
// that ends at now has ended.
func testPauseEnded(t *testing.T, s store.Store) {
	ctx := txContext(t)
	now := base.Truncate(time.Millisecond) // stored exactly by every backend
	ends := map[string]time.Time{
		"ended":     now.Add(-time.Minute),
		"ends-now":  now,
		"running":   now.Add(time.Millisecond),
		"long":      now.Add(30 * 24 * time.Hour),
		"zero-time": {},
	}
	for k, until := range ends {
		require.NoError(t, s.SavePause(ctx, k, until))
	}
	requirePauses(t, s, now, map[string]time.Time{"running": ends["running"], "long": ends["long"]})
	requirePauses(t, s, now.Add(-2*time.Minute), map[string]time.Time{
		"ended": ends["ended"], "ends-now": now, "running": ends["running"], "long": ends["long"]})
}

// testPauseConcurrent: racing saves of one key end on the latest end,
// whatever order they commit in (govern/memory writes outside its lock
// and relies on it).
func testPauseConcurrent(t *testing.T, s store.Store) {
	ctx := txContext(t)
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			// Ends in an order unrelated to the goroutines' start order.
			errs <- s.SavePause(ctx, "k", base.Add(time.Duration((g*7)%n+1)*time.Minute))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	requirePauses(t, s, base, map[string]time.Time{"k": base.Add(n * time.Minute)})
}

func testPauseEmptyKey(t *testing.T, s store.Store) {
	ctx := txContext(t)
	require.Error(t, s.SavePause(ctx, "", base.Add(time.Hour)))
	require.Error(t, s.DeletePause(ctx, ""))
	requirePauses(t, s, base, map[string]time.Time{})
}

// A sweeper is one kind's rows as the suite seeds and finds them: row i
// has time at (last seen, end, expiry).
type sweeper struct {
	seed    func(t *testing.T, s store.Store, i int, at time.Time)
	present func(t *testing.T, s store.Store, i int) bool
}

func sweepName(i int) string { return fmt.Sprintf("storetest-sweep-%d", i) }

// records is s's cache.Records, or skips the test: a backend without a
// durable cache tier has nothing to sweep there.
func records(t *testing.T, s store.Store) cache.Records {
	t.Helper()
	r, ok := s.(cache.Records)
	if !ok {
		t.Skip("the store does not implement cache.Records")
	}
	return r
}

var sweepers = map[store.SweepKind]sweeper{
	store.SweepSeen: {
		seed: func(t *testing.T, s store.Store, i int, at time.Time) {
			require.NoError(t, s.TouchClient(txContext(t), sweepName(i), "10.0.0.1", at))
		},
		present: func(t *testing.T, s store.Store, i int) bool {
			_, _, ok, err := s.ClientLastSeen(txContext(t), sweepName(i))
			require.NoError(t, err)
			return ok
		},
	},
	store.SweepPauses: {
		seed: func(t *testing.T, s store.Store, i int, at time.Time) {
			require.NoError(t, s.SavePause(txContext(t), sweepName(i), at))
		},
		present: func(t *testing.T, s store.Store, i int) bool {
			all, err := s.LoadPauses(txContext(t), time.Time{})
			require.NoError(t, err)
			_, ok := all[sweepName(i)]
			return ok
		},
	},
	store.SweepQuota: {
		seed: func(t *testing.T, s store.Store, i int, at time.Time) {
			ok, _, err := s.Consume(txContext(t), []govern.Window{{Key: sweepName(i), Limit: 5, Expires: at}})
			require.NoError(t, err)
			require.True(t, ok)
		},
		present: func(t *testing.T, s store.Store, i int) bool {
			used, err := s.Used(txContext(t), []govern.Window{{Key: sweepName(i), Limit: 5}})
			require.NoError(t, err)
			return used[0] == 1
		},
	},
	store.SweepCache: {
		seed: func(t *testing.T, s store.Store, i int, at time.Time) {
			r := cache.Record{Ref: cache.Ref{ID: sweepName(i), Tag: "tag"}, Provider: "p", Body: []byte("sealed"), Expires: at}
			require.NoError(t, records(t, s).Put(txContext(t), r))
		},
		present: func(t *testing.T, s store.Store, i int) bool {
			_, ok, err := records(t, s).Get(txContext(t), "p", []cache.Ref{{ID: sweepName(i), Tag: "tag"}})
			require.NoError(t, err)
			return ok
		},
	},
}

// sweepCase seeds five rows of kind an hour apart, in an order unrelated
// to their times, and sweeps those before the fourth's time in batches of
// two: the oldest two go first, then the third; the fourth (exactly at
// the cut) and the fifth stay. The times are in the future, since a quota
// window or cache record already expired on the store's clock is not
// stored at all; the suite assumes that clock is near the wall clock.
func sweepCase(kind store.SweepKind) func(t *testing.T, s store.Store) {
	return func(t *testing.T, s store.Store) {
		sw := sweepers[kind]
		start := time.Now().Add(time.Hour).Truncate(time.Second)
		at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Hour) }
		for _, i := range []int{3, 0, 4, 2, 1} {
			sw.seed(t, s, i, at(i))
		}
		ctx := txContext(t)
		steps := []struct {
			deleted int64
			present []bool // rows 0..4 after the call
		}{
			{2, []bool{false, false, true, true, true}},
			{1, []bool{false, false, false, true, true}},
			{0, []bool{false, false, false, true, true}},
		}
		for n, st := range steps {
			got, err := s.Sweep(ctx, kind, at(3), 2)
			require.NoError(t, err)
			require.Equal(t, st.deleted, got, "call %d", n)
			for i, want := range st.present {
				require.Equal(t, want, sw.present(t, s, i), "call %d: row %d", n, i)
			}
		}
	}
}

// purgeBus is how the suite publishes cache purges on a backend that keeps
// them in its database (SQLite's PurgeLog); SweepCachePurges is skipped on
// one that does not.
type purgeBus interface{ PurgeBus() cache.Broadcaster }

// testSweepPurges: purges are stamped with the store's clock, not one the
// suite chooses, so the cut is an hour either side of now.
func testSweepPurges(t *testing.T, s store.Store) {
	pb, ok := s.(purgeBus)
	if !ok {
		t.Skip("the store keeps no cache purges (no PurgeBus method)")
	}
	ctx := txContext(t)
	for _, p := range []string{"a", "b", ""} {
		require.NoError(t, pb.PurgeBus().Publish(ctx, cache.Scope{Provider: p}))
	}
	n, err := s.Sweep(ctx, store.SweepCachePurges, time.Now().Add(-time.Hour), 2)
	require.NoError(t, err)
	require.Zero(t, n, "no purge is older than an hour")
	for _, want := range []int64{2, 1, 0} {
		n, err = s.Sweep(ctx, store.SweepCachePurges, time.Now().Add(time.Hour), 2)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
}

func testSweepEmpty(t *testing.T, s store.Store) {
	ctx := txContext(t)
	for _, kind := range store.SweepKinds {
		n, err := s.Sweep(ctx, kind, time.Now().Add(365*24*time.Hour), 100)
		require.NoError(t, err, kind)
		require.Zero(t, n, kind)
	}
}

// testSweepSeparate: a kind deletes its own rows only, though a client, a
// pause and a quota counter share a name and a time.
func testSweepSeparate(t *testing.T, s store.Store) {
	at := time.Now().Add(time.Hour)
	kinds := []store.SweepKind{store.SweepSeen, store.SweepPauses, store.SweepQuota}
	for _, kind := range kinds {
		sweepers[kind].seed(t, s, 0, at)
	}
	for i, kind := range kinds {
		n, err := s.Sweep(txContext(t), kind, at.Add(time.Hour), 10)
		require.NoError(t, err)
		require.EqualValues(t, 1, n, kind)
		for j, other := range kinds {
			require.Equal(t, j > i, sweepers[other].present(t, s, 0), "after sweeping %s: %s", kind, other)
		}
	}
}

func testSweepUnknown(t *testing.T, s store.Store) {
	for _, kind := range []store.SweepKind{"", "audit", "Seen"} {
		_, err := s.Sweep(txContext(t), kind, base, 10)
		require.ErrorIs(t, err, store.ErrUnknownSweepKind, "%q", kind)
	}
}

func testSweepLimit(t *testing.T, s store.Store) {
	sweepers[store.SweepSeen].seed(t, s, 0, base)
	for _, limit := range []int{0, -1} {
		_, err := s.Sweep(txContext(t), store.SweepSeen, base.Add(time.Hour), limit)
		require.Error(t, err, "limit %d", limit)
	}
	require.True(t, sweepers[store.SweepSeen].present(t, s, 0), "a refused sweep deletes nothing")
}

// testDurableInsideTx: the new writes refuse an InTx context like the
// others (see testTxStoreWriteInside); the read works.
func testDurableInsideTx(t *testing.T, s store.Store) {
	var saved, deleted, swept, loadErr error
	require.NoError(t, s.InTx(txContext(t), func(ctx context.Context, _ store.Tx) error {
		saved = s.SavePause(ctx, "k", base.Add(time.Hour))
		deleted = s.DeletePause(ctx, "k")
		_, swept = s.Sweep(ctx, store.SweepPauses, base, 10)
		_, loadErr = s.LoadPauses(ctx, base)
		return nil
	}))
	for name, err := range map[string]error{"SavePause": saved, "DeletePause": deleted, "Sweep": swept} {
		require.ErrorIs(t, err, store.ErrInTx, name)
	}
	require.NoError(t, loadErr)
	requirePauses(t, s, base, map[string]time.Time{})
}

func testDurableCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Error(t, s.SavePause(ctx, "k", base.Add(time.Hour)))
	require.Error(t, s.DeletePause(ctx, "k"))
	_, err := s.LoadPauses(ctx, base)
	require.Error(t, err)
	_, err = s.Sweep(ctx, store.SweepSeen, base, 10)
	require.Error(t, err)
	requirePauses(t, s, base, map[string]time.Time{})
}
