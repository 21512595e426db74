package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// Callbacks gives a client's callback policy (callback_hosts and what
// else it allows) and its signing secret, as the running config has them;
// false when the client has no callbacks configured.
type Callbacks interface {
	Target(client string) (callback.Policy, webhooksig.Key, bool)
}

// Deliverer sends one signed callback attempt (callback.Deliverer).
type Deliverer interface {
	Deliver(ctx context.Context, target string, policy callback.Policy, key webhooksig.Key, id string, body []byte) (callback.Record, error)
}

// CallbackState is where a job's callback is.
type CallbackState string

// The callback states.
const (
	CallbackPending   CallbackState = "pending"   // queued or retrying
	CallbackDelivered CallbackState = "delivered" // the receiver answered 2xx
	CallbackFailed    CallbackState = "failed"    // refused for good, or the attempts ran out
)

// Callback is the delivery of a job's finish to its callback_url.
type Callback struct {
	State      CallbackState
	WebhookID  string
	Attempts   int
	LastAt     time.Time
	LastStatus int    // the receiver's last HTTP status; 0 when none
	LastError  string // the last failed attempt's class (callback.Class); "" when delivered
}

// Payload is what a callback POSTs: the job's summary when it finished,
// signed per Standard Webhooks. Results are fetched from Results (a
// callback never carries an indicator or an answer).
type Payload struct {
	Type string         `json:"type"` // "job.finished"
	Job  PayloadSummary `json:"job"`
}

// PayloadSummary is a finished job as a callback reports it.
type PayloadSummary struct {
	ID         string    `json:"id"`
	Status     Status    `json:"status"`
	Total      int       `json:"total"`
	Counts     Counts    `json:"counts"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at"`
	Results    string    `json:"results"`
}

// checkCallback refuses a callback_url the client may not use, at
// submission: the delivery checks it again, and the address it dials.
func (q *Queue) checkCallback(client, target string) *lookup.Failure {
	if target == "" {
		return nil
	}
	if q.o.Callbacks == nil || q.o.Deliverer == nil {
		return &lookup.Failure{Kind: lookup.KindInvalidParameter, Parameter: "callback_url",
			Detail: "callback_url: callbacks are not configured on this gateway"}
	}
	p, _, ok := q.o.Callbacks.Target(client)
	if !ok {
		return &lookup.Failure{Kind: lookup.KindInvalidParameter, Parameter: "callback_url",
			Detail: "callback_url: this client has no callback_hosts and callback_secret configured"}
	}
	if err := p.ValidateURL(target); err != nil {
		return &lookup.Failure{Kind: lookup.KindInvalidParameter, Parameter: "callback_url", Detail: "callback_url: " + err.Error()}
	}
	return nil
}

// enqueueCallback queues the delivery of job's finish (at) in tx.
func (q *Queue) enqueueCallback(ctx context.Context, tx execer, insert inserter, job string, at time.Time) error {
	id := "cb_" + job + "_" + strconv.FormatInt(at.UnixNano(), 36)
	n, err := tx.exec(ctx, `UPDATE job_callbacks SET webhook_id = ?, state = 'pending', attempts = 0, last_at = NULL,
		last_status = 0, last_error = '' WHERE job_id = ?`, id, job)
	if err != nil {
		return fmt.Errorf("recording callback: %w", err)
	}
	if n == 0 {
		if _, err := tx.exec(ctx, `INSERT INTO job_callbacks (job_id, webhook_id, state) VALUES (?, ?, 'pending')`, job, id); err != nil {
			return fmt.Errorf("recording callback: %w", err)
		}
	}
	_, err = insert(ctx, []river.InsertManyParams{{Args: callbackArgs{Job: job, WebhookID: id},
		InsertOpts: &river.InsertOpts{Queue: queueCallbacks, MaxAttempts: riverMax(q.o.CallbackAttempts)}}})
	return err
}

// deliver is one attempt of a callback: River retries what it returns as
// an error with the backoff law, up to jobs.callback_attempts.
func (q *Queue) deliver(ctx context.Context, a callbackArgs, attempt, maxAttempts int, finish completeFunc) error {
	var client, current, state string
	var sealedSpec []byte
	err := q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.QueryRowContext(ctx, q.d.Rebind(`SELECT j.client, j.spec, c.webhook_id, c.state FROM jobs j
			JOIN job_callbacks c ON c.job_id = j.id WHERE j.id = ?`), a.Job).Scan(&client, &sealedSpec, &current, &state)
	})
	if errors.Is(err, errNoRows) {
		return river.JobCancel(errors.New("job no longer exists"))
	}
	if err != nil {
		return errors.New(errorKind(err))
	}
	if current != a.WebhookID || CallbackState(state) != CallbackPending {
		// A later finish superseded this one, or it was settled already.
		return finish(ctx, true, func(context.Context, execer, inserter) error { return nil })
	}
	if attempt > maxAttempts {
		// The last attempt ended without a word (timed out, crashed).
		q.o.Meter.Delivered("job", "failed")
		rec := callback.Record{Attempt: maxAttempts, At: q.now(), Outcome: callback.Permanent, Class: callback.ClassTimeout}
		return q.settle(ctx, a, rec, CallbackFailed, true, finish, nil)
	}
	j, err := q.Get(ctx, client, a.Job)
	if err != nil {
		return errors.New(errorKind(err))
	}
	if j.FinishedAt.IsZero() {
		// A dead-letter retry reopened the job since: this finish is
		// undone, and the next one is announced under its own id.
		return finish(ctx, true, func(context.Context, execer, inserter) error { return nil })
	}
	var target string
	var policy callback.Policy
	var key webhooksig.Key
	ok := false
	if q.o.Callbacks != nil && q.o.Deliverer != nil {
		policy, key, ok = q.o.Callbacks.Target(client)
		target = j.CallbackURL
	}
	if !ok {
		rec := callback.Record{Attempt: attempt, At: q.now(), Outcome: callback.Permanent, Class: callback.ClassRefused}
		return q.settle(ctx, a, rec, CallbackFailed, true, finish, river.JobCancel(errors.New("the client has no callbacks configured now")))
	}
	body, err := json.Marshal(Payload{Type: "job.finished", Job: PayloadSummary{ID: j.ID, Status: j.Status, Total: j.Total,
		Counts: j.Counts, CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt, Results: "/v1/jobs/" + j.ID + "/results"}})
	if err != nil {
		return river.JobCancel(fmt.Errorf("encoding callback: %w", err))
	}
	rec, derr := q.o.Deliverer.Deliver(ctx, target, policy, key, a.WebhookID, body)
	rec.Attempt = attempt
	switch {
	case derr == nil:
		q.o.Meter.Delivered("job", "delivered")
		return q.settle(ctx, a, rec, CallbackDelivered, true, finish, nil)
	case rec.Class == callback.ClassCanceled:
		return river.JobSnooze(0) // stopping: try again at the next start, uncounted
	case rec.Outcome == callback.Permanent:
		q.o.Meter.Delivered("job", "failed")
		return q.settle(ctx, a, rec, CallbackFailed, true, finish, river.JobCancel(errors.New(string(rec.Class))))
	case attempt >= maxAttempts:
		q.o.Meter.Delivered("job", "failed")
		return q.settle(ctx, a, rec, CallbackFailed, true, finish, nil)
	}
	q.o.Meter.Delivered("job", "retry")
	return q.settle(ctx, a, rec, CallbackPending, false, finish, errors.New(string(rec.Class)))
}

// settle records an attempt and returns ret (River's instruction).
// complete: the River job completes in the same transaction.
func (q *Queue) settle(ctx context.Context, a callbackArgs, rec callback.Record, state CallbackState, complete bool, finish completeFunc, ret error) error {
	class := string(rec.Class)
	if state == CallbackDelivered {
		class = ""
	}
	if _, isCancel := errors.AsType[*river.JobCancelError](ret); isCancel {
		// A cancelled job must not also complete.
		complete = false
	}
	err := finish(ctx, complete, func(ctx context.Context, tx execer, _ inserter) error {
		_, err := tx.exec(ctx, `UPDATE job_callbacks SET state = ?, attempts = ?, last_at = ?, last_status = ?, last_error = ?
			WHERE job_id = ? AND webhook_id = ?`, string(state), rec.Attempt, q.d.TimeArg(rec.At), rec.Status, class, a.Job, a.WebhookID)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording callback attempt: %w", errors.New(errorKind(err)))
	}
	return ret
}

// callbackOf reads a job's callback, if it has one.
func (q *Queue) callbackOf(ctx context.Context, tx store.Tx, job string) (*Callback, error) {
	var c Callback
	var state string
	var last any
	err := tx.QueryRowContext(ctx, q.d.Rebind(`SELECT webhook_id, state, attempts, last_at, last_status, last_error
		FROM job_callbacks WHERE job_id = ?`), job).Scan(&c.WebhookID, &state, &c.Attempts, &last, &c.LastStatus, &c.LastError)
	if errors.Is(err, errNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.State, c.LastAt = CallbackState(state), store.TimeOf(last)
	return &c, nil
}
