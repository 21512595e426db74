package audit_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/clocktest"
)

// Authentication failures are recorded up to a budget a second, whatever
// their sources; the rest are counted into one record, so a flood of bad
// tokens from many addresses cannot fill the queue lookups share.
func TestAuthFailuresAreBudgeted(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	as := audit.NewStore(openSQLite(t), testKeys(t))
	l, err := audit.NewLog(audit.Options{Store: as, Clock: clk, FlushEvery: time.Hour, Log: discard})
	require.NoError(t, err)
	rec, err := audit.NewRecorder(l, testKeys(t), "")
	require.NoError(t, err)
	for i := range 80 {
		rec.AuthFailed(netip.AddrFrom4([4]byte{198, 51, byte(i), 1}), audit.AuthUnknownToken, "", "r")
	}
	clk.Advance(time.Second)
	rec.AuthFailed(netip.MustParseAddr("203.0.113.7"), audit.AuthNoToken, "", "r")
	stop := runLog(t, l)
	require.NoError(t, stop())
	one, suppressed := authFailures(t, as)
	require.EqualValues(t, 51, one, "fifty in the first second, then the next second's first")
	require.EqualValues(t, 30, suppressed, "the rest counted, in one record")
}

// A flood that stops is still reported: the writer takes the suppressed
// count at its next flush, at shutdown at the latest.
func TestSuppressedAuthFailuresAreWrittenWhenTheFloodStops(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	as := audit.NewStore(openSQLite(t), testKeys(t))
	l, err := audit.NewLog(audit.Options{Store: as, Clock: clk, FlushEvery: time.Hour, Log: discard})
	require.NoError(t, err)
	rec, err := audit.NewRecorder(l, testKeys(t), "")
	require.NoError(t, err)
	for range 1000 {
		rec.AuthFailed(netip.MustParseAddr("198.51.100.1"), audit.AuthUnknownToken, "", "r")
	}
	stop := runLog(t, l)
	require.NoError(t, stop())
	one, suppressed := authFailures(t, as)
	require.EqualValues(t, 50, one)
	require.EqualValues(t, 950, suppressed)
}

// authFailures counts the auth_failure records written one by one, and
// the failures the suppressed records count.
func authFailures(t *testing.T, as *audit.Store) (one, suppressed int64) {
	t.Helper()
	for _, r := range pageAll(t, as, audit.Filter{}, 500) {
		switch {
		case r.Kind == audit.KindAuthFailure && r.Reason == "suppressed":
			suppressed += r.Count
		case r.Kind == audit.KindAuthFailure:
			one++
		}
	}
	return one, suppressed
}
