package governtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
)

func pauseTests() []stateTest {
	return []stateTest{
		{"PauseUnknownIsZero", testPauseUnknown},
		{"PauseExtendsNeverShortens", testPauseExtend},
		{"PauseInThePastReadsZero", testPausePast},
		{"PauseKeysIndependent", testPauseKeys},
		{"PauseSharedAcrossHandles", testPauseShared},
		{"TryPauseOnlyWhenFree", testTryPause},
		{"TryPauseOneWinnerAcrossReplicas", testTryPauseRace},
		{"UnpauseEndsAPause", testUnpause},
	}
}

func pauseClockTests() []stateTest {
	return []stateTest{{"PauseExpires", testPauseExpires}, {"TryPauseAfterExpiry", testTryPauseAfterExpiry}}
}

// at returns the backend's now plus d, whole seconds, so every backend
// stores and returns it exactly.
func at(h Harness, d time.Duration) time.Time {
	return h.now().Add(d).Truncate(time.Second)
}

func requirePaused(t *testing.T, s govern.Pauser, k string, want time.Time) {
	t.Helper()
	got, err := s.PausedUntil(t.Context(), k)
	require.NoError(t, err)
	if want.IsZero() {
		require.True(t, got.IsZero(), "want no pause, got %s", got)
		return
	}
	require.True(t, want.Equal(got), "want %s, got %s", want, got)
}

func testPauseUnknown(t *testing.T, h Harness) {
	requirePaused(t, h.New(t), key(t, "unknown"), time.Time{})
}

func testPauseExtend(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "extend")
	two, one, three := at(h, 2*time.Hour), at(h, time.Hour), at(h, 3*time.Hour)
	require.NoError(t, s.PauseUntil(t.Context(), k, two))
	requirePaused(t, s, k, two)
	require.NoError(t, s.PauseUntil(t.Context(), k, one))
	requirePaused(t, s, k, two)
	require.NoError(t, s.PauseUntil(t.Context(), k, three))
	requirePaused(t, s, k, three)
	require.NoError(t, s.PauseUntil(t.Context(), k, time.Time{}))
	requirePaused(t, s, k, three)
}

func testPausePast(t *testing.T, h Harness) {
	s := h.New(t)
	fresh := key(t, "past-fresh")
	require.NoError(t, s.PauseUntil(t.Context(), fresh, at(h, -time.Minute)))
	requirePaused(t, s, fresh, time.Time{})

	paused, hour := key(t, "past-paused"), at(h, time.Hour)
	require.NoError(t, s.PauseUntil(t.Context(), paused, hour))
	require.NoError(t, s.PauseUntil(t.Context(), paused, at(h, -time.Minute)))
	requirePaused(t, s, paused, hour)
}

func testPauseKeys(t *testing.T, h Harness) {
	s, a, b := h.New(t), key(t, "a"), key(t, "b")
	until := at(h, time.Hour)
	require.NoError(t, s.PauseUntil(t.Context(), a, until))
	requirePaused(t, s, a, until)
	requirePaused(t, s, b, time.Time{})
}

func testPauseShared(t *testing.T, h Harness) {
	a, b := h.pair(t)
	k, until := key(t, "shared"), at(h, time.Hour)
	require.NoError(t, a.PauseUntil(t.Context(), k, until))
	requirePaused(t, b, k, until)
}

func testPauseExpires(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "expires")
	until := at(h, 10*time.Second)
	require.NoError(t, s.PauseUntil(t.Context(), k, until))
	requirePaused(t, s, k, until)
	h.Advance(11 * time.Second)
	requirePaused(t, s, k, time.Time{})
	// An expired pause does not stop a shorter new one from counting.
	next := at(h, 5*time.Second)
	require.NoError(t, s.PauseUntil(t.Context(), k, next))
	requirePaused(t, s, k, next)
}

func testTryPause(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "try")
	ok, err := s.TryPause(t.Context(), k, time.Hour)
	require.NoError(t, err)
	require.True(t, ok, "a free key is taken")
	until, err := s.PausedUntil(t.Context(), k)
	require.NoError(t, err)
	require.WithinDuration(t, h.now().Add(time.Hour), until, time.Minute, "paused for the length asked")
	ok, err = s.TryPause(t.Context(), k, 2*time.Hour)
	require.NoError(t, err)
	require.False(t, ok, "a held key is not taken again")
	again, err := s.PausedUntil(t.Context(), k)
	require.NoError(t, err)
	require.True(t, until.Equal(again), "a refused TryPause changes nothing")

	none := key(t, "try-zero")
	ok, err = s.TryPause(t.Context(), none, 0)
	require.NoError(t, err)
	require.False(t, ok, "an empty length takes nothing")
	requirePaused(t, s, none, time.Time{})
}

// testTryPauseRace: callers on two replicas race for one key; exactly one
// wins. Results are collected and checked on the test goroutine.
func testTryPauseRace(t *testing.T, h Harness) {
	a, b := h.pair(t)
	k := key(t, "try-race")
	const callers = 16
	type result struct {
		ok  bool
		err error
	}
	results := make(chan result, callers)
	for i := range callers {
		s := a
		if i%2 == 1 {
			s = b
		}
		go func() {
			ok, err := s.TryPause(t.Context(), k, time.Hour)
			results <- result{ok, err}
		}()
	}
	wins := 0
	for range callers {
		r := <-results
		require.NoError(t, r.err)
		if r.ok {
			wins++
		}
	}
	require.Equal(t, 1, wins)
}

func testUnpause(t *testing.T, h Harness) {
	a, b := h.pair(t)
	k := key(t, "unpause")
	require.NoError(t, a.PauseUntil(t.Context(), k, at(h, time.Hour)))
	require.NoError(t, b.Unpause(t.Context(), k))
	requirePaused(t, a, k, time.Time{})
	ok, err := a.TryPause(t.Context(), k, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "an unpaused key is free")
	require.NoError(t, a.Unpause(t.Context(), key(t, "never-paused")), "unpausing a free key is no error")
}

func testTryPauseAfterExpiry(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "try-expiry")
	ok, err := s.TryPause(t.Context(), k, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	h.Advance(11 * time.Second)
	ok, err = s.TryPause(t.Context(), k, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok, "an expired pause leaves the key free")
}
