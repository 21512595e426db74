package memory

import (
	"context"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/govern"
)

var _ govern.QuotaCounter = (*Counter)(nil)

// Counter is an in-memory govern.QuotaCounter: the reference the
// conformance suite's semantics are read from, and the counter for tests.
// It is not durable; production single-node setups use SQLite.
type Counter struct {
	clock clock.Clock

	mu      sync.Mutex
	windows map[string]counted
	ops     int
}

type counted struct {
	used    int64
	expires time.Time
}

// NewCounter returns an empty Counter on clk (nil: the system clock):
// windows expire by its time.
func NewCounter(clk clock.Clock) *Counter {
	return &Counter{clock: clock.Or(clk), windows: make(map[string]counted)}
}

// Consume takes one unit from every window if all have room, else none.
func (c *Counter) Consume(_ context.Context, windows []govern.Window) (bool, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.tick(now)
	for i, w := range windows {
		if c.used(w.Key, now) >= w.Limit {
			return false, i, nil
		}
	}
	for _, w := range windows {
		c.windows[w.Key] = counted{used: c.used(w.Key, now) + 1, expires: w.Expires}
	}
	return true, -1, nil
}

// Refund returns one unit to every window, never going below zero.
func (c *Counter) Refund(_ context.Context, windows []govern.Window) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.tick(now)
	for _, w := range windows {
		switch n := c.used(w.Key, now); {
		case n > 1:
			c.windows[w.Key] = counted{used: n - 1, expires: w.Expires}
		default:
			delete(c.windows, w.Key)
		}
	}
	return nil
}

// Used returns the units used in each window (0 for unknown or expired).
func (c *Counter) Used(_ context.Context, windows []govern.Window) ([]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.tick(now)
	out := make([]int64, len(windows))
	for i, w := range windows {
		out[i] = c.used(w.Key, now)
	}
	return out, nil
}

// used reads a window's count; an expired window counts as empty (and is
// dropped), so a period's usage never leaks into the next.
func (c *Counter) used(key string, now time.Time) int64 {
	w, ok := c.windows[key]
	if !ok {
		return 0
	}
	if !w.expires.After(now) {
		delete(c.windows, key)
		return 0
	}
	return w.used
}

// tick drops expired windows every sweepEvery operations, so keys of past
// days and months do not pile up. Callers hold c.mu.
func (c *Counter) tick(now time.Time) {
	c.ops++
	if c.ops < sweepEvery {
		return
	}
	c.ops = 0
	for k, w := range c.windows {
		if !w.expires.After(now) {
			delete(c.windows, k)
		}
	}
}

func (c *Counter) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.windows)
}
