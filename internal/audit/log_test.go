package audit_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/store"
)

var discard = slog.New(slog.DiscardHandler)

// gatedDB is a store whose write transactions wait for the gate to open,
// or fail while failing is set: a slow or lost database.
type gatedDB struct {
	store.Store
	gate    chan struct{}
	failing atomic.Bool
	entered chan struct{} // a transaction has started waiting (buffered 1)
}

func newGatedDB(st store.Store) *gatedDB {
	return &gatedDB{Store: st, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (g *gatedDB) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if g.failing.Load() {
		return errors.New("database unreachable")
	}
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.InTx(ctx, fn)
}

// counter is an observer that counts the audit events.
type counter struct {
	mu               sync.Mutex
	written, dropped int
	failedWrites     int
}

func (c *counter) Observe(_ context.Context, e observe.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e := e.(type) {
	case observe.AuditWritten:
		if e.Err {
			c.failedWrites++
		} else {
			c.written += e.Records
		}
	case observe.AuditDropped:
		c.dropped += e.Records
	}
}

func (c *counter) get() (written, dropped, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written, c.dropped, c.failedWrites
}

func runLog(t *testing.T, l *audit.Log) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func countKinds(t *testing.T, as *audit.Store) map[audit.Kind]int64 {
	t.Helper()
	out := map[audit.Kind]int64{}
	for _, r := range pageAll(t, as, audit.Filter{}, 500) {
		out[r.Kind]++
		if r.Kind == audit.KindDropped {
			out["dropped_count"] += r.Count
		}
	}
	return out
}

// With the database stuck, Add never waits: records beyond the queue are
// dropped and counted, and once the database answers the log says how
// many were lost, in the chain itself.
func TestLogNeverBlocksAndReportsDrops(t *testing.T) {
	t.Parallel()
	db := newGatedDB(openSQLite(t))
	as := audit.NewStore(db, testKeys(t))
	obs := &counter{}
	l, err := audit.NewLog(audit.Options{Store: as, QueueSize: 16, BatchSize: 4, FlushEvery: time.Millisecond, Observer: obs,
		Log: discard})
	require.NoError(t, err)
	stop := runLog(t, l)
	l.Add(audit.Record{Kind: audit.KindAdmin})
	<-db.entered // the writer holds one batch, stuck in the database
	const burst = 1000
	for range burst {
		l.Add(audit.Record{Kind: audit.KindAdmin}) // would hang the test if it waited
	}
	require.LessOrEqual(t, l.Depth(), 16)
	_, dropped, _ := obs.get()
	require.GreaterOrEqual(t, dropped, burst-16, "what did not fit is counted at once")
	close(db.gate)
	require.NoError(t, stop())
	kinds := countKinds(t, as)
	require.EqualValues(t, 1+burst, kinds[audit.KindAdmin]+kinds["dropped_count"], "every record is written or counted as dropped")
	require.EqualValues(t, dropped, kinds["dropped_count"])
	require.GreaterOrEqual(t, kinds[audit.KindDropped], int64(1))
	rep, err := as.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
}

// A failed append is retried with its batch; nothing queued is lost, and
// the chain has no gap.
func TestLogRetriesAfterStoreFailure(t *testing.T) {
	t.Parallel()
	db := newGatedDB(openSQLite(t))
	close(db.gate)
	db.failing.Store(true)
	as := audit.NewStore(db, testKeys(t))
	obs := &counter{}
	l, err := audit.NewLog(audit.Options{Store: as, BatchSize: 8, FlushEvery: time.Millisecond, Observer: obs, Log: discard})
	require.NoError(t, err)
	stop := runLog(t, l)
	for range 20 {
		l.Add(audit.Record{Kind: audit.KindAdmin})
	}
	require.Eventually(t, func() bool { _, _, failed := obs.get(); return failed >= 2 }, 10*time.Second, time.Millisecond)
	db.failing.Store(false)
	require.Eventually(t, func() bool { w, _, _ := obs.get(); return w >= 20 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	kinds := countKinds(t, as)
	require.EqualValues(t, 20, kinds[audit.KindAdmin])
	require.Zero(t, kinds[audit.KindDropped])
	rep, err := as.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
}

// Shutdown writes what is queued and a final checkpoint, which the
// process log names; records added after it are counted as dropped.
func TestLogShutdownFlushes(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	as := audit.NewStore(st, testKeys(t))
	logger, logs := logtest.JSONLogger()
	obs := &counter{}
	l, err := audit.NewLog(audit.Options{Store: as, FlushEvery: time.Hour, Observer: obs, Log: logger})
	require.NoError(t, err)
	stop := runLog(t, l)
	for range 50 {
		l.Add(audit.Record{Kind: audit.KindAdmin})
	}
	require.NoError(t, stop())
	kinds := countKinds(t, as)
	require.EqualValues(t, 50, kinds[audit.KindAdmin])
	require.EqualValues(t, 1, kinds[audit.KindCheckpoint])
	h, err := as.Head(t.Context())
	require.NoError(t, err)
	require.Contains(t, logs.String(), "audit checkpoint")
	require.Contains(t, logs.String(), h.Hash, "the checkpoint line names the head")
	l.Add(audit.Record{Kind: audit.KindAdmin})
	_, dropped, _ := obs.get()
	require.Equal(t, 1, dropped)
}

// Checkpoints come every CheckpointEvery records.
func TestLogCheckpointsByCount(t *testing.T) {
	t.Parallel()
	as := audit.NewStore(openSQLite(t), testKeys(t))
	l, err := audit.NewLog(audit.Options{Store: as, BatchSize: 10, CheckpointEvery: 10, FlushEvery: time.Hour, Log: discard})
	require.NoError(t, err)
	stop := runLog(t, l)
	for round := range 3 {
		for range 10 {
			l.Add(audit.Record{Kind: audit.KindAdmin})
		}
		// A full batch goes at once (FlushEvery is an hour), with its
		// checkpoint.
		require.Eventually(t, func() bool {
			h, err := as.Head(t.Context())
			return err == nil && h.Seq == int64(11*(round+1))
		}, 10*time.Second, time.Millisecond)
	}
	for range 5 {
		l.Add(audit.Record{Kind: audit.KindAdmin})
	}
	require.NoError(t, stop())
	kinds := countKinds(t, as)
	require.EqualValues(t, 35, kinds[audit.KindAdmin])
	require.EqualValues(t, 4, kinds[audit.KindCheckpoint], "three full batches of ten, and the final one")
	rep, err := as.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.Equal(t, 4, rep.Checkpoints)
}

// lyingDB commits its first write transaction and then reports failure,
// as a connection lost while the commit's answer was on its way would.
type lyingDB struct {
	store.Store
	lied atomic.Bool
}

func (d *lyingDB) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if err := d.Store.InTx(ctx, fn); err != nil {
		return err
	}
	if d.lied.CompareAndSwap(false, true) {
		return errors.New("connection reset while committing")
	}
	return nil
}

// A batch whose commit was reported failed but happened is found stored
// and not written twice.
func TestLogDoesNotRewriteACommittedBatch(t *testing.T) {
	t.Parallel()
	db := &lyingDB{Store: openSQLite(t)}
	as := audit.NewStore(db, testKeys(t))
	obs := &counter{}
	l, err := audit.NewLog(audit.Options{Store: as, FlushEvery: time.Millisecond, Observer: obs, Log: discard})
	require.NoError(t, err)
	stop := runLog(t, l)
	for range 5 {
		l.Add(audit.Record{Kind: audit.KindAdmin})
	}
	require.Eventually(t, func() bool { _, _, failed := obs.get(); return failed == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	require.True(t, db.lied.Load())
	kinds := countKinds(t, as)
	require.EqualValues(t, 5, kinds[audit.KindAdmin], "each record once")
	rep, err := as.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
}

// Records dropped while a batch whose commit was reported failed waits
// to be retried are still reported, when the batch turns out stored.
func TestLogReportsDropsAfterAnAmbiguousCommit(t *testing.T) {
	t.Parallel()
	db := &lyingDB{Store: openSQLite(t)}
	as := audit.NewStore(db, testKeys(t))
	obs := &counter{}
	l, err := audit.NewLog(audit.Options{Store: as, QueueSize: 4, FlushEvery: time.Millisecond, Observer: obs, Log: discard})
	require.NoError(t, err)
	stop := runLog(t, l)
	l.Add(audit.Record{Kind: audit.KindAdmin})
	require.Eventually(t, func() bool { _, _, failed := obs.get(); return failed == 1 }, 10*time.Second, time.Millisecond)
	const burst = 50
	for range burst {
		l.Add(audit.Record{Kind: audit.KindAdmin})
	}
	require.NoError(t, stop())
	_, dropped, _ := obs.get()
	kinds := countKinds(t, as)
	require.EqualValues(t, 1+burst, kinds[audit.KindAdmin]+kinds["dropped_count"], "every record is written or counted in a dropped record")
	require.EqualValues(t, dropped, kinds["dropped_count"])
}
