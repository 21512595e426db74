package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Job statuses (Job.Status).
const (
	JobQueued  = "queued"  // no item final yet
	JobRunning = "running" // some items final, some not
	JobDone    = "done"    // every item final; FinishedAt is set
)

// Item states of a job's results (JobResultLine.State).
const (
	// ItemQueued: waiting, running, retrying or waiting for quota.
	ItemQueued = "queued"
	ItemDone   = "done"
	// ItemFailed: it cannot succeed as asked (an invalid indicator, an
	// unsupported type, a provider's final refusal).
	ItemFailed = "failed"
	// ItemDead: a transient failure outlasted the gateway's jobs.max_attempts.
	ItemDead = "dead"
	// ItemWithheld: query minimisation kept it from every provider.
	ItemWithheld = "withheld"
)

// DefaultJobPollInterval is WaitJob's interval when given none.
const DefaultJobPollInterval = 2 * time.Second

// maxIdempotencyKey is the gateway's bound on Idempotency-Key.
const maxIdempotencyKey = 255

// ErrInvalidIdempotencyKey is wrapped by a submission refused before it
// was sent because JobOptions.IdempotencyKey is not one the gateway takes.
var ErrInvalidIdempotencyKey = errors.New("invalid IdempotencyKey")

// JobOptions shape a bulk submission. The zero value is auto-detected
// types, every permitted provider, the client's default markings and a
// generated Idempotency-Key.
type JobOptions struct {
	// Type is the type of every indicator (ipv4, domain, …); "" or "auto"
	// lets the gateway detect each.
	Type string
	// Providers limits each lookup to these providers; empty means all
	// permitted ones that support the type.
	Providers []string
	// TLP and PAP mark every item, as LookupOptions' do; "" uses the
	// client's defaults.
	TLP, PAP string
	// CallbackURL, if set, is called (signed, per Standard Webhooks) when
	// the job is done; the gateway accepts only hosts it allows.
	CallbackURL string
	// IdempotencyKey (1–255 printable ASCII characters, no spaces) makes a
	// resubmission return the job the first one created instead of a new
	// job. Empty: the SDK generates a random key for this call, so its own
	// retries are idempotent; pass your own (e.g. the batch's name) to make
	// a resubmission after a failed call or a restart idempotent too.
	IdempotencyKey string
}

// Job is a bulk job's status (POST /v1/jobs, GET /v1/jobs/{id}).
type Job struct {
	ID     string    `json:"id"`
	Status string    `json:"status"` // JobQueued, JobRunning or JobDone
	Total  int       `json:"total"`  // items (indicators) in the job
	Counts JobCounts `json:"counts"`
	Type   string    `json:"type"`
	// Providers are the providers asked; empty: every permitted one.
	Providers   []string   `json:"providers"`
	TLP         string     `json:"tlp"`
	PAP         string     `json:"pap"`
	CallbackURL string     `json:"callback_url,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at"` // nil until Status is JobDone
	// Results is the gateway path of the results (JobResults reads them).
	Results string `json:"results"`
	// Callback is the delivery of the finish to CallbackURL: nil until the
	// job is done, and without a CallbackURL.
	Callback *JobCallback `json:"callback"`

	// Replayed is true when the gateway answered a submission with the
	// job an earlier submission under the same Idempotency-Key created
	// (Idempotent-Replayed: true) — also when that earlier one was this
	// call's own first attempt, whose answer was lost.
	Replayed bool `json:"-"`
	// IdempotencyKey is the key the submission was sent with, yours or
	// generated; empty on Job's answers.
	IdempotencyKey string `json:"-"`
	// RequestID is the gateway's X-Request-Id for this call.
	RequestID string `json:"-"`
	// Raw is the body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// Final is how many items are final: done, failed, dead or withheld.
func (j *Job) Final() int {
	return j.Counts.Done + j.Counts.Failed + j.Counts.Dead + j.Counts.Withheld
}

// JobCounts are a job's items by state. Running counts the queued items a
// worker holds now; it is part of Queued, not in addition to it.
type JobCounts struct {
	Queued   int `json:"queued"`
	Running  int `json:"running"`
	Done     int `json:"done"`
	Failed   int `json:"failed"`
	Dead     int `json:"dead"`
	Withheld int `json:"withheld"`
}

// Callback delivery states (JobCallback.State).
const (
	CallbackPending   = "pending"   // queued or retrying
	CallbackDelivered = "delivered" // the receiver answered 2xx
	CallbackFailed    = "failed"    // refused for good, or the attempts ran out
)

// JobCallback is how the gateway's signed callback to a job's CallbackURL
// went.
type JobCallback struct {
	State string `json:"state"` // CallbackPending, CallbackDelivered or CallbackFailed
	// WebhookID is the callback's webhook-id (Standard Webhooks), the
	// receiver's key for deduplicating deliveries.
	WebhookID     string     `json:"webhook_id"`
	Attempts      int        `json:"attempts"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	// LastStatus is the receiver's HTTP status of the last attempt, if it
	// answered.
	LastStatus int `json:"last_status,omitempty"`
	// LastError says why the last attempt failed: timeout, tls, network,
	// status, redirect or refused.
	LastError string `json:"last_error,omitempty"`
}

// jobBody is POST /v1/jobs's JSON body.
type jobBody struct {
	Indicators  []string `json:"indicators"`
	Type        string   `json:"type,omitempty"`
	Providers   []string `json:"providers,omitempty"`
	CallbackURL string   `json:"callback_url,omitempty"`
	TLP         string   `json:"tlp,omitempty"`
	PAP         string   `json:"pap,omitempty"`
}

// SubmitJob submits indicators as one bulk job (POST /v1/jobs, a JSON
// body) and returns it as queued. Non-2xx answers are *Error: 413
// too-many-items over the gateway's jobs.max_items, 422
// idempotency-key-reused for a key used before with other indicators or
// options.
//
// Every submission carries an Idempotency-Key (opts', or one generated
// for the call), so the SDK retries it as it retries a GET — also after a
// connection broke with the request sent: the gateway answers a resend
// with the job the first sending created.
func (c *Client) SubmitJob(ctx context.Context, indicators []string, opts JobOptions) (*Job, error) {
	if len(indicators) == 0 {
		return nil, errors.New("submit job: no indicators")
	}
	key, err := opts.idempotencyKey()
	if err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	if err := checkProviders(opts.Providers); err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	b, err := json.Marshal(jobBody{Indicators: indicators, Type: opts.Type, Providers: opts.Providers,
		CallbackURL: opts.CallbackURL, TLP: opts.TLP, PAP: opts.PAP})
	if err != nil {
		return nil, fmt.Errorf("submit job: encoding the request: %w", err)
	}
	return c.submit(ctx, request{method: http.MethodPost, path: "v1/jobs", contentType: "application/json",
		body: bytesBody(b), header: http.Header{"Idempotency-Key": {key}}}, key)
}

// SubmitJobNDJSON is SubmitJob for a large submission streamed from r: one
// indicator per line, as a JSON string ("evil.example") or an object
// ({"indicator": "evil.example"}); blank lines are skipped. The SDK reads r
// as it sends it and does not close it; the gateway refuses a malformed
// line by its number.
//
// A retry must send r again from the start: an io.Seeker (an *os.File, a
// *bytes.Reader) is rewound to where it was when the call began; any other
// reader is sent again only if the failed attempt read none of it (the
// connection was refused), and otherwise the call returns the failure.
func (c *Client) SubmitJobNDJSON(ctx context.Context, r io.Reader, opts JobOptions) (*Job, error) {
	if r == nil {
		return nil, errors.New("submit job: the NDJSON reader is nil")
	}
	key, err := opts.idempotencyKey()
	if err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	if err := checkProviders(opts.Providers); err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	q := url.Values{}
	for name, v := range map[string]string{"type": opts.Type, "tlp": opts.TLP, "pap": opts.PAP, "callback_url": opts.CallbackURL} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if len(opts.Providers) > 0 {
		q.Set("providers", strings.Join(opts.Providers, ","))
	}
	return c.submit(ctx, request{method: http.MethodPost, path: "v1/jobs", query: q, contentType: "application/x-ndjson",
		body: newStreamBody(r), header: http.Header{"Idempotency-Key": {key}}}, key)
}

func (c *Client) submit(ctx context.Context, rq request, key string) (*Job, error) {
	rep, err := c.send(ctx, rq)
	if err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	j, err := decodeJob(rep)
	if err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	j.Replayed = rep.header.Get("Idempotent-Replayed") == "true"
	j.IdempotencyKey = key
	return j, nil
}

// Job reads a job's status, its counts current (GET /v1/jobs/{id}). A job
// of another client, like an unknown one, is a 404 not-found *Error.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	p, err := jobPath(id)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	rep, err := c.get(ctx, p, nil)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	j, err := decodeJob(rep)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return j, nil
}

// WaitJob reads the job every interval (≤ 0: DefaultJobPollInterval)
// until it is done, and returns it. progress, if not nil, sees every
// status read, the last one included. It stops when ctx ends or a read
// fails (after Job's own retries), returning the last status read (nil if
// none) with the error; the job itself runs on at the gateway.
func (c *Client) WaitJob(ctx context.Context, id string, interval time.Duration, progress func(*Job)) (*Job, error) {
	if interval <= 0 {
		interval = DefaultJobPollInterval
	}
	var last *Job
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			return last, fmt.Errorf("wait job: %w", err)
		}
		last = j
		if progress != nil {
			progress(j)
		}
		if j.Status == JobDone {
			return j, nil
		}
		if err := c.sleep(ctx, interval); err != nil {
			return last, fmt.Errorf("wait job: %w", err)
		}
	}
}

func decodeJob(rep *reply) (*Job, error) {
	var j Job
	if err := json.Unmarshal(rep.body, &j); err != nil {
		return nil, fmt.Errorf("decoding response: %w", err)
	}
	if j.ID == "" {
		return nil, errors.New("decoding response: the job has no id")
	}
	j.RequestID = rep.header.Get("X-Request-Id")
	j.Raw = rep.body
	return &j, nil
}

// idempotencyKey is o's key, checked as the gateway checks it, or a new
// random one. The messages never echo the key.
func (o JobOptions) idempotencyKey() (string, error) {
	k := o.IdempotencyKey
	if k == "" {
		return "sdk-" + rand.Text(), nil
	}
	if len(k) > maxIdempotencyKey {
		return "", fmt.Errorf("%w: it must be 1 to %d characters", ErrInvalidIdempotencyKey, maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", fmt.Errorf("%w: it must be printable ASCII without spaces", ErrInvalidIdempotencyKey)
		}
	}
	return k, nil
}

// checkProviders refuses names the gateway's comma-separated list cannot
// carry.
func checkProviders(providers []string) error {
	for _, p := range providers {
		if p == "" || strings.Contains(p, ",") {
			return fmt.Errorf("invalid provider name %q", p)
		}
	}
	return nil
}

// jobPath is the escaped path of job id below the base URL.
func jobPath(id string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("invalid job id %q", id)
	}
	return "v1/jobs/" + url.PathEscape(id), nil
}
