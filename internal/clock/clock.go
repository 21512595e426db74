// Package clock is the one notion of time every layer reads — governor,
// breaker, pipeline backoff, quota counters, pauses — so a test can replace
// it everywhere with internal/clocktest and assert exact waits without
// sleeping.
package clock

import "time"

// Clock is time as a component sees it.
type Clock interface {
	Now() time.Time
	// After is time.After: a channel that fires after d.
	After(d time.Duration) <-chan time.Time
}

// System is the wall clock.
type System struct{}

// Now is time.Now.
func (System) Now() time.Time { return time.Now() }

// After is time.After.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or is c, or the wall clock when c is nil: the default for every Options.Clock.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}
