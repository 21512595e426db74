// Package retention deletes what intelgate no longer needs to keep: audit
// records past retention.audit, clients not seen for retention.seen,
// expired cache records, ended pauses and quota windows, old purge
// announcements. It deletes in small batches, each its own short
// transaction, so a large backlog never holds the database's write lock
// for long: writers queued behind a batch wait for one batch, not for the
// whole sweep.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/store"
)

// DefaultBatch is how many rows one batch deletes.
const DefaultBatch = 500

// purgeAnnouncementKeep is how long a cache purge announcement is kept
// for other processes to see (they poll every second or so).
const purgeAnnouncementKeep = 24 * time.Hour

// Sweeper is what the retention sweeper needs of the store.
type Sweeper interface {
	Sweep(ctx context.Context, kind store.SweepKind, before time.Time, limit int) (int64, error)
}

// Options configure a Runner.
type Options struct {
	Store Sweeper
	// Audit is the audit log's tables (nil: no audit records are swept),
	// Log where the sweep's own record goes.
	Audit *audit.Store
	Log   *audit.Log
	// AuditFor and SeenFor are retention.audit and retention.seen.
	AuditFor, SeenFor time.Duration
	// Extra are the sweeps of tables other packages own (alerts; job
	// results later), each with its own retention.
	Extra []Extra
	// Every is how often Run sweeps (retention.sweep_interval).
	Every    time.Duration
	Batch    int // default DefaultBatch
	Observer observe.Observer
	Logger   *slog.Logger
	Clock    clock.Clock
}

// Extra is one more kind of row to sweep: Sweep deletes at most limit
// rows older than before and says how many went; it is called until it
// deletes fewer than a batch.
type Extra struct {
	Kind  string
	For   time.Duration
	Sweep func(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Runner sweeps on a schedule.
type Runner struct{ o Options }

// New checks o and returns a Runner.
func New(o Options) (*Runner, error) {
	if o.Store == nil {
		return nil, errors.New("retention: Store is required")
	}
	if o.AuditFor <= 0 || o.SeenFor <= 0 || o.Every <= 0 {
		return nil, errors.New("retention: AuditFor, SeenFor and Every must be positive")
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return &Runner{o: o}, nil
}

// Run sweeps once at start and then every Every until ctx ends. A failed
// sweep is logged and counted; the next one tries again.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Every)
	defer t.Stop()
	for {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.o.Logger.Error("retention sweep failed; the next one retries", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes everything past retention as of now and returns how many
// rows of each kind went. It goes on to the next kind when one fails, and
// returns every failure.
func (r *Runner) Sweep(ctx context.Context) (map[string]int64, error) {
	now := r.o.Clock.Now()
	out := map[string]int64{}
	var errs []error
	if r.o.Audit != nil {
		n, err := r.sweepAudit(ctx, now.Add(-r.o.AuditFor))
		out["audit"] = n
		errs = append(errs, err)
	}
	for _, kind := range store.SweepKinds {
		before := now
		switch kind {
		case store.SweepSeen:
			before = now.Add(-r.o.SeenFor)
		case store.SweepCachePurges:
			before = now.Add(-purgeAnnouncementKeep)
		}
		n, err := r.batches(ctx, string(kind), func() (int64, error) {
			return r.o.Store.Sweep(ctx, kind, before, r.o.Batch)
		})
		out[string(kind)] = n
		errs = append(errs, err)
	}
	for _, x := range r.o.Extra {
		before := now.Add(-x.For)
		n, err := r.batches(ctx, x.Kind, func() (int64, error) { return x.Sweep(ctx, before, r.o.Batch) })
		out[x.Kind] = n
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// sweepAudit deletes audit records before before and, when any went,
// records in the chain itself how many and where the kept log now starts.
func (r *Runner) sweepAudit(ctx context.Context, before time.Time) (int64, error) {
	var anchor int64
	n, err := r.batches(ctx, "audit", func() (int64, error) {
		n, a, err := r.o.Audit.Sweep(ctx, before, r.o.Batch)
		if err == nil {
			anchor = a
		}
		return n, err
	})
	if n > 0 && r.o.Log != nil {
		r.o.Log.Add(audit.Record{Kind: audit.KindRetention, By: "gateway", Count: n,
			Detail: fmt.Sprintf("deleted records older than %s; the kept log starts at record %d", before.UTC().Format(time.RFC3339), anchor)})
	}
	return n, err
}

// batches runs one kind's batch until it deletes fewer than a batch,
// reporting each.
func (r *Runner) batches(ctx context.Context, kind string, batch func() (int64, error)) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := batch()
		if r.o.Observer != nil {
			r.o.Observer.Observe(ctx, observe.Swept{Kind: kind, Deleted: n, Err: err != nil})
		}
		total += n
		if err != nil {
			return total, fmt.Errorf("sweeping %s: %w", kind, err)
		}
		if n < int64(r.o.Batch) {
			return total, nil
		}
	}
}
