package govern_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
)

// Status shows the burst the gateway enforces and, beside it, the burst as
// configured: a provider runs a little headroom below its configured limit.
func TestStatusReportsConfiguredBurst(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	tests := []struct {
		name                      string
		rate                      govern.Limit
		configured                int
		wantBurst, wantConfigured int
	}{
		{"headroom", govern.Limit{Rate: 10, Period: time.Second, Burst: 9}, 10, 9, 10},
		{"none given", govern.Limit{Rate: 10, Period: time.Second, Burst: 10}, 0, 10, 10},
		{"burst 0 means 1", govern.Limit{Rate: 1, Period: time.Second}, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1"), Rate: tt.rate, ConfiguredBurst: tt.configured},
				govern.ClientPolicy{Client: "siem", Rate: govern.Limit{Rate: 5, Period: time.Second, Burst: 5}})
			ks, err := g.ProviderStatus(t.Context(), "se", "prod")
			require.NoError(t, err)
			require.Len(t, ks, 1)
			require.Equal(t, tt.wantBurst, ks[0].Rate.Burst)
			require.Equal(t, tt.wantConfigured, ks[0].Rate.ConfiguredBurst)

			cs, err := g.ClientStatus(t.Context(), "siem")
			require.NoError(t, err)
			require.Equal(t, 5, cs.Rate.Burst)
			require.Equal(t, 5, cs.Rate.ConfiguredBurst, "client limits have no headroom")
		})
	}
}
