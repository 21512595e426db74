package redisstate_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/governtest"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
	"github.com/intelgate/intelgate/internal/redistest"
)

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
	s, err := redisstate.Open(t.Context(), redistest.URL(t), redisstate.Options{Prefix: prefix, OpTimeout: testOpTimeout})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	redistest.URL(t)
	governtest.Run(t, governtest.Harness{
		New: func(t *testing.T) govern.State { return open(t, redistest.Prefix(t)) },
		// Two replicas: separate clients (separate connections) on one
		// server and one prefix.
		NewShared: func(t *testing.T) (govern.State, govern.State) {
			p := redistest.Prefix(t)
			return open(t, p), open(t, p)
		},
		// Advance nil: the scripts read Redis TIME, which a test cannot move.
	})
}

func TestQuotaConformance(t *testing.T) {
	t.Parallel()
	redistest.URL(t)
	governtest.RunQuota(t, func(t *testing.T) govern.QuotaCounter { return open(t, redistest.Prefix(t)) })
}
