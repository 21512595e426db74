package memory

import (
	"math"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
)

// gcra decides one request at now against a bucket whose theoretical
// arrival time is tat (zero for a new key) and returns the decision and the
// new TAT. The Redis backend's Lua script implements the same arithmetic;
// governtest pins both.
//
// With interval T and burst B, a request is allowed when tat+T-B·T <= now:
// the bucket holds B units and refills one every T. Remaining is how many
// more units fit now, RetryAfter how long until the next one does, and
// ResetAfter how long until the bucket is full (tat-now). take=false is
// Peek: it asks whether one unit fits without storing anything. With take
// and maxWait > 0 it is Reserve: a unit due within maxWait is booked now
// and RetryAfter says how long until it may be used.
func gcra(now, tat time.Time, l govern.Limit, take bool, maxWait time.Duration) (govern.Decision, time.Time) {
	if l.Unlimited() || l.Interval() <= 0 {
		// interval <= 0: more units than nanoseconds per period, no limit
		// worth enforcing.
		return govern.Decision{Allowed: true, Remaining: math.MaxInt}, tat
	}
	interval, burst := l.Interval(), max(l.Burst, 1)
	tau := time.Duration(math.MaxInt64)
	if int64(burst) <= math.MaxInt64/int64(interval) {
		tau = interval * time.Duration(burst)
	}
	if tat.Before(now) {
		tat = now
	}
	// available: how far now is past the moment the bucket was empty.
	available := now.Sub(tat.Add(-tau))
	resetAfter := tat.Sub(now)
	if available < interval {
		wait := interval - available
		if !take || wait > maxWait {
			return govern.Decision{RetryAfter: wait, ResetAfter: resetAfter}, tat
		}
		// Reserve: book the next unit in order; the caller waits for it.
		tat = tat.Add(interval)
		return govern.Decision{Allowed: true, RetryAfter: wait, ResetAfter: resetAfter + interval}, tat
	}
	if !take {
		return govern.Decision{Allowed: true, Remaining: int(available / interval), ResetAfter: resetAfter}, tat
	}
	tat = tat.Add(interval)
	return govern.Decision{
		Allowed:    true,
		Remaining:  int((available - interval) / interval),
		ResetAfter: resetAfter + interval,
	}, tat
}
