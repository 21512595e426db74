package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/intelgate/intelgate/internal/store"
)

// itemArgs are a River job's arguments: which item to work, nothing
// readable of it (the indicator is sealed in job_items).
type itemArgs struct {
	Job string `json:"job"`
	Seq int    `json:"seq"`
}

// Kind names intelgate's item jobs in River's tables.
func (itemArgs) Kind() string { return "intelgate_item" }

// callbackArgs are a callback delivery's: the job, and the webhook id of
// the finish it announces (a job reopened by a dead-letter retry finishes
// again, under a new id).
type callbackArgs struct {
	Job       string `json:"job"`
	WebhookID string `json:"webhook_id"`
}

// Kind names intelgate's callback deliveries in River's tables.
func (callbackArgs) Kind() string { return "intelgate_callback" }

// River's queues: bulk items, and callback deliveries (their own workers,
// so a slow receiver never holds up lookups).
const (
	queueBulk      = "intelgate_bulk"
	queueCallbacks = "intelgate_callbacks"
)

// execer is one transaction's statements, written with "?" placeholders
// whatever the backend (pgx's are rebound).
type execer interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	queryRow(ctx context.Context, query string, args ...any) scanner
}

type scanner interface{ Scan(dest ...any) error }

// engine is the half of the queue that depends on the backend: River's
// client over that backend's driver, and transactions of the driver's
// own type, so that River's inserts and completions share them. The Queue
// above it is written once.
type engine interface {
	// write runs fn in one transaction; fn's insert enqueues River item
	// jobs in it and returns their ids in order.
	write(ctx context.Context, fn func(ctx context.Context, tx execer, insert inserter) error) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
}

// inserter enqueues River jobs in the transaction it belongs to and
// returns their ids in order.
type inserter func(ctx context.Context, params []river.InsertManyParams) ([]int64, error)

// poolHandle is the PostgreSQL store's River seam (postgres.Store.Pool).
type poolHandle interface{ Pool() *pgxpool.Pool }

// riverEngine is engine over one River driver.
type riverEngine[TTx any] struct {
	client   *river.Client[TTx]
	begin    func(ctx context.Context) (TTx, error)
	wrap     func(TTx) execer
	commit   func(ctx context.Context, tx TTx) error
	rollback func(ctx context.Context, tx TTx) error
}

func (e *riverEngine[TTx]) start(ctx context.Context) error { return e.client.Start(ctx) }

func (e *riverEngine[TTx]) stop(ctx context.Context) error {
	if err := e.client.Stop(ctx); err != nil {
		// Items still running when the grace period ends are cancelled:
		// they snooze for the next start and count no attempt (work).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopCancelGrace)
		defer cancel()
		return errors.Join(err, e.client.StopAndCancel(cctx))
	}
	return nil
}

func (e *riverEngine[TTx]) write(ctx context.Context, fn func(ctx context.Context, tx execer, insert inserter) error) (err error) {
	tx, err := e.begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			err = errors.Join(err, e.rollback(context.WithoutCancel(ctx), tx))
		}
	}()
	insert := func(ctx context.Context, params []river.InsertManyParams) ([]int64, error) {
		res, err := e.client.InsertManyTx(ctx, tx, params)
		if err != nil {
			return nil, fmt.Errorf("enqueueing: %w", err)
		}
		ids := make([]int64, len(res))
		for i, r := range res {
			ids[i] = r.Job.ID
		}
		return ids, nil
	}
	if err := fn(ctx, e.wrap(tx), insert); err != nil {
		return err
	}
	done = true
	if err := e.commit(ctx, tx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// completeFunc runs fn in a transaction that also completes the River
// job being worked (complete true), or only runs fn (a dead item: River
// discards its job when Work returns the error). fn may enqueue more.
type completeFunc func(ctx context.Context, complete bool, fn func(ctx context.Context, tx execer, insert inserter) error) error

// finisher is completeFunc for one River job being worked.
func finisher[TTx any, TDriver riverdriver.Driver[TTx], TArgs river.JobArgs](e *riverEngine[TTx], job *river.Job[TArgs]) completeFunc {
	return func(ctx context.Context, complete bool, fn func(ctx context.Context, tx execer, insert inserter) error) error {
		// The outcome is written even when the attempt's own deadline
		// (jobs.item_timeout) has just passed: losing it would leave the
		// item queued with no attempt left.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		defer cancel()
		return e.write(ctx, func(ctx context.Context, tx execer, insert inserter) error {
			if err := fn(ctx, tx, insert); err != nil {
				return err
			}
			if !complete {
				return nil
			}
			_, err := river.JobCompleteTx[TDriver](ctx, e.unwrapTx(tx), job)
			return err
		})
	}
}

// worker is River's worker of one job kind: the backend's transaction
// plumbing, panic recovery and the attempt budget around run, the
// Queue's handling of that kind.
type worker[TTx any, TDriver riverdriver.Driver[TTx], TArgs river.JobArgs] struct {
	river.WorkerDefaults[TArgs]
	q   *Queue
	e   *riverEngine[TTx]
	run func(ctx context.Context, job *river.Job[TArgs], budget int, finish completeFunc) error
}

func (w *worker[TTx, TDriver, TArgs]) Work(ctx context.Context, job *river.Job[TArgs]) (err error) {
	defer w.q.recovered(job.ID, &err)
	return w.run(ctx, job, budget(job.MaxAttempts), finisher[TTx, TDriver](w.e, job))
}

// workers registers every worker of one engine: bulk items, callback
// deliveries, received webhooks and their forwards.
func workers[TTx any, TDriver riverdriver.Driver[TTx]](q *Queue, e *riverEngine[TTx]) func(*river.Workers) error {
	return func(ws *river.Workers) error {
		return errors.Join(
			river.AddWorkerSafely(ws, &worker[TTx, TDriver, itemArgs]{q: q, e: e,
				run: func(ctx context.Context, job *river.Job[itemArgs], budget int, finish completeFunc) error {
					// A snooze gives River's attempt back, so attempt 1
					// comes again after each: only the first start, with
					// no snooze yet in the metadata River keeps, is the
					// queue wait.
					if job.Attempt == 1 && snoozes(job.Metadata) == 0 {
						q.o.Meter.ItemStarted(q.now().Sub(job.CreatedAt))
					}
					return q.work(ctx, job.Args, job.Attempt, budget, finish)
				}}),
			river.AddWorkerSafely(ws, &worker[TTx, TDriver, callbackArgs]{q: q, e: e,
				run: func(ctx context.Context, job *river.Job[callbackArgs], budget int, finish completeFunc) error {
					return q.deliver(ctx, job.Args, job.Attempt, budget, finish)
				}}),
			river.AddWorkerSafely(ws, &worker[TTx, TDriver, webhookArgs]{q: q, e: e,
				run: func(ctx context.Context, job *river.Job[webhookArgs], budget int, finish completeFunc) error {
					return q.processWebhook(ctx, job.Args, job.Attempt, budget, finish)
				}}),
			river.AddWorkerSafely(ws, &worker[TTx, TDriver, forwardArgs]{q: q, e: e,
				run: func(ctx context.Context, job *river.Job[forwardArgs], budget int, finish completeFunc) error {
					return q.forward(ctx, job.Args, job.Attempt, budget, finish)
				}}))
	}
}

// River runs every job for one attempt more than its budget (riverMax):
// an attempt River ends itself — a timeout, a crash, a panic, a lost store
// — leaves the work unsettled, and the extra attempt settles it (the item
// dead, the callback failed) instead of River discarding the job with our
// row still queued. A crash during that short settling attempt is the
// one case left unsettled.
func riverMax(attempts int) int { return attempts + 1 }

// budget is the attempts a job of River's maximum max may spend working.
func budget(max int) int { return max - 1 }

// settleTimeout bounds writing an attempt's outcome.
const settleTimeout = 30 * time.Second

// recovered turns a worker's panic into an error that holds no value of
// it (a panic could quote an indicator, and River stores and logs what
// Work returns or panics with).
func (q *Queue) recovered(riverID int64, err *error) {
	if r := recover(); r != nil {
		q.o.Log.Error("bulk worker panicked; the attempt failed", "river_id", riverID)
		*err = errors.New("internal: the worker panicked")
	}
}

// unwrapTx is the driver transaction behind an execer of this engine.
func (e *riverEngine[TTx]) unwrapTx(x execer) TTx {
	return x.(interface{ raw() any }).raw().(TTx)
}

// newEngine builds River over the store's own database and migrates
// River's tables. The store's Dialect picks the driver.
func newEngine(ctx context.Context, st store.Store, q *Queue, cfg *river.Config) (engine, error) {
	switch st.Dialect() {
	case store.SQLite:
		h, ok := st.(store.SQLHandle)
		if !ok {
			return nil, errors.New("the SQLite store offers no database handle for the job queue")
		}
		db := h.DB()
		e := &riverEngine[*sql.Tx]{
			begin:    func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) },
			wrap:     func(tx *sql.Tx) execer { return sqlExec{tx} },
			commit:   func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
			rollback: func(_ context.Context, tx *sql.Tx) error { return ignoreDone(tx.Rollback()) },
		}
		return build(ctx, riversqlite.New(db), e, q, cfg, workers[*sql.Tx, *riversqlite.Driver](q, e))
	case store.Postgres:
		h, ok := st.(poolHandle)
		if !ok {
			return nil, errors.New("the PostgreSQL store offers no pool for the job queue")
		}
		pool := h.Pool()
		e := &riverEngine[pgx.Tx]{
			begin:    func(ctx context.Context) (pgx.Tx, error) { return pool.Begin(ctx) },
			wrap:     func(tx pgx.Tx) execer { return pgxExec{tx} },
			commit:   func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
			rollback: func(ctx context.Context, tx pgx.Tx) error { return ignoreDone(tx.Rollback(ctx)) },
		}
		return build(ctx, riverpgxv5.New(pool), e, q, cfg, workers[pgx.Tx, *riverpgxv5.Driver](q, e))
	}
	return nil, fmt.Errorf("no job queue for store dialect %q", st.Dialect())
}

func build[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], e *riverEngine[TTx], q *Queue, cfg *river.Config, register func(*river.Workers) error) (engine, error) {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: q.o.Log})
	if err != nil {
		return nil, fmt.Errorf("preparing River's migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrating River's tables: %w", err)
	}
	workers := river.NewWorkers()
	if err := register(workers); err != nil {
		return nil, fmt.Errorf("registering the workers: %w", err)
	}
	cfg.Workers = workers
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting River: %w", err)
	}
	e.client = c
	return e, nil
}

// ignoreDone drops the error of rolling back a transaction that already
// ended (committed, or rolled back by its context).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) || errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

type sqlExec struct{ tx *sql.Tx }

func (x sqlExec) raw() any { return x.tx }

func (x sqlExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := x.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (x sqlExec) queryRow(ctx context.Context, q string, args ...any) scanner {
	return x.tx.QueryRowContext(ctx, q, args...)
}

type pgxExec struct{ tx pgx.Tx }

func (x pgxExec) raw() any { return x.tx }

func (x pgxExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := x.tx.Exec(ctx, store.Postgres.Rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (x pgxExec) queryRow(ctx context.Context, q string, args ...any) scanner {
	return x.tx.QueryRow(ctx, store.Postgres.Rebind(q), args...)
}

// snoozes is how often River snoozed a job, from the "snoozes" count it
// keeps in the job's metadata (0 when absent or unreadable).
func snoozes(metadata []byte) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m)
	return m.Snoozes
}
