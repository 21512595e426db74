package redisstate_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/governtest"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
)

// redisURL is the test Redis, or a skip: these tests need a real server.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("INTELGATE_TEST_REDIS_URL")
	if u == "" {
		t.Skip("INTELGATE_TEST_REDIS_URL not set: skipping Redis tests")
	}
	return u
}

// testPrefix isolates one test's keys from every other run on the same
// Redis (tests never FLUSHDB a shared server).
func testPrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "intelgate-test:" + hex.EncodeToString(b[:]) + ":"
}

// testOpTimeout bounds each Redis call in the conformance suite. The
// production default (250ms) is a fail-fast budget for a healthy Redis next
// to the gateway; under -race on two busy cores, forty concurrent callers'
// round trips can take longer than that without anything being wrong. The
// suite tests behaviour, not latency: the timeout path has its own tests
// (failure_test.go).
const testOpTimeout = 10 * time.Second

// open returns a State with its own client on the test Redis.
func open(t *testing.T, prefix string) *redisstate.State {
	t.Helper()
	s, err := redisstate.Open(t.Context(), redisURL(t), redisstate.Options{Prefix: prefix, OpTimeout: testOpTimeout})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	redisURL(t)
	governtest.Run(t, governtest.Harness{
		New: func(t *testing.T) govern.State { return open(t, testPrefix(t)) },
		// Two replicas: separate clients (separate connections) on one
		// server and one prefix.
		NewShared: func(t *testing.T) (govern.State, govern.State) {
			p := testPrefix(t)
			return open(t, p), open(t, p)
		},
		// Advance nil: the scripts read Redis TIME, which a test cannot move.
	})
}

func TestQuotaConformance(t *testing.T) {
	t.Parallel()
	redisURL(t)
	governtest.RunQuota(t, func(t *testing.T) govern.QuotaCounter { return open(t, testPrefix(t)) })
}
