package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelgate/intelgate/internal/backoff"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/observe"
)

// The writer's defaults (audit: in the config reference).
const (
	DefaultQueueSize          = 8192
	DefaultBatchSize          = 256
	DefaultFlushEvery         = 200 * time.Millisecond
	DefaultCheckpointEvery    = 10000
	DefaultCheckpointInterval = 5 * time.Minute
	DefaultShutdownTimeout    = 10 * time.Second
)

// Options configure a Log.
type Options struct {
	Store *Store
	// QueueSize bounds the records waiting to be written; when it is
	// full, records are dropped, counted and logged, and a "dropped"
	// record says how many.
	QueueSize int
	// BatchSize is the most records one transaction appends.
	BatchSize int
	// FlushEvery is how long a record waits for a batch to fill.
	FlushEvery time.Duration
	// A checkpoint is appended after CheckpointEvery records, or after
	// CheckpointInterval when any were written since the last one, and
	// on shutdown.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// ShutdownTimeout bounds the final flush once Run's context ends.
	ShutdownTimeout time.Duration
	// Observer hears AuditWritten and AuditDropped (metrics).
	Observer observe.Observer
	Log      *slog.Logger
	Clock    clock.Clock
}

func (o *Options) defaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
}

// Log queues audit records and appends them in batches, off the request
// path. Add never blocks; Run is the one writer.
type Log struct {
	o     Options
	queue chan Record
	// dropped counts records lost to a full queue (or added after Run
	// ended) that no "dropped" record has reported yet.
	dropped atomic.Int64
	closed  atomic.Bool
	// closing is held for reading by every Add and for writing while the
	// log closes, so no record is sent after the last drain unseen.
	closing sync.RWMutex
	// lastDropLog rate-limits the drop warning to one per dropLogEvery.
	lastDropLog atomic.Int64
	running     sync.Mutex // one Run at a time
	// pending, when set, gives records a producer holds back (the
	// recorder's count of suppressed authentication failures); the
	// writer adds them to every flush, so they are written even when
	// nothing else comes.
	pending atomic.Pointer[func(now time.Time) []Record]
}

// SetPending registers fn, called by the writer at each flush for
// records to add. fn must be fast and safe for concurrent use.
func (l *Log) SetPending(fn func(now time.Time) []Record) { l.pending.Store(&fn) }

// dropLogEvery is how often, at most, dropping records is logged: each
// drop is counted in metrics at once, and in the log at this pace.
const dropLogEvery = 10 * time.Second

// NewLog returns a Log writing to o.Store.
func NewLog(o Options) (*Log, error) {
	if o.Store == nil {
		return nil, errors.New("audit: Store is required")
	}
	o.defaults()
	return &Log{o: o, queue: make(chan Record, o.QueueSize)}, nil
}

// Add queues r. It never blocks: when the queue is full, r is dropped and
// counted, and the log later appends a record saying how many were lost.
func (l *Log) Add(r Record) {
	if r.Time.IsZero() {
		r.Time = l.o.Clock.Now()
	}
	l.closing.RLock()
	if !l.closed.Load() {
		select {
		case l.queue <- r:
			l.closing.RUnlock()
			return
		default:
		}
	}
	l.closing.RUnlock()
	l.drop(1, r.Kind)
}

func (l *Log) drop(n int64, kind Kind) {
	total := l.dropped.Add(n)
	if l.o.Observer != nil {
		l.o.Observer.Observe(context.Background(), observe.AuditDropped{Records: int(n)})
	}
	now := l.o.Clock.Now().UnixNano()
	last := l.lastDropLog.Load()
	if now-last >= int64(dropLogEvery) && l.lastDropLog.CompareAndSwap(last, now) {
		reason := "the audit queue is full (the store is slow or unreachable)"
		if l.closed.Load() {
			reason = "the audit log has shut down"
		}
		l.o.Log.Error("audit records dropped: "+reason, "dropped_unreported", total, "kind", string(kind),
			"queue_size", l.o.QueueSize)
	}
}

// Depth is how many records wait in the queue (a metric).
func (l *Log) Depth() int { return len(l.queue) }

// Capacity is the queue's size.
func (l *Log) Capacity() int { return l.o.QueueSize }

// Run writes queued records until ctx ends, then flushes what is queued,
// appends a final checkpoint and returns; records added after that are
// counted as dropped. A failed append is retried with back-off, keeping
// the batch, while new records wait in (or overflow) the queue.
func (l *Log) Run(ctx context.Context) error {
	if !l.running.TryLock() {
		return errors.New("audit: Run is already running")
	}
	defer l.running.Unlock()
	w := &writer{l: l, lastCheckpoint: l.o.Clock.Now()}
	tick := time.NewTicker(l.o.FlushEvery)
	defer tick.Stop()
	var batch []Record
	for {
		if w.failures > 0 {
			// Retrying: the batch is not grown, so what cannot be
			// written waits in the bounded queue, where overflow is
			// counted, rather than in memory without bound.
			if ctx.Err() != nil {
				return l.shutdown(ctx, w, batch)
			}
			batch = w.flush(ctx, batch, false)
			continue
		}
		select {
		case r := <-l.queue:
			batch = append(batch, r)
			if len(batch) < l.o.BatchSize {
				continue
			}
		case <-tick.C:
		case <-ctx.Done():
			return l.shutdown(ctx, w, batch)
		}
		batch = w.flush(ctx, batch, false)
	}
}

// shutdown drains the queue and writes it with a final checkpoint, within
// ShutdownTimeout.
func (l *Log) shutdown(ctx context.Context, w *writer, batch []Record) error {
	l.closing.Lock()
	l.closed.Store(true)
	l.closing.Unlock()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.o.ShutdownTimeout)
	defer cancel()
	for {
		select {
		case r := <-l.queue:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	// At least once, so records held back (SetPending) are written too.
	for first := true; first || len(batch) > 0 || w.sinceCheckpoint > 0 || l.dropped.Load() > 0; first = false {
		rest := w.flush(fctx, batch, true)
		if fctx.Err() != nil {
			lost := int64(len(rest) + len(l.queue))
			l.o.Log.Error("audit records not written at shutdown: the store did not answer in time",
				"records", lost, "timeout", l.o.ShutdownTimeout.String())
			return fmt.Errorf("audit: %d records not written at shutdown: %w", lost, fctx.Err())
		}
		batch = rest
		for len(l.queue) > 0 { // added while the log was closing
			batch = append(batch, <-l.queue)
		}
		if len(batch) == 0 && w.sinceCheckpoint == 0 {
			break
		}
	}
	return nil
}

// writer is Run's state.
type writer struct {
	l               *Log
	sinceCheckpoint int
	lastCheckpoint  time.Time
	failures        int
	// unsure: the last append failed, and may have committed all the
	// same; attempted is how many records of the batch it held (the
	// batch's first records: only the shutdown flush appends to a batch
	// that failed).
	unsure    bool
	attempted int
	attemptCP *Record // the failed attempt's checkpoint, if it had one
}

// checkpointed notes a checkpoint written and logs the line an operator's
// log pipeline keeps: with it, `intelgate audit verify --checkpoint
// SEQ:HASH` finds a cut-off tail.
func (w *writer) checkpointed(cp Record, now time.Time) {
	w.sinceCheckpoint, w.lastCheckpoint = 0, now
	w.l.o.Log.Info("audit checkpoint", "seq", cp.Seq, "hash", cp.Hash, "checkpoint", fmt.Sprintf("%d:%s", cp.Seq, cp.Hash))
}

// failed logs a failed write and waits out the back-off (cut short by
// ctx) before the batch is tried again.
func (w *writer) failed(ctx context.Context, batch []Record, err error) []Record {
	w.failures++
	w.l.o.Log.Error("writing audit records failed; retrying", "records", len(batch), "attempt", w.failures, "error", err.Error())
	wait := backoff.Jitter(backoff.Ceiling(100*time.Millisecond, 5*time.Second, w.failures), rand.Float64())
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return batch
}

// written counts n records appended.
func (w *writer) written(n int) {
	if w.failures > 0 {
		w.l.o.Log.Info("audit records written again after failures", "failures", w.failures)
		w.failures = 0
	}
	w.sinceCheckpoint += n
}

// flush appends batch (plus a dropped record and a checkpoint when due)
// and returns what is still to be written: nil, or the batch itself when
// the append failed (after a back-off wait, cut short by ctx).
func (w *writer) flush(ctx context.Context, batch []Record, final bool) []Record {
	l := w.l
	// Writes are never cut short by the end of Run's context: a commit
	// cancelled midway may still have happened, and the shutdown flush
	// follows at once anyway. The final flush's own deadline does apply.
	wctx := ctx
	if !final {
		wctx = context.WithoutCancel(ctx)
	}
	now := l.o.Clock.Now()
	if w.unsure && len(batch) > 0 && batch[0].Seq > 0 {
		// The last attempt failed, perhaps after its commit (a timeout or
		// a lost connection while committing): if its first record is
		// stored, the whole batch is — its dropped record included — and
		// writing it again would add every record twice.
		stored, err := l.o.Store.Has(wctx, batch[0].Seq, batch[0].Hash)
		if err != nil {
			return w.failed(ctx, batch, err)
		}
		w.unsure = false
		if stored {
			// Only the failed attempt's records: the shutdown flush may
			// have appended what it drained from the queue since.
			l.o.Log.Info("audit records found written after a failed commit; not writing them again", "records", w.attempted)
			w.written(w.attempted)
			batch = batch[w.attempted:]
			if cp := w.attemptCP; cp != nil {
				w.checkpointed(*cp, now)
			}
		}
	}
	if fn := l.pending.Load(); fn != nil {
		batch = append(batch, (*fn)(now)...)
	}
	// Records dropped since are reported in the batch's trailing dropped
	// record (one kept from a failed attempt absorbs the new count, so a
	// long outage adds one record, not one per retry).
	if n := l.dropped.Swap(0); n > 0 {
		if k := len(batch) - 1; k >= 0 && batch[k].Kind == KindDropped {
			batch[k].Count += n
		} else {
			batch = append(batch, Record{Time: now, Kind: KindDropped, Count: n,
				Reason: "the audit queue was full; this many records were not written"})
		}
	}
	checkpoint := w.sinceCheckpoint+len(batch) > 0 &&
		(final || w.sinceCheckpoint+len(batch) >= l.o.CheckpointEvery || now.Sub(w.lastCheckpoint) >= l.o.CheckpointInterval)
	if len(batch) == 0 && !checkpoint {
		return nil
	}
	n := len(batch)
	if checkpoint {
		batch = append(batch, Record{Time: now, Kind: KindCheckpoint})
	}
	start := time.Now()
	err := l.o.Store.Append(wctx, batch)
	if l.o.Observer != nil {
		l.o.Observer.Observe(ctx, observe.AuditWritten{Records: len(batch), Latency: time.Since(start), Err: err != nil})
	}
	if err != nil {
		w.unsure, w.attempted, w.attemptCP = true, n, nil
		if checkpoint {
			cp := batch[n]
			w.attemptCP = &cp
		}
		// The checkpoint is remade when the batch goes; its dropped
		// record stays with it.
		return w.failed(ctx, batch[:n], err)
	}
	w.written(n)
	if checkpoint {
		w.checkpointed(batch[len(batch)-1], now)
	}
	return nil
}
