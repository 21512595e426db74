package govern_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/secret"
)

// pool builds prod keys from "id=secret" pairs.
func pool(pairs ...string) []govern.Key {
	var ks []govern.Key
	for _, p := range pairs {
		id, v, _ := strings.Cut(p, "=")
		ks = append(ks, govern.Key{ID: id, Environment: "prod", Value: secret.NewValue(v)})
	}
	return ks
}

func keyIDs(ks []govern.Key) []string {
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

func TestSwapKeysValidatesThePoolInFull(t *testing.T) {
	t.Parallel()
	const prefix = `govern: provider "se": invalid key pool: `
	tests := []struct {
		name     string
		provider string
		keys     []govern.Key
		want     string
		is       error
	}{
		{"unknown provider", "vt", pool("k1=sk_live_unknown"), `swapping keys of "vt": unknown provider`, govern.ErrUnknownProvider},
		{"no keys", "se", nil, prefix + "no keys (a pool needs at least one)", govern.ErrInvalidKeyPool},
		{"empty id", "se", pool("k1=sk_live_first", "=sk_live_noid"), prefix + "key 1 has no id", govern.ErrInvalidKeyPool},
		{"duplicate id", "se", pool("k1=sk_live_first", "k1=sk_live_dup"), prefix + `duplicate key id "k1"`, govern.ErrInvalidKeyPool},
		{"empty secret", "se", pool("k1=sk_live_first", "k2="), prefix + `key "k2" has an empty secret`, govern.ErrInvalidKeyPool},
		{"every problem at once", "se", pool("=sk_live_noid", "k1=", "k1=sk_live_dup", "k2=sk_live_ok"),
			prefix + `key 0 has no id; key "k1" has an empty secret; duplicate key id "k1"`, govern.ErrInvalidKeyPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGovernor(t, newAutoClock(t0), nil, govern.Policy{Keys: pool("k0=sk_live_current")})
			err := g.SwapKeys(tt.provider, tt.keys)
			require.ErrorIs(t, err, tt.is)
			require.EqualError(t, err, tt.want)
			require.NotContains(t, err.Error(), "sk_live", "errors name keys by id, never by secret")
			require.Equal(t, pool("k0=sk_live_current"), g.Keys("se"), "a refused pool leaves the current one in place")

			// New validates its first pools by the same rules.
			if tt.provider == "se" {
				_, err := govern.New(govern.Options{State: memory.New(memory.Options{})},
					[]govern.Policy{{Provider: "se", Keys: tt.keys}}, nil)
				require.EqualError(t, err, tt.want)
			}
		})
	}
}

// A swap changes which keys new leases get; leases in flight finish on
// theirs, and what is done with them afterwards is harmless or lands on
// the counters they came from.
func TestLeaseOnARemovedKey(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1"), Day: 10, MaxWait: time.Minute})
	ctx := t.Context()
	l, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.NoError(t, g.SwapKeys("se", keys("k2")))
	require.Equal(t, "secret-k1", l.Key.Reveal(), "a lease in flight keeps its key")
	require.Equal(t, []string{"k2"}, keyIDs(g.Keys("se")))

	g.Refund(ctx, l)
	require.NoError(t, g.Pause(ctx, l, time.Hour), "pausing a removed key is harmless")
	l2, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k2", l2.KeyID)
	require.Equal(t, t0, clock.Now(), "the removed key's pause holds nobody up")

	for name, err := range map[string]error{
		"Revoke":  g.Revoke(ctx, "se", "k1"),
		"Restore": g.Restore(ctx, "se", "k1"),
	} {
		require.ErrorIs(t, err, govern.ErrUnknownKey, name)
		require.EqualError(t, err, `provider "se": unknown key "k1"`, name)
	}
	_, err = g.Revoked(ctx, "se", "k1")
	require.ErrorIs(t, err, govern.ErrUnknownKey)
	_, err = g.ClaimCheck(ctx, "se", "k1", time.Minute)
	require.ErrorIs(t, err, govern.ErrUnknownKey)
	_, err = g.AcquireKey(ctx, "se", "k1")
	require.ErrorIs(t, err, govern.ErrUnknownKey)

	// Back in the pool, k1 shows the refund and, being the same account,
	// the pause the vendor asked for.
	require.NoError(t, g.SwapKeys("se", keys("k1", "k2")))
	ks, err := g.ProviderStatus(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k1", ks[0].ID)
	require.Equal(t, int64(0), ks[0].Day.Used, "the refund reached the removed key's counter")
	require.Equal(t, t0.Add(time.Hour), *ks[0].PausedUntil)
	require.Equal(t, int64(1), ks[1].Day.Used)
}

// A key id is an account: a new secret under it keeps the account's usage
// and ends the old secret's revocation.
func TestSwapKeysRotationKeepsCountersAndEndsRevocation(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: pool("k1=old-secret"), Day: 10})
	ctx := t.Context()
	old, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.NoError(t, g.Revoke(ctx, "se", "k1"))
	_, err = g.Acquire(ctx, "se", "prod")
	require.ErrorIs(t, err, govern.ErrNoKeys)

	require.NoError(t, g.SwapKeys("se", pool("k1=new-secret")))
	revoked, err := g.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.False(t, revoked, "revocation was a verdict on the old secret")
	l, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "new-secret", l.Key.Reveal())
	require.Equal(t, "old-secret", old.Key.Reveal())

	ks, err := g.ProviderStatus(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(2), ks[0].Day.Used, "the vendor counts the account, not the secret")
}

// A lease names the exact secret it was taken on: revoking or restoring by
// lease acts on that secret even after its id was rotated, and InPool
// tells a lease on a swapped-out or rotated key from a current one.
func TestLeaseTargetsItsOwnSecret(t *testing.T) {
	t.Parallel()
	g := newGovernor(t, newAutoClock(t0), nil, govern.Policy{Keys: pool("k1=old-secret", "k2=other-secret")})
	ctx := t.Context()
	old, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.True(t, g.InPool(old))

	require.NoError(t, g.SwapKeys("se", pool("k1=new-secret", "k2=other-secret")))
	require.False(t, g.InPool(old), "the id's secret was rotated")
	require.NoError(t, g.RevokeLease(ctx, old))
	revoked, err := g.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.False(t, revoked, "the new secret is not revoked on the old one's evidence")

	cur, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "new-secret", cur.Key.Reveal())
	require.True(t, g.InPool(cur))
	require.NoError(t, g.RevokeLease(ctx, cur))
	revoked, err = g.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.True(t, revoked)
	require.NoError(t, g.RestoreLease(ctx, old))
	revoked, err = g.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.True(t, revoked, "restoring the old secret does not lift the new one's revocation")
	require.NoError(t, g.RestoreLease(ctx, cur))
	revoked, err = g.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.False(t, revoked)

	require.NoError(t, g.SwapKeys("se", pool("k2=other-secret")))
	require.False(t, g.InPool(cur), "swapped out")
}

// A waiter that booked a unit on a key swapped out while it slept does not
// call on it: it gives the unit back and takes the new pool's key.
func TestBookedWaiterMovesToTheNewPool(t *testing.T) {
	t.Parallel()
	base := newAutoClock(t0)
	clock := &firstWaitClock{Clock: base}
	g, err := govern.New(govern.Options{State: memory.New(memory.Options{Clock: base}), Clock: clock},
		[]govern.Policy{{Provider: "se", Keys: keys("k1"), Day: 100, MaxWait: 10 * time.Second,
			Rate: govern.Limit{Rate: 1, Period: time.Second, Burst: 1}}}, nil)
	require.NoError(t, err)
	ctx := t.Context()
	_, err = g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	var swapErr error
	clock.onWait = func() { swapErr = g.SwapKeys("se", keys("k2")) }

	l, err := g.Acquire(ctx, "se", "prod") // books k1's next unit, sleeps 1s
	require.NoError(t, err)
	require.NoError(t, swapErr)
	require.Equal(t, "k2", l.KeyID)
	require.Equal(t, "secret-k2", l.Key.Reveal())

	require.NoError(t, g.SwapKeys("se", keys("k1", "k2")))
	ks, err := g.ProviderStatus(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(1), ks[0].Day.Used, "k1's booked unit was refunded")
	require.Equal(t, int64(1), ks[1].Day.Used)
}

// loadErrors collects what goroutines other than the test's find wrong.
type loadErrors struct {
	mu   sync.Mutex
	errs []error
	n    int
}

func (e *loadErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.errs) < 20 {
		e.errs = append(e.errs, err)
	}
}

// TestSwapKeysUnderLoad swaps pools back and forth — overlapping ids (one
// with a rotated secret) and disjoint ones — while workers acquire and
// refund leases without pause and a reader lists keys and status. No lookup
// may fail, every lease's key must come from a pool current at some point
// during its Acquire, every reader must see one whole pool, and every
// refund must land, whichever pool is current by then.
func TestSwapKeysUnderLoad(t *testing.T) {
	t.Parallel()
	const (
		workers = 8
		swaps   = 200
	)
	pools := [][]govern.Key{
		pool("k1=a1", "k2=a2"),
		pool("k2=b2", "k3=b3"), // overlaps on k2, with a rotated secret
		pool("k1=a1", "k2=a2"),
		pool("k4=c4", "k5=c5"), // disjoint
	}
	at := func(i int64) []govern.Key { return pools[int(i)%len(pools)] }
	clock := newAutoClock(t0)
	// Each worker holds at most one unit at a time, so a day quota of
	// workers never runs out while refunds land; rate makes workers book
	// and sleep, so swaps also meet waiters.
	g := newGovernor(t, clock, nil, govern.Policy{Keys: at(0), Day: workers, MaxWait: time.Hour,
		Rate: govern.Limit{Rate: 1000, Period: time.Second, Burst: 2}})
	ctx := t.Context()

	// gen is the index of the pool last swapped in; while a swap to gen+1
	// is under way, that one may already be current. So during a call that
	// read g0 before and g1 after, the pools current were at(g0..g1+1).
	var gen, attempts atomic.Int64
	current := func(g0, g1 int64, match func([]govern.Key) bool) bool {
		for i := g0; i <= min(g1+1, swaps); i++ {
			if match(at(i)) {
				return true
			}
		}
		return false
	}
	var problems loadErrors
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g0 := gen.Load()
				l, err := g.Acquire(ctx, "se", "prod")
				g1 := gen.Load()
				attempts.Add(1)
				if err != nil {
					problems.add(fmt.Errorf("worker %d: %w", w, err))
					continue
				}
				if !current(g0, g1, func(ks []govern.Key) bool {
					return slices.ContainsFunc(ks, func(k govern.Key) bool {
						return k.ID == l.KeyID && k.Value.Reveal() == l.Key.Reveal()
					})
				}) {
					problems.add(fmt.Errorf("worker %d: lease on %s is from no pool current in generations %d..%d", w, l.KeyID, g0, g1+1))
				}
				g.Refund(ctx, l)
			}
		})
	}
	wg.Go(func() { // a reader: every listing is one whole pool
		for {
			select {
			case <-stop:
				return
			default:
			}
			g0 := gen.Load()
			listed := g.Keys("se")
			status, err := g.ProviderStatus(ctx, "se", "prod")
			g1 := gen.Load()
			if err != nil {
				problems.add(fmt.Errorf("status: %w", err))
				continue
			}
			var statusIDs []string
			for _, ks := range status {
				statusIDs = append(statusIDs, ks.ID)
			}
			if !current(g0, g1, func(ks []govern.Key) bool {
				return slices.EqualFunc(ks, listed, func(a, b govern.Key) bool { return a.ID == b.ID && a.Value.Reveal() == b.Value.Reveal() })
			}) {
				problems.add(fmt.Errorf("Keys listed %v, no pool current in generations %d..%d", keyIDs(listed), g0, g1+1))
			}
			if !current(g0, g1, func(ks []govern.Key) bool { return slices.Equal(keyIDs(ks), statusIDs) }) {
				problems.add(fmt.Errorf("status listed %v, no pool current in generations %d..%d", statusIDs, g0, g1+1))
			}
		}
	})

	var swapErr error
	for i := int64(1); i <= swaps && swapErr == nil; i++ {
		if swapErr = g.SwapKeys("se", at(i)); swapErr != nil {
			break
		}
		gen.Store(i)
		// Let the workers make a round of calls on this pool (or on their
		// way to it) before the next swap.
		// The deadline only turns a stuck worker into a failure instead of
		// a hang until the test binary's timeout; it is not a timing check.
		deadline := time.Now().Add(time.Minute)
		for target := attempts.Load() + workers; attempts.Load() < target; {
			if time.Now().After(deadline) {
				swapErr = fmt.Errorf("swap %d: workers made no progress for a minute", i)
				break
			}
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()

	require.NoError(t, swapErr)
	require.Zero(t, problems.n, "%d problems, first ones: %v", problems.n, problems.errs)
	require.GreaterOrEqual(t, attempts.Load(), int64(swaps*workers))
	for _, p := range pools {
		require.NoError(t, g.SwapKeys("se", p))
		ks, err := g.ProviderStatus(ctx, "se", "prod")
		require.NoError(t, err)
		for _, k := range ks {
			require.Equal(t, int64(0), k.Day.Used, "key %s: every unit was refunded to its counter", k.ID)
		}
	}
}
