// Package memory is the in-process governance state for a single node:
// GCRA limits and pauses in maps, quotas in a QuotaCounter (SQLite in
// production, so a restart keeps the day's usage; in memory for tests).
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/govern"
)

var _ govern.State = (*State)(nil)

// sweepEvery is how many operations pass between sweeps of expired entries:
// often enough that memory stays bounded by the live keys, rare enough that
// the O(n) scan is amortised to almost nothing.
const sweepEvery = 1024

// Options configures a State.
type Options struct {
	// Clock is the time limits, pauses and TryPause lengths are measured
	// on; nil is the system clock. Tests inject a clocktest.Clock. It
	// should be the governor's clock (govern.Options.Clock): the governor
	// computes pause ends and quota expiries on its own.
	Clock clock.Clock
	// Quotas counts calendar quotas; nil means an in-memory Counter on the
	// same clock (fine for tests; production passes the store, whose
	// clock is its own: see sqlite.Options.Clock).
	Quotas govern.QuotaCounter
}

func (o Options) clock() clock.Clock { return clock.Or(o.Clock) }

// State is a govern.State held in this process.
type State struct {
	govern.QuotaCounter
	clock clock.Clock

	mu     sync.Mutex
	tats   map[string]time.Time // GCRA theoretical arrival time per key
	pauses map[string]time.Time
	ops    int
}

// New returns an empty State.
func New(opts Options) *State {
	clk := opts.clock()
	quotas := opts.Quotas
	if quotas == nil {
		quotas = NewCounter(clk)
	}
	return &State{
		QuotaCounter: quotas,
		clock:        clk,
		tats:         make(map[string]time.Time),
		pauses:       make(map[string]time.Time),
	}
}

// Allow takes one unit from key's bucket if one is available.
func (s *State) Allow(_ context.Context, key string, l govern.Limit) (govern.Decision, error) {
	return s.rate(key, l, true, 0), nil
}

// Reserve books the next unit of key's bucket if it is due within maxWait.
func (s *State) Reserve(_ context.Context, key string, l govern.Limit, maxWait time.Duration) (govern.Decision, error) {
	return s.rate(key, l, true, max(maxWait, 0)), nil
}

// Drain empties key's bucket as of until (see govern.RateLimiter).
func (s *State) Drain(_ context.Context, key string, l govern.Limit, until time.Time) error {
	if l.Unlimited() || l.Interval() <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// GCRA allows a unit when now >= tat+T-B·T; the first unit is due at
	// until, and the bucket holds nothing more.
	tat := until.Add(time.Duration(max(l.Burst, 1)-1) * l.Interval())
	if tat.After(s.tats[key]) {
		s.tats[key] = tat
	}
	return nil
}

// Peek reports key's bucket without taking a unit.
func (s *State) Peek(_ context.Context, key string, l govern.Limit) (govern.Decision, error) {
	return s.rate(key, l, false, 0), nil
}

func (s *State) rate(key string, l govern.Limit, take bool, maxWait time.Duration) govern.Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.tick(now)
	d, tat := gcra(now, s.tats[key], l, take, maxWait)
	if take && d.Allowed && tat.After(now) {
		s.tats[key] = tat
	}
	return d
}

// PauseUntil pauses key until until, extending and never shortening.
func (s *State) PauseUntil(_ context.Context, key string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.tick(now)
	if until.After(now) && until.After(s.pauses[key]) {
		s.pauses[key] = until
	}
	return nil
}

// PausedUntil returns the end of key's pause, or the zero time once it has
// passed.
func (s *State) PausedUntil(_ context.Context, key string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.tick(now)
	until, ok := s.pauses[key]
	if !ok || !until.After(now) {
		return time.Time{}, nil
	}
	return until, nil
}

// TryPause pauses key for d if it is not paused now.
func (s *State) TryPause(_ context.Context, key string, d time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.tick(now)
	if cur, ok := s.pauses[key]; ok && cur.After(now) {
		return false, nil
	}
	if d <= 0 {
		return false, nil
	}
	s.pauses[key] = now.Add(d)
	return true, nil
}

// Unpause ends key's pause.
func (s *State) Unpause(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pauses, key)
	return nil
}

// Ping always succeeds: the state is in this process.
func (s *State) Ping(context.Context) error { return nil }

// tick counts an operation and, every sweepEvery, drops entries that no
// longer say anything: a TAT in the past reads exactly like a new key, and
// a pause in the past like no pause. Callers hold s.mu.
func (s *State) tick(now time.Time) {
	s.ops++
	if s.ops < sweepEvery {
		return
	}
	s.ops = 0
	for k, tat := range s.tats {
		if !tat.After(now) {
			delete(s.tats, k)
		}
	}
	for k, until := range s.pauses {
		if !until.After(now) {
			delete(s.pauses, k)
		}
	}
}

// size reports the live entries, for tests of the sweep.
func (s *State) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tats) + len(s.pauses)
}
