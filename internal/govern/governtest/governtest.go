// Package governtest is the conformance suite every govern.State backend
// runs (memory, Redis), so that one node and many nodes pace upstreams the
// same way by construction. RunQuota covers the durable quota counters
// alone (SQLite).
package governtest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
)

// Harness describes a backend under test.
type Harness struct {
	// New returns a fresh handle on the backend. Keys used by the suite are
	// random, so handles may share one backend (e.g. one Redis database).
	New func(t *testing.T) govern.State
	// Advance moves the clock of every State New returns by d. Nil when the
	// backend keeps its own clock (Redis TIME); the suite then uses slow
	// limits whose outcome does not depend on how long the test takes.
	// Run calls Advance only from sequential subtests, and clock-dependent
	// parallel subtests only start after those have finished.
	Advance func(d time.Duration)
	// Now is the backend's clock, for pause instants and quota expiries.
	// Nil means time.Now, which is right for backends on the wall clock.
	Now func() time.Time
	// NewShared, when set, returns two handles on one backend (two
	// replicas); the concurrency tests then spread their callers over both,
	// proving replicas together never exceed a limit.
	NewShared func(t *testing.T) (govern.State, govern.State)
}

func (h Harness) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// pair returns two handles on one backend: NewShared's, or one handle twice.
func (h Harness) pair(t *testing.T) (govern.State, govern.State) {
	if h.NewShared != nil {
		return h.NewShared(t)
	}
	s := h.New(t)
	return s, s
}

type stateTest struct {
	name string
	fn   func(t *testing.T, h Harness)
}

// Run runs the whole suite: rates, quotas, pauses and Ping.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := append(rateTests(), pauseTests()...)
	tests = append(tests, bulkTests()...)
	tests = append(tests, stateTest{"Ping", testPing})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
	if h.Advance != nil {
		// Sequential: Advance moves a clock every State shares.
		for _, tc := range append(append(rateClockTests(), pauseClockTests()...), bulkClockTests()...) {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
		}
	}
	runQuota(t, func(t *testing.T) (govern.QuotaCounter, govern.QuotaCounter) {
		a, b := h.pair(t)
		return a, b
	}, h.now)
}

// RunQuota runs the quota part of the suite on counters newCounter returns
// (each call a fresh handle; keys are random, so handles may share one
// backend).
func RunQuota(t *testing.T, newCounter func(t *testing.T) govern.QuotaCounter) {
	t.Helper()
	runQuota(t, func(t *testing.T) (govern.QuotaCounter, govern.QuotaCounter) {
		c := newCounter(t)
		return c, c
	}, time.Now)
}

func testPing(t *testing.T, h Harness) {
	require.NoError(t, h.New(t).Ping(t.Context()))
}

// key returns a key unique to this run, so backends shared between test
// runs (Redis) never see a key twice.
func key(t *testing.T, name string) string {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "governtest:" + hex.EncodeToString(b[:]) + ":" + name
}
