// Package jobs is intelgate's bulk lookups: a submission of many
// indicators becomes a job whose items River works one by one, each
// through the same lookup service (internal/lookup) an interactive
// request uses — scope, minimisation, client allowance, cache, governor,
// audit — so a bulk lookup is never a side door.
//
// Durability: the job, its items and every River job are inserted in one
// transaction, so a submission is either wholly queued or not at all; an
// item's result is written in the transaction that completes its River
// job (river.JobCompleteTx), so a crash repeats an item's lookup at most,
// never its result. River runs on the store's own database: riversqlite on
// the embedded default (the store's single writer connection), riverpgxv5
// on PostgreSQL (the store's pool), one code path over either (engine).
//
// Nothing readable of a lookup is at rest: an item's indicator and result
// are sealed (internal/seal) and bound to their job and number, River's
// arguments hold only those two, and River's error column only a failure
// kind.
package jobs

import (
	"errors"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/minimise"
)

// ItemState is where an item is.
type ItemState string

// The item states. Every state but queued is final.
const (
	// ItemQueued: waiting, running, retrying or snoozed for quota.
	ItemQueued ItemState = "queued"
	// ItemDone: every provider asked answered (ok or not found), or was
	// withheld from while another answered.
	ItemDone ItemState = "done"
	// ItemFailed: the item cannot succeed as asked (an invalid indicator,
	// a type no permitted provider supports, a provider's final refusal).
	ItemFailed ItemState = "failed"
	// ItemDead: a transient failure outlasted jobs.max_attempts; it is in
	// the dead-letter queue until retried.
	ItemDead ItemState = "dead"
	// ItemWithheld: query minimisation kept the indicator from every
	// provider; nothing was sent.
	ItemWithheld ItemState = "withheld"
)

// Status is a job's state, derived from its items.
type Status string

// The job statuses.
const (
	StatusQueued  Status = "queued"  // no item final yet
	StatusRunning Status = "running" // some items final, some not
	StatusDone    Status = "done"    // every item final
)

// Submission is what a client asks for in one job.
type Submission struct {
	// Indicators, one item each, in order (item numbers start at 1).
	Indicators []string
	// Type is the type hint for every indicator ("" or auto: detected per
	// item).
	Type indicator.Type
	// Providers limits the providers asked (nil: every permitted provider
	// that supports an item's type).
	Providers []string
	// CallbackURL receives the signed summary when the job finishes ("":
	// poll instead).
	CallbackURL string
	// Markings are the TLP/PAP of every item (zero fields: the client's
	// defaults, as on an interactive lookup).
	Markings minimise.Markings
	// IdempotencyKey, when set, makes a resubmission with the same key
	// return the job it created instead of another.
	IdempotencyKey string
}

// Counts are a job's items by state; Running is the part of Queued a
// worker holds now.
type Counts struct {
	Queued   int `json:"queued"`
	Running  int `json:"running"`
	Done     int `json:"done"`
	Failed   int `json:"failed"`
	Dead     int `json:"dead"`
	Withheld int `json:"withheld"`
}

// Job is a job as its client sees it.
type Job struct {
	ID          string
	Client      string
	Status      Status
	Total       int
	Counts      Counts
	Type        indicator.Type
	Providers   []string
	CallbackURL string
	Markings    minimise.Markings
	CreatedAt   time.Time
	FinishedAt  time.Time // zero until every item is final
	// Callback is the delivery of the finish to CallbackURL; nil until the
	// job finished (or without a callback_url).
	Callback *Callback
}

// ItemResult is one item's answer: the lookup's outcomes, one per
// provider, as an interactive /v1/lookup has them.
type ItemResult struct {
	Seq   int
	State ItemState
	// Indicator is as submitted; Type and Normalized as parsed (empty
	// when the indicator did not parse).
	Indicator  string
	Type       indicator.Type
	Normalized string
	// Outcomes are final items' outcomes; none while queued.
	Outcomes []lookup.Outcome
	// Failure is why a failed or dead item has no outcomes of its own
	// (an invalid indicator, the client's scope), or the last transient
	// failure of a dead one; nil otherwise.
	Failure *lookup.Failure
	// Attempts is how many times the item was worked.
	Attempts int
}

// Errors of the queue.
var (
	// ErrNotFound: no job of that id belongs to the caller (another
	// client's job is not found either).
	ErrNotFound = errors.New("no such job")
	// ErrTooMany: the submission holds more indicators than jobs.max_items.
	ErrTooMany = errors.New("too many indicators")
	// ErrEmpty: the submission holds no indicator.
	ErrEmpty = errors.New("no indicators")
	// ErrIdempotencyReused: the Idempotency-Key was used before with a
	// different submission.
	ErrIdempotencyReused = errors.New("idempotency key reused with a different submission")
)
