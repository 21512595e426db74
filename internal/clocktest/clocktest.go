// Package clocktest is a fake clock for tests, so that limiters, quota
// calendars, pauses and backoffs are tested exactly and without sleeping.
// Time moves only when a test calls Advance, or — for code that waits
// through After — by exactly as long as the code waits.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After is time.After on the fake clock: it moves the clock forward by d
// and returns a channel that has already fired, so a wait takes no wall
// time and the test can assert exactly how long the code waited.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(max(d, 0))
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}
