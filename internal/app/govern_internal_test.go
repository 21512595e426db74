package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/upstream"
)

func TestHeadroomKeepsTheSustainedRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want govern.Limit
	}{
		{govern.Limit{Rate: 200, Period: time.Second, Burst: 20}, govern.Limit{Rate: 200, Period: time.Second, Burst: 10}},
		{govern.Limit{Rate: 50, Period: time.Second, Burst: 10}, govern.Limit{Rate: 50, Period: time.Second, Burst: 5}},
		{govern.Limit{Rate: 20, Period: time.Second, Burst: 20}, govern.Limit{Rate: 20, Period: time.Second, Burst: 18}},
		{govern.Limit{Rate: 10, Period: time.Second, Burst: 10}, govern.Limit{Rate: 10, Period: time.Second, Burst: 9}},
		{govern.Limit{Rate: 10, Period: time.Second, Burst: 2}, govern.Limit{Rate: 10, Period: time.Second, Burst: 1}},
		{govern.Limit{Rate: 4, Period: time.Minute, Burst: 1}, govern.Limit{Rate: 4, Period: time.Minute + 4*250*time.Millisecond, Burst: 1}},
		{govern.Limit{Rate: 1, Period: time.Second, Burst: 1}, govern.Limit{Rate: 1, Period: time.Second + 50*time.Millisecond, Burst: 1}},
		{govern.Limit{}, govern.Limit{}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, withHeadroom(tc.in), "%+v", tc.in)
	}
}

// TestLibraryDefaultsMatchConfig pins the defaults that packages kept free
// of the config package (so they need not import it) to config's own.
func TestLibraryDefaultsMatchConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, config.DefaultFailureRatio, resilience.DefaultFailureRatio)
	require.Equal(t, config.DefaultMinRequests, resilience.DefaultMinRequests)
	require.Equal(t, config.DefaultBreakerWindow.Std(), resilience.DefaultWindow)
	require.Equal(t, config.DefaultBreakerOpenFor.Std(), resilience.DefaultOpenFor)
	require.Equal(t, config.DefaultHalfOpenRequests, resilience.DefaultHalfOpenRequests)
	require.Equal(t, config.DefaultSharedPrefix, redisstate.DefaultPrefix)
	require.Equal(t, config.DefaultSharedTimeout.Std(), redisstate.DefaultOpTimeout)
	require.Equal(t, config.DefaultUpstreamConnections, upstream.DefaultMaxConnections)
	require.Equal(t, config.DefaultProviderTimeout.Std(), upstream.DefaultTimeout)
	require.Equal(t, int64(config.DefaultMaxResponseBytes), int64(upstream.DefaultMaxResponseBytes))
}
