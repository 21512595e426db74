package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/minimise"
	"github.com/intelgate/intelgate/internal/store"
)

var errNoRows = sql.ErrNoRows

// stored is an item's sealed result.
type stored struct {
	Type       string          `json:"type,omitempty"`
	Normalized string          `json:"normalized,omitempty"`
	Outcomes   []storedOutcome `json:"outcomes,omitempty"`
	Failure    *storedFailure  `json:"failure,omitempty"`
}

type storedOutcome struct {
	Provider  string          `json:"provider"`
	Status    string          `json:"status"`
	Cache     string          `json:"cache,omitempty"`
	Rule      string          `json:"rule,omitempty"`
	FetchedAt time.Time       `json:"fetched_at,omitzero"`
	Data      json.RawMessage `json:"data,omitempty"`
	Failure   *storedFailure  `json:"failure,omitempty"`
}

type storedFailure struct {
	Kind      string `json:"kind"`
	Detail    string `json:"detail,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

func storeFailure(f *lookup.Failure) *storedFailure {
	if f == nil {
		return nil
	}
	return &storedFailure{Kind: string(f.Kind), Detail: f.Detail, Parameter: f.Parameter}
}

func (f *storedFailure) failure() *lookup.Failure {
	if f == nil {
		return nil
	}
	return &lookup.Failure{Kind: lookup.Kind(f.Kind), Detail: f.Detail, Parameter: f.Parameter}
}

func (q *Queue) sealResult(job string, seq int, r stored) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding item %d: %w", seq, err)
	}
	out, err := q.o.Keyring.Seal(resultAD(job, seq), b)
	if err != nil {
		return nil, fmt.Errorf("sealing item %d: %w", seq, err)
	}
	return out, nil
}

// item is what a worker reads of its item.
type item struct {
	state     ItemState
	client    string
	indicator string
	spec      spec
}

func (q *Queue) loadItem(ctx context.Context, a itemArgs) (item, error) {
	var it item
	var state string
	var sealedInd, sealedSpec []byte
	err := q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.QueryRowContext(ctx, q.d.Rebind(`SELECT i.state, j.client, i.indicator, j.spec
			FROM job_items i JOIN jobs j ON j.id = i.job_id WHERE i.job_id = ? AND i.seq = ?`), a.Job, a.Seq).
			Scan(&state, &it.client, &sealedInd, &sealedSpec)
	})
	if err != nil {
		return item{}, err
	}
	it.state = ItemState(state)
	ind, _, err := q.o.Keyring.Open(indicatorAD(a.Job, a.Seq), sealedInd)
	if err != nil {
		return item{}, fmt.Errorf("opening item: %w", err)
	}
	it.indicator = string(ind)
	sp, _, err := q.o.Keyring.Open(specAD(a.Job), sealedSpec)
	if err != nil {
		return item{}, fmt.Errorf("opening job: %w", err)
	}
	if err := json.Unmarshal(sp, &it.spec); err != nil {
		return item{}, fmt.Errorf("decoding job: %w", err)
	}
	return it, nil
}

// verdict is what one attempt of an item comes to.
type verdict int

const (
	final     verdict = iota // a result to keep: done, failed or withheld
	transient                // try again (dead after the last attempt)
	snooze                   // wait for quota; no attempt counted
)

// work runs one attempt of an item. What it returns is River's to act on:
// nil (completed, in finish's transaction with the result — a dead item's
// too: the dead-letter queue is job_items, where its sealed indicator and
// failure are), a snooze, or an error naming only a failure kind (retried).
func (q *Queue) work(ctx context.Context, a itemArgs, attempt, maxAttempts int, finish completeFunc) error {
	it, err := q.loadItem(ctx, a)
	if errors.Is(err, errNoRows) {
		// The job was deleted (retention) while its item waited.
		return river.JobCancel(errors.New("item no longer exists"))
	}
	if err != nil {
		return fmt.Errorf("reading item: %w", errors.New(errorKind(err)))
	}
	if it.state != ItemQueued {
		return finish(ctx, true, func(context.Context, execer, inserter) error { return nil })
	}
	if attempt > maxAttempts {
		// River's extra attempt: the last one ended without a result (it
		// timed out, its worker stopped or crashed, or it failed before
		// recording). The item is dead, in the dead-letter queue.
		f := &lookup.Failure{Kind: lookup.KindInternal, Detail: "the item's last attempt ended without a result (timed out, stopped or failed)"}
		return q.record(ctx, a, maxAttempts, ItemDead, stored{Failure: storeFailure(f)}, failure{kind: f.Kind}, it.spec.CallbackURL, true, finish)
	}
	id, cs := q.o.Clients.Identity(it.client)
	switch cs {
	case ClientDisabled:
		q.o.Meter.Snoozed("client_disabled")
		return river.JobSnooze(time.Minute)
	case ClientUnknown:
		f := &lookup.Failure{Kind: lookup.KindForbidden, Detail: "the job's client is no longer configured"}
		return q.record(ctx, a, attempt, ItemFailed, stored{Failure: storeFailure(f)}, failure{kind: f.Kind}, it.spec.CallbackURL, true, finish)
	}
	if it.spec.TLP != 0 {
		id.Markings.TLP = minimise.TLP(it.spec.TLP)
	}
	if it.spec.PAP != 0 {
		id.Markings.PAP = minimise.PAP(it.spec.PAP)
	}
	id.RequestID = a.Job + "." + strconv.Itoa(a.Seq)
	began := q.now()
	var (
		v        verdict
		wait     time.Duration
		kind     lookup.Kind
		provider string
		result   stored
		res      lookup.Result
		waited   time.Duration
	)
	for {
		var lerr error
		res, lerr = q.o.Lookups.Lookup(ctx, id, lookup.Request{Indicator: it.indicator, Type: it.spec.Type, Providers: it.spec.Providers})
		if errors.Is(ctx.Err(), context.Canceled) {
			// The queue is stopping: the item waits for the next start and
			// the attempt does not count.
			q.o.Meter.Snoozed("shutdown")
			return river.JobSnooze(0)
		}
		v, wait, kind, provider, result = judge(res, lerr)
		if v != snooze {
			break
		}
		held, stopping := q.hold(ctx, id, kind, provider, wait, waited)
		if stopping {
			q.o.Meter.Snoozed("shutdown")
			return river.JobSnooze(0)
		}
		if held == 0 {
			break
		}
		waited += held
	}
	switch v {
	case snooze:
		q.o.Meter.Snoozed("quota")
		return river.JobSnooze(min(max(wait, time.Second), maxSnooze))
	case transient:
		if attempt < maxAttempts {
			return errors.New(string(kind))
		}
		if err := q.record(ctx, a, attempt, ItemDead, result, failure{kind, provider}, it.spec.CallbackURL, true, finish); err != nil {
			return err
		}
		q.o.Meter.ItemFinished(string(ItemDead), q.now().Sub(began))
		return nil
	}
	state := ItemDone
	switch {
	case result.Failure != nil:
		state = ItemFailed
	case allWithheld(res.Outcomes):
		state = ItemWithheld
	case anyFailed(res.Outcomes):
		state = ItemFailed
	}
	if err := q.record(ctx, a, attempt, state, result, failure{kind, provider}, it.spec.CallbackURL, true, finish); err != nil {
		return err
	}
	q.o.Meter.ItemFinished(string(state), q.now().Sub(began))
	return nil
}

// hold keeps a refused item with its worker until the governor's next
// unit for it, when that is near (pace.go), and says how long it held —
// 0 when it did not (the caller snoozes the item) — and whether the
// queue began stopping meanwhile. The turns are per client for the
// client's own limit and per provider and environment for a provider's
// (the buckets they wait on); all but one worker at most are held for
// one at a time, so one provider's backlog never takes every worker from
// other items, and a hold never runs into the attempt's deadline.
func (q *Queue) hold(ctx context.Context, id lookup.Identity, kind lookup.Kind, provider string, wait, waited time.Duration) (held time.Duration, stopping bool) {
	if waited >= min(maxHeldWait, q.o.ItemTimeout/4) {
		return 0, false
	}
	key := "provider\x00" + provider + "\x00" + id.Environment
	if kind == lookup.KindRateLimited {
		key = "client\x00" + id.Client
	}
	now, horizon := q.now(), maxHold
	if dl, ok := ctx.Deadline(); ok {
		horizon = time.Until(dl) - holdMargin
	}
	d, release, ok := q.pace.turn(key, wait, now, max(1, q.o.Workers-1), horizon)
	if !ok {
		return 0, false
	}
	defer release()
	q.o.Meter.Snoozed("quota_held")
	if !sleep(ctx, d) {
		return 0, errors.Is(ctx.Err(), context.Canceled)
	}
	return d, false
}

// record writes an item's final state and result, and counts it off its
// job, in finish's transaction.
// failure is what an item's error and provider columns hold.
type failure struct {
	kind     lookup.Kind
	provider string
}

func (q *Queue) record(ctx context.Context, a itemArgs, attempt int, state ItemState, r stored, f failure, callbackURL string, complete bool, finish completeFunc) error {
	sealed, err := q.sealResult(a.Job, a.Seq, r)
	if err != nil {
		return err
	}
	now := q.now()
	return finish(ctx, complete, func(ctx context.Context, tx execer, insert inserter) error {
		n, err := tx.exec(ctx, `UPDATE job_items SET state = ?, result = ?, error = ?, provider = ?, attempts = ?, updated_at = ?
			WHERE job_id = ? AND seq = ? AND state = 'queued'`, string(state), sealed, string(f.kind), f.provider, attempt,
			q.d.TimeArg(now), a.Job, a.Seq)
		if err != nil {
			return fmt.Errorf("recording item: %w", errors.New(errorKind(err)))
		}
		if n == 0 {
			return nil // final already: an earlier attempt's commit won
		}
		var pending int64
		if err := tx.queryRow(ctx, `UPDATE jobs SET pending = pending - 1,
			finished_at = CASE WHEN pending = 1 THEN ? ELSE finished_at END
			WHERE id = ? RETURNING pending`, q.d.TimeArg(now), a.Job).Scan(&pending); err != nil {
			return fmt.Errorf("counting item: %w", errors.New(errorKind(err)))
		}
		if pending == 0 && callbackURL != "" {
			// The last item: the callback is queued with the finish it
			// announces, so it is neither lost nor sent early.
			return q.enqueueCallback(ctx, tx, insert, a.Job, now)
		}
		return nil
	})
}

// judge turns a lookup into a verdict: the wait of a snooze, the failure
// kind that decided it, and the result to keep.
func judge(res lookup.Result, err error) (v verdict, wait time.Duration, kind lookup.Kind, provider string, r stored) {
	r = stored{Type: string(res.Indicator.Type), Normalized: res.Indicator.Value}
	if err != nil {
		var f *lookup.Failure
		if !errors.As(err, &f) {
			f = &lookup.Failure{Kind: lookup.KindInternal, Detail: "the lookup failed"}
		}
		r.Failure = storeFailure(f)
		switch {
		case f.Kind == lookup.KindRateLimited:
			return snooze, f.RetryAfter, f.Kind, "", r
		case retryable(f.Kind):
			return transient, 0, f.Kind, "", r
		}
		return final, 0, f.Kind, "", r
	}
	v = final
	for _, o := range res.Outcomes {
		so := storedOutcome{Provider: o.Provider, Status: string(o.Status), Cache: string(o.Cache), Rule: o.Rule,
			FetchedAt: o.FetchedAt, Data: o.Data, Failure: storeFailure(o.Failure)}
		r.Outcomes = append(r.Outcomes, so)
		if o.Status != lookup.StatusError || o.Failure == nil {
			continue
		}
		switch {
		case o.Failure.Kind == lookup.KindUpstreamRateLimited:
			v, wait, kind, provider = snooze, max(wait, o.Failure.RetryAfter), o.Failure.Kind, o.Provider
		case retryable(o.Failure.Kind) && v != snooze:
			v, kind, provider = transient, o.Failure.Kind, o.Provider
		case v == final && kind == "":
			kind, provider = o.Failure.Kind, o.Provider
		}
	}
	return v, wait, kind, provider, r
}

// retryable kinds can succeed on another attempt: the upstream or a
// dependency failed, not the request.
func retryable(k lookup.Kind) bool {
	switch k {
	case lookup.KindUpstreamTLS, lookup.KindUpstreamUnavailable, lookup.KindUpstreamInvalid, lookup.KindUpstreamAuth,
		lookup.KindUpstreamError, lookup.KindUpstreamTimeout, lookup.KindUnavailable, lookup.KindInternal, lookup.KindClientClosed:
		return true
	}
	return false
}

func allWithheld(os []lookup.Outcome) bool {
	for _, o := range os {
		if o.Status != lookup.StatusWithheld {
			return false
		}
	}
	return len(os) > 0
}

func anyFailed(os []lookup.Outcome) bool {
	for _, o := range os {
		if o.Status == lookup.StatusError {
			return true
		}
	}
	return false
}

// errorKind is what of a store error may reach River's error column: its
// class, never its text (which could quote a value).
func errorKind(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "store-error"
}
