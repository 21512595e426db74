package alert_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/config"
)

// volumeWindow is client_volume's default window.
const volumeWindow = 5 * time.Minute

// window sends n lookups of soar within one volume window (50 distinct
// indicators, one network: only the volume can fire) and reports whether
// client_volume is live at its end; the clock then moves to the next
// window.
func window(h *harness, n int) []alert.Alert {
	for i := range n {
		h.e.Request("soar", addr("10.0.0.5"), uint64(i%50), "ipv4", []string{"socialeye"})
	}
	live := h.live(alert.RuleClientVolume)
	h.clock.Advance(volumeWindow)
	return live
}

// A client that raises its volume by a fixed factor every window is
// alerted within a number of windows that follows from the algorithm, not
// from tuning: a window is learnt as at most half-way to the threshold,
// so the short-term baseline rises at most 1+0.2·(3−1)/2 = 1.2× a window
// and the long-term one at most 1+0.005·(10−1)/2 = 1.0225×. A volume
// rising r× a window is over 3× the first after ln 3 / ln(r/1.2) windows
// (7.1 at 1.4×), over 10× the second after ln 10 / ln(r/1.0225) windows
// (19.6 at 1.15×, a ramp the short-term baseline follows). Before the
// cap, a window was learnt up to the threshold, the baseline rose 1.4× a
// window, and a 1.4× ramp never fired.
func TestClientVolumeRampFires(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		rate     float64
		within   int
		longTerm float64
		summary  string
	}{
		"1.4x a window: the short-term baseline": {rate: 1.4, within: 8, summary: "over 3× its baseline"},
		"1.15x a window: the long-term baseline": {rate: 1.15, within: 20, longTerm: config.DefaultClientVolumeLongTermFactor,
			summary: "over 10× its long-term baseline"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withRules(func(r *alert.Rules) {
				r.ClientVolume.Ceiling = 0 // the baselines' doing, not the ceiling's
				r.ClientVolume.LongTermFactor = tc.longTerm
			}))
			for range 200 { // warm, the long-term baseline too (1/0.005 windows)
				require.Empty(t, window(h, 100))
			}
			for k := 1; ; k++ {
				require.LessOrEqual(t, k, tc.within, "a %.2f× ramp was not alerted within %d windows", tc.rate, tc.within)
				live := window(h, int(math.Round(100*math.Pow(tc.rate, float64(k)))))
				if len(live) > 0 {
					require.Len(t, live, 1)
					require.Contains(t, live[0].Summary, tc.summary)
					require.Len(t, h.e.Live(), 1, "only the volume fired")
					return
				}
			}
		})
	}
}

// Steady traffic with noise, and a daily cycle whose day is ten times its
// night (ramping up and down over two hours), stay quiet for days; a
// burst of four times the usual volume still fires at once.
func TestClientVolumeNormalTrafficStaysQuiet(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		day    func(w int) float64 // requests expected in window w of a day (288 windows)
		minReq int
		usual  float64
	}{
		"steady, ±40% noise": {day: func(int) float64 { return 100 }, minReq: 100, usual: 100},
		"10x day and night, ±40% noise": {day: func(w int) float64 {
			const night, day, ramp = 30.0, 300.0, 24 // 2h ramps, 1.1× a window
			switch {
			case w < 120: // 10h of night
				return night
			case w < 120+ramp:
				return night * math.Pow(day/night, float64(w-120)/ramp)
			case w < 264: // 10h of day
				return day
			}
			return day * math.Pow(night/day, float64(w-264)/ramp)
		}, minReq: 20, usual: 30},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withRules(func(r *alert.Rules) { r.ClientVolume.MinRequests = tc.minReq }))
			noise := rand.New(rand.NewPCG(1, 2)) // fixed: the same traffic on every run
			for w := range 3*288 + 60 {          // three days, and five hours into the night
				n := tc.day(w%288) * (0.6 + 0.8*noise.Float64())
				require.Empty(t, window(h, int(n)), "window %d (%d requests) fired", w, int(n))
			}
			live := window(h, int(4*tc.usual))
			require.Len(t, live, 1, "a burst of four times the usual volume fires as before")
			require.Contains(t, live[0].Summary, "its baseline")
		})
	}
}

// The ceiling is on by default: a client past it is alerted whatever
// its baselines, during the warm-up too.
func TestClientVolumeDefaultCeiling(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ceiling := alert.DefaultRules().ClientVolume.Ceiling
	require.Equal(t, config.DefaultClientVolumeCeiling, ceiling)
	require.Empty(t, window(h, ceiling), "at the ceiling, not over it")
	live := window(h, ceiling+1)
	require.Len(t, live, 1)
	require.Contains(t, live[0].Summary, "(the ceiling)")
}

// A client's own ceiling replaces the rule's for that client alone, above
// it (a bulk job, heavy by design, is not alerted every window) or below
// it; every other client keeps the rule's.
func TestClientVolumeClientCeiling(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withRules(func(r *alert.Rules) {
		r.ClientVolume.Ceiling = 500
		r.ClientVolume.Ceilings = map[string]int{"soar": 2000, "siem": 100}
	}))
	require.Empty(t, window(h, 2000), "soar at its own ceiling, four times the rule's")
	live := window(h, 2001)
	require.Len(t, live, 1)
	require.Contains(t, live[0].Summary, "more than 2000 requests in one 5m window (the ceiling)")

	requests(h, "siem", addr("10.0.0.5"), 100, 1, "ipv4")
	require.Len(t, h.live(alert.RuleClientVolume), 1, "siem at its own ceiling")
	requests(h, "siem", addr("10.0.0.5"), 1, 1, "ipv4")
	require.Len(t, h.live(alert.RuleClientVolume), 2, "siem past its own ceiling, below the rule's")

	_, err := alert.New(alert.Options{Rules: func() alert.Rules {
		r := alert.DefaultRules()
		r.ClientVolume.Ceilings = map[string]int{"soar": 0}
		return r
	}()})
	require.ErrorContains(t, err, "Rules.ClientVolume.Ceilings[soar] must be at least 1")
}
