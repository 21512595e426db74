// Package cachetest is the conformance suite of the cache: Run pins every
// cache.Tier (Memory, Sealed over each backend), RunRecords every
// cache.Records backend (SQLite, Redis, MemRecords), so that they behave
// the same by construction.
//
// Conventions every backend must meet:
//
//   - Times survive to the millisecond: a backend may store Unix
//     milliseconds (truncating). The suites compare times truncated to
//     the millisecond.
//   - An entry or record is live while now < Expires, at the clock the
//     suite passes to open; at Expires it is gone.
//   - Records are partitioned by provider: Get, Delete and Purge see the
//     records of the provider they are given only.
//
// open is called once per subtest with a fresh fake clock and must return
// a new, empty backend: subtests run in parallel (see Options.Serial) and
// purge everything.
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clocktest"
)

// Options adapt the suites to a backend.
type Options struct {
	// RealTime is for a backend that expires by the wall clock — a
	// server-side TTL such as Redis PEXPIREAT — and may ignore the fake
	// clock. The fake clock then starts at the wall-clock time, and the
	// expiry subtests set Expires TTL ahead of the wall clock and poll, for
	// at most TTL+Wait, until the backend drops the record. The fake clock
	// is not advanced there, so what is tested is the backend's own TTL.
	RealTime bool
	// TTL is how far ahead the RealTime expiry subtests expire a record;
	// default 2s. Shorter is faster, but a first read that comes after
	// it (a stalled machine) proves nothing and is logged.
	TTL time.Duration
	// Wait bounds the polling past TTL; default 10s.
	Wait time.Duration
	// Serial runs subtests one at a time, for a backend whose open cannot
	// isolate parallel subtests (one shared Redis database).
	Serial bool
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = 2 * time.Second
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	return o
}

// start is the fake clock's reading in non-RealTime runs: fixed, so a
// failure reproduces, and not a round second, so that truncation bugs show.
var start = time.Date(2031, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

func newClock(o Options) *clocktest.Clock {
	if o.RealTime {
		return clocktest.New(time.Now().UTC().Truncate(time.Millisecond))
	}
	return clocktest.New(start)
}

func pickOptions(opts []Options) Options {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return o.withDefaults()
}

// requireTime compares times to the millisecond (see the package doc).
func requireTime(t *testing.T, want, got time.Time, field string) {
	t.Helper()
	require.True(t, want.Truncate(time.Millisecond).Equal(got.Truncate(time.Millisecond)), "%s: want %s, got %s", field, want, got)
}

// tierEnv is what a Tier subtest works with.
type tierEnv struct {
	tier cache.Tier
	clk  *clocktest.Clock
	opts Options
}

// Run runs the Tier suite.
func Run(t *testing.T, open func(t *testing.T, clk *clocktest.Clock) cache.Tier, opts ...Options) {
	t.Helper()
	o := pickOptions(opts)
	tests := []struct {
		name string
		fn   func(t *testing.T, env tierEnv)
	}{
		{"RoundTrip", testTierRoundTrip},
		{"Miss", testTierMiss},
		{"Expiry", testTierExpiry},
		{"PutExpired", testTierPutExpired},
		{"Overwrite", testTierOverwrite},
		{"KeyFieldsSeparate", testTierKeyFields},
		{"Purge", testTierPurge},
		{"PurgeScopeNeedsProvider", testTierPurgeScope},
		{"NoAliasing", testTierNoAliasing},
		{"LargeBody", testTierLargeBody},
		{"Concurrent", testTierConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !o.Serial {
				t.Parallel()
			}
			clk := newClock(o)
			tc.fn(t, tierEnv{tier: open(t, clk), clk: clk, opts: o})
		})
	}
}

var baseKey = cache.Key{Provider: "vt", Environment: "prod", Type: "ipv4", Indicator: "198.51.100.7", UpstreamType: "ip_addresses"}

// entry is a live entry at now with body data.
func entry(now time.Time, data string) cache.Entry {
	return cache.Entry{
		Data:       []byte(data),
		FetchedAt:  now.Add(-1500 * time.Microsecond),
		FreshUntil: now.Add(time.Hour),
		Expires:    now.Add(2 * time.Hour),
	}
}

func mustGet(t *testing.T, tier cache.Tier, k cache.Key) cache.Entry {
	t.Helper()
	got, ok, err := tier.Get(context.Background(), k)
	require.NoError(t, err)
	require.True(t, ok, "entry %s missing", k.Indicator)
	return got
}

func requireMiss(t *testing.T, tier cache.Tier, k cache.Key) {
	t.Helper()
	_, ok, err := tier.Get(context.Background(), k)
	require.NoError(t, err)
	require.False(t, ok, "entry %s should be gone", k.Indicator)
}

func requireEntry(t *testing.T, want, got cache.Entry) {
	t.Helper()
	require.Equal(t, want.NotFound, got.NotFound)
	require.Equal(t, len(want.Data), len(got.Data))
	require.True(t, bytes.Equal(want.Data, got.Data), "Data differs")
	requireTime(t, want.FetchedAt, got.FetchedAt, "FetchedAt")
	requireTime(t, want.FreshUntil, got.FreshUntil, "FreshUntil")
	requireTime(t, want.Expires, got.Expires, "Expires")
}

func testTierRoundTrip(t *testing.T, env tierEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	found := entry(now, `{"verdict":"malicious","score":97}`)
	found.FreshUntil = found.FreshUntil.Add(456 * time.Microsecond)
	notFound := cache.Entry{NotFound: true, FetchedAt: now, FreshUntil: now.Add(time.Minute), Expires: now.Add(10 * time.Minute)}
	nf := baseKey
	nf.Indicator = "203.0.113.9"

	require.NoError(t, env.tier.Put(ctx, baseKey, found))
	require.NoError(t, env.tier.Put(ctx, nf, notFound))
	requireEntry(t, found, mustGet(t, env.tier, baseKey))
	got := mustGet(t, env.tier, nf)
	requireEntry(t, notFound, got)
	require.Empty(t, got.Data)
}

func testTierMiss(t *testing.T, env tierEnv) {
	requireMiss(t, env.tier, baseKey)
	require.NoError(t, env.tier.Put(context.Background(), baseKey, entry(env.clk.Now(), `{}`)))
	other := baseKey
	other.Indicator = "198.51.100.70"
	requireMiss(t, env.tier, other)
}

func testTierExpiry(t *testing.T, env tierEnv) {
	ctx := context.Background()
	if env.opts.RealTime {
		e := entry(env.clk.Now(), `{"a":1}`)
		e.Expires = time.Now().Add(env.opts.TTL)
		e.FreshUntil = e.Expires
		require.NoError(t, env.tier.Put(ctx, baseKey, e))
		awaitGone(t, env.opts, e.Expires, func() (bool, error) {
			_, ok, err := env.tier.Get(ctx, baseKey)
			return ok, err
		})
		return
	}
	now := env.clk.Now()
	e := cache.Entry{Data: []byte(`{"a":1}`), FetchedAt: now, FreshUntil: now.Add(5 * time.Second), Expires: now.Add(10 * time.Second)}
	require.NoError(t, env.tier.Put(ctx, baseKey, e))
	mustGet(t, env.tier, baseKey)
	env.clk.Advance(5 * time.Second) // stale now: still served, the caller decides
	got := mustGet(t, env.tier, baseKey)
	require.False(t, got.Fresh(env.clk.Now()))
	env.clk.Advance(5*time.Second - time.Millisecond)
	mustGet(t, env.tier, baseKey)
	env.clk.Advance(time.Millisecond) // at Expires
	requireMiss(t, env.tier, baseKey)
	env.clk.Advance(time.Hour)
	requireMiss(t, env.tier, baseKey)
}

// awaitGone asserts that a record put to expire at expires (wall clock)
// is seen until then, unless the machine stalled past it, and is gone
// after, polling for at most TTL+Wait.
func awaitGone(t *testing.T, o Options, expires time.Time, present func() (bool, error)) {
	t.Helper()
	ok, err := present()
	require.NoError(t, err)
	if !ok {
		require.False(t, time.Now().Before(expires), "record missing before it expires")
		t.Log("the first read came after the TTL: presence not checked")
	}
	var (
		mu     sync.Mutex
		goneAt time.Time // when a read that found it gone had returned
	)
	require.Eventually(t, func() bool {
		ok, err := present()
		if err != nil || ok {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		goneAt = time.Now()
		return true
	}, o.TTL+o.Wait, 20*time.Millisecond, "record still served after it expired")
	mu.Lock()
	defer mu.Unlock()
	// A read that returned before expires cannot have seen it expire.
	require.False(t, goneAt.Before(expires), "record gone %s before it expired", expires.Sub(goneAt))
}

func testTierPutExpired(t *testing.T, env tierEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	require.NoError(t, env.tier.Put(ctx, baseKey, entry(now, `{"old":true}`)))
	dead := entry(now, `{"new":true}`)
	dead.FreshUntil, dead.Expires = now.Add(-2*time.Second), now.Add(-time.Second)
	require.NoError(t, env.tier.Put(ctx, baseKey, dead))
	requireMiss(t, env.tier, baseKey)
}

func testTierOverwrite(t *testing.T, env tierEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	first := entry(now, `{"v":1}`)
	require.NoError(t, env.tier.Put(ctx, baseKey, first))
	second := entry(now.Add(time.Second), `{"v":2,"longer":"body"}`)
	second.Expires = now.Add(time.Hour) // shorter than first's
	require.NoError(t, env.tier.Put(ctx, baseKey, second))
	requireEntry(t, second, mustGet(t, env.tier, baseKey))

	nf := cache.Entry{NotFound: true, FetchedAt: now, FreshUntil: now.Add(time.Minute), Expires: now.Add(time.Minute)}
	require.NoError(t, env.tier.Put(ctx, baseKey, nf))
	got := mustGet(t, env.tier, baseKey)
	requireEntry(t, nf, got)

	if !env.opts.RealTime {
		env.clk.Advance(time.Minute) // the replaced entries must not resurface
		requireMiss(t, env.tier, baseKey)
	}
	n, err := env.tier.Purge(ctx, cache.Scope{})
	require.NoError(t, err)
	require.LessOrEqual(t, n, 1, "one key is one entry")
}

// keyVariants differ from baseKey in one field each, or by a byte moved
// from one field to the next.
func keyVariants() []cache.Key {
	vs := []cache.Key{baseKey}
	for _, mod := range []func(k *cache.Key){
		func(k *cache.Key) { k.Provider = "otx" },
		func(k *cache.Key) { k.Environment = "staging" },
		func(k *cache.Key) { k.Type = "domain" },
		func(k *cache.Key) { k.Indicator = "198.51.100.8" },
		func(k *cache.Key) { k.UpstreamType = "ip" },
		func(k *cache.Key) { k.Client = "alice" },
		func(k *cache.Key) { k.Environment, k.Type = "prodi", "pv4" },
		func(k *cache.Key) { k.Provider, k.Environment = "vtp", "rod" },
		func(k *cache.Key) { k.UpstreamType, k.Client = "ip_addresse", "s" },
		func(k *cache.Key) { k.Indicator = "198.51.100.7|" },
	} {
		k := baseKey
		mod(&k)
		vs = append(vs, k)
	}
	return vs
}

func testTierKeyFields(t *testing.T, env tierEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	keys := keyVariants()
	for i, k := range keys {
		require.NoError(t, env.tier.Put(ctx, k, entry(now, fmt.Sprintf(`{"n":%d}`, i))))
	}
	for i, k := range keys {
		require.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(mustGet(t, env.tier, k).Data), "key %+v", k)
	}
	n, err := env.tier.Purge(ctx, cache.Scope{})
	require.NoError(t, err)
	require.Equal(t, len(keys), n)
}

// purgeGrid puts entries of two providers, two environments, two types,
// three indicators, and one per-client entry; it returns their keys.
func purgeGrid(t *testing.T, env tierEnv) []cache.Key {
	t.Helper()
	var keys []cache.Key
	for _, p := range []string{"vt", "otx"} {
		for _, envName := range []string{"prod", "staging"} {
			for _, typ := range []string{"ipv4", "url"} {
				for _, ind := range []string{"i1", "i2", "i3"} {
					keys = append(keys, cache.Key{Provider: p, Environment: envName, Type: typ, Indicator: ind, UpstreamType: "u"})
				}
			}
		}
	}
	keys = append(keys, cache.Key{Provider: "vt", Environment: "prod", Type: "ipv4", Indicator: "i1", UpstreamType: "u", Client: "alice"})
	for _, k := range keys {
		require.NoError(t, env.tier.Put(context.Background(), k, entry(env.clk.Now(), `{}`)))
	}
	return keys
}

func testTierPurge(t *testing.T, env tierEnv) {
	ctx := context.Background()
	keys := purgeGrid(t, env)
	present := func(k cache.Key) bool {
		_, ok, err := env.tier.Get(ctx, k)
		require.NoError(t, err)
		return ok
	}
	steps := []struct {
		scope cache.Scope
		want  int
		gone  func(k cache.Key) bool // what the tier holds no more after the step
	}{
		{cache.Scope{Provider: "vt", Indicators: []string{"i1"}}, 5,
			func(k cache.Key) bool { return k.Provider == "vt" && k.Indicator == "i1" }},
		{cache.Scope{Provider: "vt", Indicators: []string{"i2", "I2", "i2", "i9"}}, 4,
			func(k cache.Key) bool { return k.Provider == "vt" && k.Indicator != "i3" }},
		{cache.Scope{Provider: "nope"}, 0,
			func(k cache.Key) bool { return k.Provider == "vt" && k.Indicator != "i3" }},
		{cache.Scope{Provider: "vt"}, 4,
			func(k cache.Key) bool { return k.Provider == "vt" }},
		{cache.Scope{Provider: "vt"}, 0,
			func(k cache.Key) bool { return k.Provider == "vt" }},
		{cache.Scope{}, 12,
			func(cache.Key) bool { return true }},
	}
	for i, st := range steps {
		n, err := env.tier.Purge(ctx, st.scope)
		require.NoError(t, err)
		require.Equal(t, st.want, n, "step %d: %+v", i, st.scope)
		for _, k := range keys {
			require.Equal(t, !st.gone(k), present(k), "step %d: %+v", i, k)
		}
	}
}

func testTierPurgeScope(t *testing.T, env tierEnv) {
	ctx := context.Background()
	require.NoError(t, env.tier.Put(ctx, baseKey, entry(env.clk.Now(), `{}`)))
	_, err := env.tier.Purge(ctx, cache.Scope{Indicators: []string{baseKey.Indicator}})
	require.Error(t, err, "an indicator purge without a provider")
	mustGet(t, env.tier, baseKey)
}

func testTierNoAliasing(t *testing.T, env tierEnv) {
	ctx := context.Background()
	buf := []byte(`{"v":"original"}`)
	e := entry(env.clk.Now(), "")
	e.Data = buf
	require.NoError(t, env.tier.Put(ctx, baseKey, e))
	buf[3] = 'X'
	got := mustGet(t, env.tier, baseKey)
	require.JSONEq(t, `{"v":"original"}`, string(got.Data), "Put kept the caller's buffer")
	got.Data[3] = 'Y'
	require.JSONEq(t, `{"v":"original"}`, string(mustGet(t, env.tier, baseKey).Data), "Get shared the tier's buffer")
}

func testTierLargeBody(t *testing.T, env tierEnv) {
	ctx := context.Background()
	e := entry(env.clk.Now(), "")
	e.Data = make([]byte, 1<<20)
	for i := range e.Data {
		e.Data[i] = byte(i % 251)
	}
	require.NoError(t, env.tier.Put(ctx, baseKey, e))
	requireEntry(t, e, mustGet(t, env.tier, baseKey))
}

// testTierConcurrent mixes puts, gets and purges of a few keys; a Get
// must return an entry of the key asked for, whole. Failures are
// collected and asserted on the test's goroutine.
func testTierConcurrent(t *testing.T, env tierEnv) {
	ctx := context.Background()
	const workers, ops, nkeys = 8, 100, 12
	keys := make([]cache.Key, nkeys)
	for i := range keys {
		keys[i] = baseKey
		keys[i].Indicator = fmt.Sprintf("198.51.100.%d", i)
	}
	body := func(i, w, n int) string { return fmt.Sprintf(`{"key":%d,"by":%d,"op":%d}`, i, w, n) }
	errs := make(chan error, workers*ops)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range ops {
				i := (w + n) % nkeys
				switch {
				case n%29 == 28:
					if _, err := env.tier.Purge(ctx, cache.Scope{Provider: baseKey.Provider, Indicators: []string{keys[i].Indicator}}); err != nil {
						errs <- err
					}
				case n%2 == 0:
					if err := env.tier.Put(ctx, keys[i], entry(env.clk.Now(), body(i, w, n))); err != nil {
						errs <- err
					}
				default:
					got, ok, err := env.tier.Get(ctx, keys[i])
					if err != nil {
						errs <- err
					} else if ok && !bytes.HasPrefix(got.Data, fmt.Appendf(nil, `{"key":%d,`, i)) {
						errs <- fmt.Errorf("key %d answered %q", i, got.Data)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
