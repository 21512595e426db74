package jobs

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/intelgate/intelgate/internal/backoff"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
)

// Lookups is the lookup service the items go through (lookup.Service).
type Lookups interface {
	Lookup(ctx context.Context, id lookup.Identity, req lookup.Request) (lookup.Result, error)
	Providers() []string
}

// ClientState is whether a job's client may run its items now.
type ClientState int

// The client states.
const (
	// ClientActive: the client is configured and enabled.
	ClientActive ClientState = iota
	// ClientDisabled: an operator disabled it until the next reload; its
	// items wait (snoozed), they do not fail.
	ClientDisabled
	// ClientUnknown: the client is no longer configured; its items fail.
	ClientUnknown
)

// Clients gives a job's client identity as the running config has it now
// (scopes and markings may have changed since the submission).
type Clients interface {
	Identity(name string) (lookup.Identity, ClientState)
}

// Options are a Queue's dependencies and limits; zero limits take the
// Default values.
type Options struct {
	// Store holds the jobs and River's tables: SQLite (its SQLHandle) or
	// PostgreSQL (its Pool).
	Store store.Store
	// Keyring seals indicators, results and submissions, and keys the
	// idempotency and request MACs (the cache's keyring).
	Keyring *seal.Keyring
	Lookups Lookups
	Clients Clients
	// Callbacks and Deliverer send a job's signed summary to its
	// callback_url when it finishes; nil: a callback_url is refused.
	Callbacks Callbacks
	Deliverer Deliverer
	// Webhooks processes received provider events and EventTargets says
	// where subscribers receive them; nil Webhooks: none are received.
	Webhooks     WebhookHandler
	EventTargets EventTargets

	// Workers is how many items run at once on this replica.
	Workers int
	// MaxItems bounds one submission's indicators.
	MaxItems int
	// MaxAttempts is how many times a transiently failing item is tried
	// before it is dead (snoozes for quota do not count).
	MaxAttempts int
	// CallbackAttempts bounds the attempts of one callback delivery;
	// CallbackWorkers how many run at once on this replica.
	CallbackAttempts int
	CallbackWorkers  int
	// ItemTimeout bounds one attempt (River's JobTimeout).
	ItemTimeout time.Duration
	// FetchCooldown and FetchPollInterval are River's: how soon a worker
	// fetches again, and how often an idle queue is polled (the only wake
	// on SQLite, which has no LISTEN).
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// RetryBase and RetryMax shape the wait before a transiently failed
	// item is tried again: exponential from RetryBase, capped at RetryMax,
	// full jitter (internal/backoff, the law every retry here follows).
	RetryBase time.Duration
	RetryMax  time.Duration
	// RescueAfter is when a running item whose worker vanished (a crash)
	// is worked again: River's RescueStuckJobsAfter. It must exceed
	// ItemTimeout, or a slow attempt would run twice.
	RescueAfter time.Duration

	// Meter counts the queue's work (monitor.JobsMeter); nil: nothing.
	Meter Meter

	Log   *slog.Logger
	Clock clock.Clock
}

// Meter is what the queue reports for metrics.
type Meter interface {
	Submitted(items int)
	ItemStarted(wait time.Duration)
	ItemFinished(state string, d time.Duration)
	Snoozed(reason string)
	Delivered(kind, outcome string)
}

type nopMeter struct{}

func (nopMeter) Submitted(int)                      {}
func (nopMeter) ItemStarted(time.Duration)          {}
func (nopMeter) ItemFinished(string, time.Duration) {}
func (nopMeter) Snoozed(string)                     {}
func (nopMeter) Delivered(string, string)           {}

// Defaults of Options.
const (
	DefaultWorkers           = 8
	DefaultMaxItems          = 10000
	DefaultMaxAttempts       = 5
	DefaultItemTimeout       = 2 * time.Minute
	DefaultFetchCooldown     = 20 * time.Millisecond
	DefaultFetchPollInterval = 500 * time.Millisecond
	DefaultCallbackAttempts  = 8
	DefaultCallbackWorkers   = 2
	DefaultRetryBase         = 5 * time.Second
	DefaultRetryMax          = 10 * time.Minute
	// maxSnooze caps a wait for quota: a provider's Retry-After far in the
	// future is asked again after this.
	maxSnooze = time.Hour
	// stopCancelGrace bounds StopAndCancel after a soft stop timed out.
	stopCancelGrace = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxItems <= 0 {
		o.MaxItems = DefaultMaxItems
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.CallbackAttempts <= 0 {
		o.CallbackAttempts = DefaultCallbackAttempts
	}
	if o.CallbackWorkers <= 0 {
		o.CallbackWorkers = DefaultCallbackWorkers
	}
	if o.ItemTimeout <= 0 {
		o.ItemTimeout = DefaultItemTimeout
	}
	if o.FetchCooldown <= 0 {
		o.FetchCooldown = DefaultFetchCooldown
	}
	if o.FetchPollInterval <= 0 {
		o.FetchPollInterval = DefaultFetchPollInterval
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax < o.RetryBase {
		o.RetryMax = max(DefaultRetryMax, o.RetryBase)
	}
	if o.RescueAfter <= o.ItemTimeout {
		o.RescueAfter = 2*o.ItemTimeout + time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Meter == nil {
		o.Meter = nopMeter{}
	}
	return o
}

// Queue is the bulk lookup queue of one replica: submissions, status and
// results, and River's workers running the items.
type Queue struct {
	o    Options
	d    store.Dialect
	eng  engine
	pace pacer // holds refused items' workers for the next unit (pace.go)
}

// Open prepares the queue on o.Store: River's tables are migrated (the
// jobs tables are the store's own migrations); nothing runs until Run.
func Open(ctx context.Context, o Options) (*Queue, error) {
	o = o.withDefaults()
	if o.Store == nil || o.Keyring == nil || o.Lookups == nil || o.Clients == nil {
		return nil, errors.New("jobs: Store, Keyring, Lookups and Clients are required")
	}
	q := &Queue{o: o, d: o.Store.Dialect()}
	cfg := &river.Config{
		Queues: map[string]river.QueueConfig{queueBulk: {MaxWorkers: o.Workers},
			queueCallbacks: {MaxWorkers: o.CallbackWorkers}, queueWebhooks: {MaxWorkers: o.CallbackWorkers}},
		MaxAttempts:          riverMax(o.MaxAttempts),
		JobTimeout:           o.ItemTimeout,
		FetchCooldown:        o.FetchCooldown,
		FetchPollInterval:    o.FetchPollInterval,
		RescueStuckJobsAfter: o.RescueAfter,
		RetryPolicy:          retryPolicy{base: o.RetryBase, limit: o.RetryMax, clock: o.Clock},
		Logger:               o.Log.With("component", "river"),
		// River's own errors column holds what Work returns: a failure
		// kind, never an indicator (work).
		ErrorHandler: quietErrors{log: o.Log},
	}
	eng, err := newEngine(ctx, o.Store, q, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the job queue: %w", err)
	}
	q.eng = eng
	return q, nil
}

// Run works items until ctx ends, then stops: items running then get
// until stopTimeout to finish, after which they are cancelled and wait
// (snoozed, no attempt counted) for the next start.
func (q *Queue) Run(ctx context.Context, stopTimeout time.Duration) error {
	if err := q.eng.start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := q.eng.stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	return nil
}

// MaxItems is the most indicators one submission may hold.
func (q *Queue) MaxItems() int { return q.o.MaxItems }

func (q *Queue) now() time.Time { return clock.Or(q.o.Clock).Now().UTC() }

// spec is a job's submission as sealed in jobs.spec.
type spec struct {
	Type        indicator.Type `json:"type,omitempty"`
	Providers   []string       `json:"providers,omitempty"`
	CallbackURL string         `json:"callback_url,omitempty"`
	TLP         uint8          `json:"tlp,omitempty"`
	PAP         uint8          `json:"pap,omitempty"`
}

// Associated data binding each sealed value to its place: a value copied
// to another job, item or column does not open.
func specAD(job string) []byte { return []byte("jobs/spec\x00" + job) }
func indicatorAD(job string, seq int) []byte {
	return []byte("jobs/indicator\x00" + job + "\x00" + strconv.Itoa(seq))
}
func resultAD(job string, seq int) []byte {
	return []byte("jobs/result\x00" + job + "\x00" + strconv.Itoa(seq))
}

// Submit queues s for id's client: one item per indicator, all in one
// transaction. An indicator that does not parse is an item failed at
// once (reported in the results), not a refused submission. With an
// IdempotencyKey already used by this client, the job it created is
// returned with replayed true (or ErrIdempotencyReused for a different
// submission). Scope errors are *lookup.Failure.
func (q *Queue) Submit(ctx context.Context, id lookup.Identity, s Submission) (job Job, replayed bool, err error) {
	switch {
	case len(s.Indicators) == 0:
		return Job{}, false, ErrEmpty
	case len(s.Indicators) > q.o.MaxItems:
		return Job{}, false, fmt.Errorf("%w: %d indicators, at most %d per job", ErrTooMany, len(s.Indicators), q.o.MaxItems)
	}
	m := id.Markings
	if s.Markings.TLP != 0 {
		m.TLP = s.Markings.TLP
	}
	if s.Markings.PAP != 0 {
		m.PAP = s.Markings.PAP
	}
	sp := spec{Type: s.Type, Providers: s.Providers, CallbackURL: s.CallbackURL, TLP: uint8(m.TLP), PAP: uint8(m.PAP)}
	if sp.Type == indicator.Auto {
		sp.Type = ""
	}
	reqMsg, err := requestMessage(id.Client, sp, s.Indicators)
	if err != nil {
		return Job{}, false, err
	}
	var idem []string
	if s.IdempotencyKey != "" {
		idem = q.o.Keyring.Index("jobs/idempotency\x00" + id.Client + "\x00" + s.IdempotencyKey)
		if j, ok, err := q.replay(ctx, id.Client, idem, reqMsg); err != nil || ok {
			return j, ok, err
		}
	}
	// A resubmission is answered with its job above even if the client's
	// scopes or callbacks.hosts changed since: the job exists and is the
	// client's to read; only a new job is held to today's rules.
	if f := q.checkProviders(id, s.Providers); f != nil {
		return Job{}, false, f
	}
	if f := q.checkCallback(id.Client, s.CallbackURL); f != nil {
		return Job{}, false, f
	}
	jobID, err := newJobID()
	if err != nil {
		return Job{}, false, err
	}
	err = q.insert(ctx, jobID, id.Client, idem, reqMsg, sp, s.Indicators)
	if err != nil && len(idem) > 0 {
		// The same key submitted concurrently: the other insert won the
		// unique index; answer with its job (or refuse a different body).
		j, ok, rerr := q.replay(ctx, id.Client, idem, reqMsg)
		switch {
		case rerr == nil && ok:
			return j, true, nil
		case errors.Is(rerr, ErrIdempotencyReused):
			return Job{}, false, rerr
		}
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("submitting job: %w", err)
	}
	q.o.Meter.Submitted(len(s.Indicators))
	job, err = q.Get(ctx, id.Client, jobID)
	return job, false, err
}

// checkProviders refuses a named provider that does not exist or that the
// client may not use, for the whole submission.
func (q *Queue) checkProviders(id lookup.Identity, names []string) *lookup.Failure {
	known := q.o.Lookups.Providers()
	for _, p := range names {
		switch {
		case !slices.Contains(known, p):
			return &lookup.Failure{Kind: lookup.KindUnknownProvider, Detail: fmt.Sprintf("providers: no provider named %q", p), Parameter: "providers"}
		case !id.Allows(p):
			return &lookup.Failure{Kind: lookup.KindForbidden, Detail: fmt.Sprintf("providers: this client may not use provider %q", p), Parameter: "providers"}
		}
	}
	return nil
}

// requestMessage is what request_mac keys: a digest of everything that
// makes two submissions the same.
func requestMessage(client string, sp spec, indicators []string) (string, error) {
	b, err := json.Marshal(struct {
		Client     string   `json:"client"`
		Spec       spec     `json:"spec"`
		Indicators []string `json:"indicators"`
	}{client, sp, indicators})
	if err != nil {
		return "", fmt.Errorf("encoding submission: %w", err)
	}
	sum := sha256.Sum256(b)
	return "jobs/request\x00" + hex.EncodeToString(sum[:]), nil
}

// replay finds the job an idempotency key created.
func (q *Queue) replay(ctx context.Context, client string, idem []string, reqMsg string) (Job, bool, error) {
	var jobID, mac string
	err := q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		query := "SELECT id, request_mac FROM jobs WHERE client = ? AND idempotency IN (" + placeholders(len(idem)) + ")"
		args := []any{client}
		for _, v := range idem {
			args = append(args, v)
		}
		return tx.QueryRowContext(ctx, q.d.Rebind(query), args...).Scan(&jobID, &mac)
	})
	if errors.Is(err, errNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("reading idempotency key: %w", err)
	}
	if !slices.Contains(q.o.Keyring.Index(reqMsg), mac) {
		return Job{}, false, ErrIdempotencyReused
	}
	j, err := q.Get(ctx, client, jobID)
	return j, err == nil, err
}

// insertChunk bounds the rows of one INSERT (7 bind parameters each).
const insertChunk = 500

func (q *Queue) insert(ctx context.Context, jobID, client string, idem []string, reqMsg string, sp spec, indicators []string) error {
	now := q.now()
	specJSON, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("encoding job: %w", err)
	}
	sealedSpec, err := q.o.Keyring.Seal(specAD(jobID), specJSON)
	if err != nil {
		return fmt.Errorf("sealing job: %w", err)
	}
	type row struct {
		seq    int
		state  ItemState
		sealed []byte
		result []byte
		kind   string
	}
	rows := make([]row, len(indicators))
	var work []itemArgs
	for i, raw := range indicators {
		seq := i + 1
		r := row{seq: seq, state: ItemQueued}
		if r.sealed, err = q.o.Keyring.Seal(indicatorAD(jobID, seq), []byte(raw)); err != nil {
			return fmt.Errorf("sealing item %d: %w", seq, err)
		}
		if _, perr := indicator.Parse(raw, sp.Type); perr != nil {
			f := &lookup.Failure{Kind: lookup.KindInvalidParameter, Detail: "indicator: " + perr.Error(), Parameter: "indicator"}
			r.state, r.kind = ItemFailed, string(f.Kind)
			if r.result, err = q.sealResult(jobID, seq, stored{Failure: storeFailure(f)}); err != nil {
				return err
			}
		} else {
			work = append(work, itemArgs{Job: jobID, Seq: seq})
		}
		rows[i] = r
	}
	var idemArg any
	if len(idem) > 0 {
		idemArg = idem[0]
	}
	mac := q.o.Keyring.Index(reqMsg)[0]
	return q.eng.write(ctx, func(ctx context.Context, tx execer, enqueue inserter) error {
		var finished any
		if len(work) == 0 {
			finished = q.d.TimeArg(now)
		}
		if _, err := tx.exec(ctx, `INSERT INTO jobs (id, client, idempotency, request_mac, spec, total, pending, created_at, finished_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, jobID, client, idemArg, mac, sealedSpec, len(indicators), len(work),
			q.d.TimeArg(now), finished); err != nil {
			return fmt.Errorf("inserting job: %w", err)
		}
		riverIDs := map[int]int64{}
		if len(work) > 0 {
			ids, err := enqueue(ctx, q.itemParams(work))
			if err != nil {
				return err
			}
			for i, w := range work {
				riverIDs[w.Seq] = ids[i]
			}
		}
		for start := 0; start < len(rows); start += insertChunk {
			chunk := rows[start:min(start+insertChunk, len(rows))]
			var b strings.Builder
			b.WriteString("INSERT INTO job_items (job_id, seq, river_id, state, indicator, result, error, updated_at) VALUES ")
			args := make([]any, 0, len(chunk)*8)
			for i, r := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
				var rid any
				if id, ok := riverIDs[r.seq]; ok {
					rid = id
				}
				args = append(args, jobID, r.seq, rid, string(r.state), r.sealed, nullBytes(r.result), r.kind, q.d.TimeArg(now))
			}
			if _, err := tx.exec(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("inserting items: %w", err)
			}
		}
		if len(work) == 0 && sp.CallbackURL != "" {
			return q.enqueueCallback(ctx, tx, enqueue, jobID, now) // finished at once: every item failed
		}
		return nil
	})
}

func (q *Queue) itemParams(items []itemArgs) []river.InsertManyParams {
	params := make([]river.InsertManyParams, len(items))
	for i, it := range items {
		params[i] = river.InsertManyParams{Args: it, InsertOpts: &river.InsertOpts{Queue: queueBulk, MaxAttempts: riverMax(q.o.MaxAttempts)}}
	}
	return params
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func newJobID() (string, error) {
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making job id: %w", err)
	}
	return "job_" + hex.EncodeToString(b[:]), nil
}

// quietErrors keeps River from logging what a Work error or panic holds
// beyond the kind: items' errors are failure kinds already, and a panic
// value could hold anything.
type quietErrors struct{ log *slog.Logger }

func (h quietErrors) HandleError(_ context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.Debug("bulk item attempt failed", "river_id", job.ID, "attempt", job.Attempt, "error", err.Error())
	return nil
}

// HandlePanic is a backstop: every worker recovers its own panics first
// (Queue.recovered), so that no panic value reaches River's tables.
func (h quietErrors) HandlePanic(_ context.Context, job *rivertype.JobRow, _ any, _ string) *river.ErrorHandlerResult {
	h.log.Error("bulk item worker panicked; the item is retried", "river_id", job.ID, "attempt", job.Attempt)
	return nil
}

// retryPolicy is River's retry schedule by internal/backoff: after the
// n-th failed attempt (River's Attempt), the n-th retry's jittered wait.
type retryPolicy struct {
	base, limit time.Duration
	clock       clock.Clock
}

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return clock.Or(p.clock).Now().Add(backoff.Jitter(backoff.Ceiling(p.base, p.limit, max(job.Attempt, 1)), rand.Float64()))
}
