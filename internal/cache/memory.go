package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/intelgate/intelgate/internal/clock"
)

// MemoryOptions configures the hot tier.
type MemoryOptions struct {
	// MaxBytes bounds the tier by Entry.Size. 0 disables it: NewMemory
	// then returns a Memory that stores nothing and always misses, so the
	// caller keeps one code path.
	MaxBytes int64
	// Clock decides expiry; nil is the wall clock.
	Clock clock.Clock
	// OnEvict, if set, is told of every entry the tier drops by itself:
	// reason "size" (evicted to stay under MaxBytes) or "expired". Purges
	// and replacements are not reported. It runs on a goroutine of its
	// own, after the fact; it must not block for long.
	OnEvict func(provider, reason string)
}

// Memory is the hot tier: the only place plaintext answers live, bounded
// by bytes, safe for concurrent use. A nil *Memory is a disabled tier.
//
// It is built on otter v2, whose eviction policy is adaptive W-TinyLFU:
// a small LRU admission window (1% of the weight at first) in front of a
// segmented-LRU main region (probation and protected),
// where a newcomer displaces a main-region victim only if a count-min
// sketch of recent accesses says it is used more often; the window's share
// adapts to the workload by hill climbing. Lookups of threat intel are
// Zipf-like (a few indicators are asked for constantly, most once), and a
// bulk job may push thousands of one-off indicators through in a minute.
// Under plain LRU that job would flush the hot set and every analyst's
// next query would spend quota again; under W-TinyLFU the one-off entries
// churn through the window and rarely win admission against hot ones
// (scan resistance), while the frequency sketch ages so that yesterday's
// hot set does not squat forever.
//
// Each entry expires at its Entry.Expires through otter's per-entry expiry
// (a timer wheel, so expired entries free their memory without being read
// again); Get also checks Entry.Live, so an entry is never returned at or
// after Expires whatever the timer's granularity.
//
// Entry.Data is copied on Put and on Get: the tier never shares memory
// with a caller, so a caller that mutates a buffer cannot change what
// another client is served.
type Memory struct {
	c   *otter.Cache[Key, Entry]
	clk clock.Clock
}

var _ Tier = (*Memory)(nil)

// NewMemory builds the hot tier; MaxBytes 0 gives a disabled one.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("MaxBytes must not be negative, is %d", opts.MaxBytes)
	}
	clk := clock.Or(opts.Clock)
	m := &Memory{clk: clk}
	if opts.MaxBytes == 0 {
		return m, nil
	}
	o := &otter.Options[Key, Entry]{
		MaximumWeight: uint64(opts.MaxBytes),
		Weigher:       weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[Key, Entry]) time.Duration {
			return e.Value.Expires.Sub(clk.Now())
		}),
		// What otter logs (a panicking loader) cannot happen without
		// loaders, and a log line could name a key.
		Logger: &otter.NoopLogger{},
	}
	if _, wall := clk.(clock.System); !wall {
		// otter reads its own clock to expire entries; it must read ours,
		// or a test's fake clock would expire nothing.
		o.Clock = otterClock{clk}
	}
	if onEvict := opts.OnEvict; onEvict != nil {
		o.OnDeletion = func(e otter.DeletionEvent[Key, Entry]) {
			switch e.Cause {
			case otter.CauseOverflow:
				onEvict(e.Key.Provider, "size")
			case otter.CauseExpiration:
				onEvict(e.Key.Provider, "expired")
			}
		}
	}
	c, err := otter.New(o)
	if err != nil {
		return nil, fmt.Errorf("build hot tier: %w", err)
	}
	m.c = c
	return m, nil
}

// weigh is Entry.Size, saturated to otter's uint32 weights; never 0, as
// otter never evicts a weightless entry for size.
func weigh(k Key, e Entry) uint32 {
	return uint32(min(max(e.Size(k), 1), math.MaxUint32))
}

// Enabled reports whether m stores anything.
func (m *Memory) Enabled() bool { return m != nil && m.c != nil }

// Get returns k's entry while it is live.
func (m *Memory) Get(_ context.Context, k Key) (Entry, bool, error) {
	if !m.Enabled() {
		return Entry{}, false, nil
	}
	e, ok := m.c.GetIfPresent(k)
	if !ok {
		return Entry{}, false, nil
	}
	if !e.Live(m.clk.Now()) {
		m.c.Invalidate(k)
		return Entry{}, false, nil
	}
	e.Data = bytes.Clone(e.Data)
	return e, true, nil
}

// Put stores e under k, replacing any entry. An entry that is no longer
// live, or that alone outweighs the tier, is not stored (and removes the
// entry it would have replaced).
func (m *Memory) Put(_ context.Context, k Key, e Entry) error {
	if !m.Enabled() {
		return nil
	}
	if !e.Live(m.clk.Now()) || uint64(weigh(k, e)) > m.c.GetMaximum() {
		m.c.Invalidate(k)
		return nil
	}
	e.Data = bytes.Clone(e.Data)
	m.c.Set(k, e)
	return nil
}

// Purge removes the live entries in s. It walks the whole tier: purges are
// rare admin actions, and an index by provider and indicator would cost
// memory on every entry for them.
func (m *Memory) Purge(_ context.Context, s Scope) (int, error) {
	if err := s.validate(); err != nil {
		return 0, err
	}
	if !m.Enabled() {
		return 0, nil
	}
	now := m.clk.Now()
	n := 0
	for k := range m.c.Keys() {
		if !s.matches(k) {
			continue
		}
		if e, ok := m.c.Invalidate(k); ok && e.Live(now) {
			n++
		}
	}
	return n, nil
}

// Bytes is the weight the tier holds (a metric; approximate while
// eviction is under way).
func (m *Memory) Bytes() int64 {
	if !m.Enabled() {
		return 0
	}
	return int64(m.c.WeightedSize())
}

// Len is the number of entries the tier holds (a metric; it may count
// expired entries not removed yet).
func (m *Memory) Len() int {
	if !m.Enabled() {
		return 0
	}
	return m.c.EstimatedSize()
}

// Close stops otter's clean-up goroutine (for leak-checking tests); m
// still works afterwards, expiring entries on access and on writes.
func (m *Memory) Close() {
	if m.Enabled() {
		m.c.StopAllGoroutines()
	}
}

// validate refuses an indicator purge without a provider: the tags are
// per provider, and "these indicators everywhere" is not a scope the
// admin API offers.
func (s Scope) validate() error {
	if s.Provider == "" && len(s.Indicators) > 0 {
		return errors.New("purge scope: indicators need a provider")
	}
	return nil
}

// matches reports whether s selects k.
func (s Scope) matches(k Key) bool {
	if s.Provider == "" {
		return true
	}
	if k.Provider != s.Provider {
		return false
	}
	return len(s.Indicators) == 0 || slices.Contains(s.Indicators, k.subject())
}

// otterClock is a clock.Clock as otter reads time. It delivers no ticks,
// since clock.Clock has no ticker (and a fake clock's After moves it):
// otter then expires entries during its maintenance on reads and writes
// rather than on a periodic clean-up.
type otterClock struct{ c clock.Clock }

func (o otterClock) NowNano() int64                    { return o.c.Now().UnixNano() }
func (otterClock) Tick(time.Duration) <-chan time.Time { return nil }
