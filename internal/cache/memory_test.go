package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/cache/cachetest"
	"github.com/intelgate/intelgate/internal/clocktest"
)

func newMemory(t *testing.T, opts cache.MemoryOptions) *cache.Memory {
	t.Helper()
	m, err := cache.NewMemory(opts)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, clk *clocktest.Clock) cache.Tier {
		return newMemory(t, cache.MemoryOptions{MaxBytes: 64 << 20, Clock: clk})
	})
}

var testStart = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

func liveEntry(now time.Time, size int) cache.Entry {
	return cache.Entry{Data: make([]byte, size), FetchedAt: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(time.Hour)}
}

func key(provider, indicator string) cache.Key {
	return cache.Key{Provider: provider, Environment: "prod", Type: "ipv4", Indicator: indicator, UpstreamType: "ip"}
}

func TestNewMemoryRefusesNegative(t *testing.T) {
	t.Parallel()
	_, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: -1})
	require.ErrorContains(t, err, "MaxBytes must not be negative")
}

func TestMemoryDisabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disabled := newMemory(t, cache.MemoryOptions{})
	var nilMemory *cache.Memory
	for _, m := range []*cache.Memory{disabled, nilMemory} {
		require.False(t, m.Enabled())
		require.NoError(t, m.Put(ctx, key("vt", "a"), liveEntry(time.Now(), 10)))
		_, ok, err := m.Get(ctx, key("vt", "a"))
		require.NoError(t, err)
		require.False(t, ok)
		n, err := m.Purge(ctx, cache.Scope{})
		require.NoError(t, err)
		require.Zero(t, n)
		require.Zero(t, m.Bytes())
		require.Zero(t, m.Len())
		m.Close()
	}
}

func TestMemoryBytesAndLen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clocktest.New(testStart)
	m := newMemory(t, cache.MemoryOptions{MaxBytes: 1 << 20, Clock: clk})
	k := key("vt", "198.51.100.1")
	e := liveEntry(clk.Now(), 1000)
	// The weight is accounted by otter's maintenance, which may lag a write.
	settles := func(bytes int64, n int) {
		t.Helper()
		require.Eventually(t, func() bool { return m.Bytes() == bytes && m.Len() == n }, 10*time.Second, time.Millisecond)
	}
	require.NoError(t, m.Put(ctx, k, e))
	settles(int64(e.Size(k)), 1)
	small := liveEntry(clk.Now(), 10)
	require.NoError(t, m.Put(ctx, k, small), "a replacement is reweighed")
	settles(int64(small.Size(k)), 1)
	_, err := m.Purge(ctx, cache.Scope{})
	require.NoError(t, err)
	settles(0, 0)
}

func TestMemoryBoundedByBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clocktest.New(testStart)
	var (
		mu      sync.Mutex
		evicted = map[string]int{}
	)
	const maxBytes = 64 << 10
	m := newMemory(t, cache.MemoryOptions{MaxBytes: maxBytes, Clock: clk, OnEvict: func(provider, reason string) {
		mu.Lock()
		defer mu.Unlock()
		evicted[provider+"/"+reason]++
	}})
	for i := range 200 {
		require.NoError(t, m.Put(ctx, key("vt", fmt.Sprint(i)), liveEntry(clk.Now(), 1024)))
	}
	// otter evicts during its maintenance, which may lag a write.
	require.Eventually(t, func() bool { return m.Bytes() <= maxBytes && m.Len() < 200 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return evicted["vt/size"] > 0
	}, 10*time.Second, 5*time.Millisecond)

	// An entry heavier than the whole tier is not stored.
	huge := key("vt", "huge")
	require.NoError(t, m.Put(ctx, huge, liveEntry(clk.Now(), maxBytes)))
	_, ok, err := m.Get(ctx, huge)
	require.NoError(t, err)
	require.False(t, ok)
	require.LessOrEqual(t, m.Bytes(), int64(maxBytes))
}

// TestMemoryScanResistance: a bulk job pushing thousands of one-off
// indicators through must not flush the hot set the analysts keep asking
// for — the reason the hot tier is W-TinyLFU and not LRU. Each hot key is
// requested once per 500 cold entries, 2.5 times what the tier holds: LRU
// would have evicted it before every request, and hit never.
func TestMemoryScanResistance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clocktest.New(testStart)
	const size = 900 // Entry.Size ≈ 1 KiB with the key overhead
	m := newMemory(t, cache.MemoryOptions{MaxBytes: 200 << 10, Clock: clk})
	hot := make([]cache.Key, 50)
	for i := range hot {
		hot[i] = key("vt", fmt.Sprintf("hot-%d", i))
	}
	// lookup is read-through, as the lookup service does.
	lookup := func(k cache.Key) bool {
		_, ok, err := m.Get(ctx, k)
		require.NoError(t, err)
		if !ok {
			require.NoError(t, m.Put(ctx, k, liveEntry(clk.Now(), size)))
		}
		return ok
	}
	for range 20 {
		for _, k := range hot {
			lookup(k)
		}
	}
	hits, lookups := 0, 0
	for i := range 20000 {
		require.NoError(t, m.Put(ctx, key("vt", fmt.Sprintf("cold-%d", i)), liveEntry(clk.Now(), size)))
		if i%10 == 0 {
			if lookup(hot[lookups%len(hot)]) {
				hits++
			}
			lookups++
		}
	}
	// otter's maintenance runs asynchronously, so the margin is wide; the
	// point is the distance from LRU's zero.
	require.Greater(t, hits, lookups/2, "hot hits during the bulk job")
	kept := 0
	for _, k := range hot {
		if _, ok, err := m.Get(ctx, k); err == nil && ok {
			kept++
		}
	}
	require.GreaterOrEqual(t, kept, len(hot)*3/4, "hot entries kept after it")
}

func TestMemoryExpiryFreesMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clocktest.New(testStart)
	var (
		mu      sync.Mutex
		expired int
	)
	m := newMemory(t, cache.MemoryOptions{MaxBytes: 1 << 20, Clock: clk, OnEvict: func(_, reason string) {
		mu.Lock()
		defer mu.Unlock()
		if reason == "expired" {
			expired++
		}
	}})
	for i := range 10 {
		e := liveEntry(clk.Now(), 100)
		e.Expires = clk.Now().Add(time.Minute)
		require.NoError(t, m.Put(ctx, key("vt", fmt.Sprint(i)), e))
	}
	clk.Advance(2 * time.Minute)
	// No read of the expired keys: otter's timer wheel drops them during
	// the maintenance that later writes trigger.
	require.Eventually(t, func() bool {
		_ = m.Put(ctx, key("otx", "writer"), liveEntry(clk.Now(), 1))
		return m.Len() == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return expired == 10
	}, 10*time.Second, 5*time.Millisecond)
}
