// Package govern paces upstream calls so providers never have to say no: a
// GCRA rate per key, calendar quotas, shared pauses after an upstream's
// "slow down", and key pools. The state behind it has two backends with one
// conformance suite (governtest): in-process memory with SQLite quota
// counters (embedded) and Redis (several replicas).
package govern

import (
	"context"
	"errors"
	"time"
)

// Limit is a GCRA limit: Rate units per Period, with bursts of up to Burst.
// A zero Rate means unlimited.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Unlimited reports whether l imposes no rate.
func (l Limit) Unlimited() bool { return l.Rate <= 0 || l.Period <= 0 }

// Interval is GCRA's emission interval: the time one unit takes to refill.
func (l Limit) Interval() time.Duration { return l.Period / time.Duration(l.Rate) }

// Decision is the outcome of a rate check.
type Decision struct {
	Allowed   bool
	Remaining int // units left right after this decision
	// RetryAfter: when !Allowed, until one unit is available; when a
	// Reserve is Allowed, how long until the booked unit may be used.
	RetryAfter time.Duration
	ResetAfter time.Duration // until the bucket is full again
}

// RateLimiter is a GCRA limiter over named keys. Implementations must be
// safe for concurrent use and, for shared backends, atomic across replicas.
type RateLimiter interface {
	// Allow takes one unit from key's bucket if one is available.
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
	// Reserve is Allow that also books the next unit when it is due within
	// maxWait: the unit is taken now, in order, and RetryAfter says how
	// long to wait before using it. Waiters served by booking instead of
	// sleeping and racing are served in arrival order, and none is
	// refused while capacity is due within its wait.
	Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Decision, error)
	// Drain empties key's bucket as of until: no unit is available before
	// until, and from then units come one per interval, with no burst
	// credit. After an upstream's pause the key restarts at its pace, not
	// with every waiter at once.
	Drain(ctx context.Context, key string, l Limit, until time.Time) error
	// Peek reports key's bucket without taking a unit (Allowed says whether
	// a unit is available now).
	Peek(ctx context.Context, key string, l Limit) (Decision, error)
}

// Window is one calendar quota counter, e.g. a key's units on 2026-11-27.
type Window struct {
	Key     string    // unique per counter and period, e.g. "q:socialeye:prod-1:d:2026-11-27"
	Limit   int64     // units allowed in the period (> 0)
	Expires time.Time // end of the period; backends may drop the counter after it
}

// QuotaCounter counts units per calendar window, durably: a restart must not
// reset a daily quota.
type QuotaCounter interface {
	// Consume takes one unit from every window if all have room, atomically;
	// otherwise it takes none and returns ok=false with the index of the
	// first exhausted window.
	Consume(ctx context.Context, windows []Window) (ok bool, exhausted int, err error)
	// Refund returns one unit to every window (a unit taken for a call that
	// never went upstream). Counters never go below zero.
	Refund(ctx context.Context, windows []Window) error
	// Used returns the units used in each window (0 for unknown ones).
	Used(ctx context.Context, windows []Window) ([]int64, error)
}

// Pauser holds shared pauses: after an upstream says "slow down", every
// replica waits until the pause ends.
type Pauser interface {
	// PauseUntil pauses key until until; it extends a shorter pause and
	// never shortens a longer one.
	PauseUntil(ctx context.Context, key string, until time.Time) error
	// PausedUntil returns the end of key's pause, or the zero time.
	PausedUntil(ctx context.Context, key string) (time.Time, error)
	// TryPause pauses key for d only if it is not paused now, and reports
	// whether it did: atomically, so of several replicas racing for one
	// key exactly one wins. It is how "at most once per interval across
	// every replica" is made (an auth check per key per minute). A length,
	// not an end: no replica's clock decides when it expires.
	TryPause(ctx context.Context, key string, d time.Duration) (bool, error)
	// Unpause ends key's pause now (a revoked key that passed its check).
	Unpause(ctx context.Context, key string) error
}

// State is a complete governance backend.
type State interface {
	RateLimiter
	QuotaCounter
	Pauser
	// Ping checks the backend is reachable (readiness).
	Ping(ctx context.Context) error
}

// ErrUnavailable wraps backend failures (Redis down, timeout), so the
// governor can apply the configured fail mode.
var ErrUnavailable = errors.New("governance state unavailable")
