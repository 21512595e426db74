package alert

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
)

func boundEngine(t *testing.T, f func(r *Rules)) (*Engine, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	r := DefaultRules()
	r.AuthFailures.MaxSources = 1000
	r.AuthFailures.PerSource = 3
	r.AuthFailures.Overall = 50_000
	r.MaxOpen = 100
	f(&r)
	e, err := New(Options{Rules: r, Clock: clk, Clients: map[string]Client{"soar": {}, "siem": {SourceCIDRs: true}}})
	require.NoError(t, err)
	return e, clk
}

func addrN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(11 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
}

func countLive(e *Engine, rule string) (sourced, other int) {
	for _, a := range e.Live() {
		if a.Rule != rule {
			continue
		}
		if _, ok := a.Labels["source"]; ok {
			sourced++
		} else {
			other++
		}
	}
	return sourced, other
}

// A flood of authentication failures from 100,000 distinct addresses
// keeps at most MaxSources sources in memory, and the overall burst rule
// still fires; sources that cross the per-source burst open at most
// MaxOpen alerts, and never crowd out the overall one.
func TestAuthFailureFloodStaysBounded(t *testing.T) {
	t.Parallel()
	e, _ := boundEngine(t, func(*Rules) {})
	for i := range 100_000 {
		e.AuthFailed(addrN(i), AuthUnknownToken, "")
		if i%1000 == 0 {
			require.LessOrEqual(t, e.auth.tracked(), 1000)
		}
	}
	require.Equal(t, 1000, e.auth.tracked())
	sourced, overall := countLive(e, RuleAuthFailures)
	require.Zero(t, sourced, "one failure each: no source crossed its burst")
	require.Equal(t, 1, overall, "the flood as a whole fired")

	for i := range 5000 { // 5000 sources each over the per-source burst
		for range 3 {
			e.AuthFailed(addrN(200_000+i), AuthNoToken, "")
		}
	}
	require.LessOrEqual(t, e.auth.tracked(), 1000)
	sourced, overall = countLive(e, RuleAuthFailures)
	require.Equal(t, 75, sourced, "per-source warnings stop at max_open, less the quarter kept for critical alerts")
	require.Equal(t, 1, overall)
	e.mu.Lock()
	require.Len(t, e.notes, 76, "nor do the notifications grow past the alerts")
	e.mu.Unlock()
}

// A client without source_cidrs called from 100,000 networks remembers
// at most MaxAddresses of them, and opens at most a quarter of MaxOpen
// alerts: its flood cannot hide another client's.
func TestNewNetworkFloodStaysBounded(t *testing.T) {
	t.Parallel()
	e, clk := boundEngine(t, func(r *Rules) { r.UnexpectedSource.MaxAddresses = 256 })
	e.Request("soar", addrN(0), 1, "ipv4", nil)
	clk.Advance(25 * time.Hour)
	cs := (*e.clients.Load())["soar"]
	for i := range 100_000 {
		e.Request("soar", addrN(i<<8), uint64(i), "ipv4", nil)
	}
	require.Equal(t, 256, cs.networks())
	sourced, _ := countLive(e, RuleUnexpectedSource)
	require.Equal(t, 25, sourced)
	e.mu.Lock()
	require.Greater(t, e.suppressed[RuleUnexpectedSource], 90_000)
	e.mu.Unlock()

	// Another client's token used from outside its source_cidrs still
	// opens its critical alert.
	e.AuthFailed(addrN(1<<20), AuthSourceNotAllowed, "siem")
	var critical int
	for _, a := range e.Live() {
		if a.Rule == RuleUnexpectedSource && a.Labels["client"] == "siem" && a.Severity == Critical {
			critical++
		}
	}
	require.Equal(t, 1, critical, "one client's flood cannot hide another's critical alert")
}

// Unknown clients are not tracked at all.
func TestUnknownClientsAreIgnored(t *testing.T) {
	t.Parallel()
	e, _ := boundEngine(t, func(*Rules) {})
	for i := range 1000 {
		e.Request("client-"+string(rune('a'+i%26)), addrN(i), uint64(i), "ipv4", nil)
		e.AuthFailed(addrN(i), AuthSourceNotAllowed, "nobody")
	}
	require.Len(t, *e.clients.Load(), 2, "the two configured clients, no others")
	sourced, _ := countLive(e, RuleUnexpectedSource)
	require.Zero(t, sourced)
}
