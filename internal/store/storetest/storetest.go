// Package storetest is the conformance suite every store.Store backend
// runs, so that SQLite and PostgreSQL behave the same by construction. It
// includes govern's quota-counter suite (governtest.RunQuota), since every
// store counts quotas.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/governtest"
	"github.com/intelgate/intelgate/internal/store"
)

// Run runs the suite. open must return a new, empty store for each call;
// Run closes what it opens (a second Close from a t.Cleanup is harmless
// for the suite, but backends should tolerate it). The store's clock must
// be near the wall clock (the sweep cases store quota windows and cache
// records that must not have expired on it). Cases for optional parts are
// skipped on a store without them: SweepCache needs cache.Records,
// SweepCachePurges a PurgeBus() cache.Broadcaster method.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"TouchClientFirstTouch", testTouchFirst},
		{"TouchClientUpdate", testTouchUpdate},
		{"TouchClientNeverMovesBackwards", testTouchBackwards},
		{"TouchClientUnknown", testTouchUnknown},
		{"TouchClientEmptyName", testTouchEmptyName},
		{"TouchClientConcurrent", testTouchConcurrent},
		{"TimesRoundTripInUTC", testTimesUTC},
		{"FingerprintFirstRecord", testFingerprintFirst},
		{"FingerprintUnchangedThenChanged", testFingerprintChange},
		{"FingerprintScopedToProviderAndKey", testFingerprintScope},
		{"FingerprintRenamedByKeyRotation", testFingerprintRenamed},
		{"FingerprintConcurrentRotationSeenOnce", testFingerprintConcurrent},
		{"FingerprintEmptyArguments", testFingerprintEmpty},
		{"Ping", testPing},
		{"CanceledContext", testCanceled},
	}
	tests = append(tests, txTests()...)
	tests = append(tests, durableTests()...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
	t.Run("Quota", func(t *testing.T) {
		t.Parallel()
		governtest.RunQuota(t, func(t *testing.T) govern.QuotaCounter {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
}

// base is a fixed instant with sub-millisecond digits and a non-UTC zone.
var base = time.Date(2026, 11, 27, 10, 15, 30, 123_456_789, time.FixedZone("CET", 3600))

func testTouchFirst(t *testing.T, s store.Store) {
	ctx := t.Context()
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.1", base))
	at, addr, ok, err := s.ClientLastSeen(ctx, "siem")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "10.0.0.1", addr)
	requireSameMillis(t, base, at)
}

func testTouchUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.1", base))
	later := base.Add(90 * time.Second)
	require.NoError(t, s.TouchClient(ctx, "siem", "2001:db8::7", later))
	at, addr, ok, err := s.ClientLastSeen(ctx, "siem")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "2001:db8::7", addr)
	requireSameMillis(t, later, at)
}

func testTouchBackwards(t *testing.T, s store.Store) {
	ctx := t.Context()
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.2", base))
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.1", base.Add(-time.Minute)))
	at, addr, ok, err := s.ClientLastSeen(ctx, "siem")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "10.0.0.2", addr, "an older touch must not overwrite a newer one")
	requireSameMillis(t, base, at)
}

func testTouchUnknown(t *testing.T, s store.Store) {
	ctx := t.Context()
	require.NoError(t, s.TouchClient(ctx, "siem", "10.0.0.1", base))
	at, addr, ok, err := s.ClientLastSeen(ctx, "soar")
	require.NoError(t, err)
	require.False(t, ok)
	require.True(t, at.IsZero())
	require.Empty(t, addr)
}

func testTouchEmptyName(t *testing.T, s store.Store) {
	require.Error(t, s.TouchClient(t.Context(), "", "10.0.0.1", base))
}

// testTouchConcurrent hammers TouchClient from many goroutines: no call may
// fail (no SQLITE_BUSY, no serialisation failure) and each client ends at
// its latest time.
func testTouchConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const goroutines, touches, clients = 32, 20, 4
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*touches)
	for g := range goroutines {
		wg.Go(func() {
			for i := range touches {
				client := fmt.Sprintf("client-%d", (g+i)%clients)
				at := base.Add(time.Duration(g*touches+i) * time.Millisecond)
				if err := s.TouchClient(ctx, client, fmt.Sprintf("10.0.%d.%d", g, i), at); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// The largest at overall belongs to the last touch of the last goroutine.
	g, i := goroutines-1, touches-1
	at, addr, ok, err := s.ClientLastSeen(ctx, fmt.Sprintf("client-%d", (g+i)%clients))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, fmt.Sprintf("10.0.%d.%d", g, i), addr)
	requireSameMillis(t, base.Add(time.Duration(g*touches+i)*time.Millisecond), at)
}

func testTimesUTC(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, in := range []time.Time{
		base,
		base.In(time.FixedZone("PDT", -7*3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 1_000_000, time.UTC),
	} {
		client := fmt.Sprintf("c%d", i)
		require.NoError(t, s.TouchClient(ctx, client, "127.0.0.1", in))
		at, _, ok, err := s.ClientLastSeen(ctx, client)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, time.UTC, at.Location(), "times come back in UTC")
		requireSameMillis(t, in, at)
	}
}

func testFingerprintFirst(t *testing.T, s store.Store) {
	changed, err := s.RecordKeyFingerprint(t.Context(), "socialeye", "prod-1", "fp-a", base)
	require.NoError(t, err)
	require.False(t, changed, "the first fingerprint is not a change")
}

func testFingerprintChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct {
		fp      string
		changed bool
	}{
		{"fp-a", false},
		{"fp-a", false},
		{"fp-b", true},
		{"fp-b", false},
		{"fp-a", true}, // rotating back is still a change
	}
	for i, st := range steps {
		changed, err := s.RecordKeyFingerprint(ctx, "socialeye", "prod-1", st.fp, base.Add(time.Duration(i)*time.Hour))
		require.NoError(t, err)
		require.Equal(t, st.changed, changed, "step %d (%s)", i, st.fp)
	}
}

// testFingerprintRenamed: a fingerprint stored under a data-at-rest key
// that has since rotated is the same secret under another name: replaced,
// not reported as a rotation, and only the names given count as such.
func testFingerprintRenamed(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct {
		fp       string
		previous []string
		changed  bool
	}{
		{"k1:aaa", nil, false},
		{"k2:aaa", []string{"k1:aaa"}, false}, // the writer key rotated
		{"k2:aaa", []string{"k1:aaa"}, false},
		{"k3:aaa", []string{"k1:aaa"}, true}, // k2's name is not among previous: a real change
		{"k3:bbb", []string{"k1:bbb", "k2:bbb"}, true},
	}
	for i, st := range steps {
		changed, err := s.RecordKeyFingerprint(ctx, "socialeye", "prod-1", st.fp, base.Add(time.Duration(i)*time.Hour), st.previous...)
		require.NoError(t, err)
		require.Equal(t, st.changed, changed, "step %d (%s)", i, st.fp)
	}
}

func testFingerprintScope(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, k := range [][2]string{{"socialeye", "prod-1"}, {"socialeye", "prod-2"}, {"other", "prod-1"}} {
		changed, err := s.RecordKeyFingerprint(ctx, k[0], k[1], "fp-"+k[0]+k[1], base)
		require.NoError(t, err)
		require.False(t, changed, "%v is a different key: its first record", k)
	}
	changed, err := s.RecordKeyFingerprint(ctx, "socialeye", "prod-1", "fp-socialeyeprod-1", base)
	require.NoError(t, err)
	require.False(t, changed)
}

// testFingerprintConcurrent: replicas noticing the same rotation together
// must report it once, or every replica would raise the rotation alert.
func testFingerprintConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.RecordKeyFingerprint(ctx, "socialeye", "prod-1", "fp-old", base)
	require.NoError(t, err)
	const n = 16
	var changes atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			changed, err := s.RecordKeyFingerprint(ctx, "socialeye", "prod-1", "fp-new", base.Add(time.Hour))
			if err != nil {
				errs <- err
			}
			if changed {
				changes.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, changes.Load())
}

func testFingerprintEmpty(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, args := range [][3]string{{"", "k", "fp"}, {"p", "", "fp"}, {"p", "k", ""}} {
		_, err := s.RecordKeyFingerprint(ctx, args[0], args[1], args[2], base)
		require.Error(t, err, "%q", args)
	}
}

func testPing(t *testing.T, s store.Store) {
	require.NoError(t, s.Ping(t.Context()))
	require.NoError(t, s.Close())
	require.Error(t, s.Ping(t.Context()), "a closed store is not ready")
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Error(t, s.TouchClient(ctx, "siem", "10.0.0.1", base))
	_, _, _, err := s.ClientLastSeen(ctx, "siem")
	require.Error(t, err)
	_, err = s.RecordKeyFingerprint(ctx, "p", "k", "fp", base)
	require.Error(t, err)
	require.Error(t, s.Ping(ctx))
}

// requireSameMillis checks that got is want to at least millisecond
// precision (PostgreSQL keeps microseconds, SQLite here nanoseconds).
func requireSameMillis(t *testing.T, want, got time.Time) {
	t.Helper()
	require.Equal(t, want.UTC().Truncate(time.Millisecond), got.UTC().Truncate(time.Millisecond),
		"want %s, got %s", want.UTC().Format(time.RFC3339Nano), got.UTC().Format(time.RFC3339Nano))
}
