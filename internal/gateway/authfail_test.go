package gateway

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/lookup"
)

// floodHarness is a gateway with a small auth failure limit on a fake clock.
type floodHarness struct {
	g     *Gateway
	h     http.Handler
	clock *clocktest.Clock
	log   *logtest.Buffer
}

var floodLimits = AuthFailureLimits{Max: 3, Window: time.Minute, MaxSources: 100, LogInterval: 10 * time.Second}

func newFloodHarness(t *testing.T, lim AuthFailureLimits, trusted ...netip.Prefix) *floodHarness {
	t.Helper()
	log, buf := logtest.JSONLogger()
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(t, lookup.Options{}), Log: log, Clock: clock,
		AuthFailures: lim, TrustedProxies: trusted})
	require.NoError(t, err)
	return &floodHarness{g: g, h: g.Handler(), clock: clock, log: buf}
}

// do sends an authenticated-route request from remote (ip:port) with token
// and, if not empty, X-Forwarded-For.
func (f *floodHarness) do(t *testing.T, remote, token, xff string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/lookup?indicator=8.8.8.8", nil)
	req.RemoteAddr = remote
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// admitted: the request got past authentication (the lookup itself then
// fails with 400 unsupported-type, as this gateway has no providers).
func admitted(rec *httptest.ResponseRecorder) bool {
	return rec.Code != http.StatusUnauthorized && rec.Code != http.StatusTooManyRequests
}

func requireBlocked(t *testing.T, rec *httptest.ResponseRecorder, retryAfter string) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	p := decodeProblem(t, rec)
	require.Equal(t, problemBase+"too-many-auth-failures", p.Type)
	require.Equal(t, retryAfter, rec.Header().Get("Retry-After"))
}

func TestAuthFailuresBlockOneSourceForItsWindow(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, floodLimits)
	const src, other = "192.0.2.10:4000", "192.0.2.11:4000"

	for i := range floodLimits.Max {
		rec := f.do(t, src, "igt_wrong", "")
		require.Equal(t, http.StatusUnauthorized, rec.Code, "failure %d is still evaluated", i+1)
	}
	// Past the threshold: 429 for every further failure, counted, not
	// logged one by one; a valid token from the same address (a client
	// behind the same NAT) is still served: the block cannot be used to
	// lock it out.
	requireBlocked(t, f.do(t, src, "igt_wrong", ""), "60")
	requireBlocked(t, f.do(t, src, "", ""), "60")
	require.True(t, admitted(f.do(t, src, testToken, "")), "a valid token is never refused by the block")
	requireBlocked(t, f.do(t, src, "igt_wrong", ""), "60")

	// Another source is unaffected, with a good token or a bad one.
	require.True(t, admitted(f.do(t, other, testToken, "")))
	require.Equal(t, http.StatusUnauthorized, f.do(t, other, "igt_wrong", "").Code)

	// Retry-After counts down to the end of the window (from the first
	// failure), and refused requests do not extend it.
	f.clock.Advance(45 * time.Second)
	requireBlocked(t, f.do(t, src, "igt_wrong", ""), "15")
	f.clock.Advance(14*time.Second + 500*time.Millisecond)
	requireBlocked(t, f.do(t, src, "igt_wrong", ""), "1") // rounded up, never early
	f.clock.Advance(500 * time.Millisecond)

	// The window is over: the source may try again, and its count restarts.
	require.True(t, admitted(f.do(t, src, testToken, "")))
	for range floodLimits.Max {
		require.Equal(t, http.StatusUnauthorized, f.do(t, src, "igt_wrong", "").Code)
	}
	requireBlocked(t, f.do(t, src, "igt_wrong", ""), "60")
}

func TestAuthFailuresGroupIPv6By64(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, floodLimits)
	// One host rotating through its /64.
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
		require.Equal(t, http.StatusUnauthorized, f.do(t, "["+a+"]:4000", "igt_wrong", "").Code)
	}
	requireBlocked(t, f.do(t, "[2001:db8:1:2:abcd::9]:4000", "igt_wrong", ""), "60")
	// The next /64 is someone else.
	require.True(t, admitted(f.do(t, "[2001:db8:1:3::1]:4000", testToken, "")))
	// IPv4 is per address, however written.
	for range floodLimits.Max {
		require.Equal(t, http.StatusUnauthorized, f.do(t, "[::ffff:198.51.100.7]:4000", "igt_wrong", "").Code)
	}
	requireBlocked(t, f.do(t, "198.51.100.7:4000", "igt_wrong", ""), "60")
	require.True(t, admitted(f.do(t, "198.51.100.8:4000", testToken, "")))
}

// TestAuthFailuresCountTheForwardedClient: behind a trusted proxy, the
// client it forwards is the source, so one client's guesses do not block
// everyone behind the proxy.
func TestAuthFailuresCountTheForwardedClient(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, floodLimits, netip.MustParsePrefix("10.0.0.1/32"))
	const proxy = "10.0.0.1:5555"
	for range floodLimits.Max {
		require.Equal(t, http.StatusUnauthorized, f.do(t, proxy, "igt_wrong", "203.0.113.5").Code)
	}
	requireBlocked(t, f.do(t, proxy, "igt_wrong", "203.0.113.5"), "60")
	// A forged left-most entry does not escape the block.
	requireBlocked(t, f.do(t, proxy, "igt_wrong", "192.0.2.99, 203.0.113.5"), "60")
	require.True(t, admitted(f.do(t, proxy, testToken, "203.0.113.6")))
}

// TestAuthFailuresLoggedAggregated: no line per failure; one line per
// source per interval, with the counts, written by the flush loop, which
// ends with its context and flushes once more on the way out.
func TestAuthFailuresLoggedAggregated(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, floodLimits)
	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		f.g.authFails.run(ctx, tick)
		close(done)
	}()

	for range 5 { // 3 failures, then 2 refused
		f.do(t, "192.0.2.20:1", "igt_wrong", "")
	}
	for range 2 {
		f.do(t, "[2001:db8:9::1]:1", "igt_wrong", "")
	}
	require.Empty(t, authFailureLines(t, f.log), "nothing is logged per failure")

	tick <- f.clock.Now()
	tick <- f.clock.Now() // the loop has finished the first flush once it takes the second
	lines := authFailureLines(t, f.log)
	require.Len(t, lines, 2, "one line per source")
	bySource := map[string]map[string]any{}
	for _, l := range lines {
		bySource[l["source"].(string)] = l
	}
	v4, v6 := bySource["192.0.2.20"], bySource["2001:db8:9::/64"]
	require.NotNil(t, v4, "%v", lines)
	require.NotNil(t, v6, "%v", lines)
	require.EqualValues(t, 3, v4["failures"])
	require.EqualValues(t, 2, v4["refused"])
	require.Equal(t, true, v4["blocked"])
	require.Equal(t, "1m0s", v4["blocked_for"])
	require.Equal(t, "WARN", v4["level"])
	require.EqualValues(t, 2, v6["failures"])
	require.Equal(t, false, v6["blocked"])

	// The access log lines of those requests are debug, not info.
	for _, l := range strings.Split(strings.TrimSpace(f.log.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["msg"] == "request" {
			require.Equal(t, "DEBUG", m["level"], l)
		}
	}

	// Nothing new: no new lines. A new failure is logged at shutdown.
	tick <- f.clock.Now()
	require.Len(t, authFailureLines(t, f.log), 2)
	f.do(t, "192.0.2.21:1", "igt_wrong", "")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the flush loop did not end with its context")
	}
	lines = authFailureLines(t, f.log)
	require.Len(t, lines, 3)
	require.Equal(t, "192.0.2.21", lines[2]["source"])
	require.EqualValues(t, 1, lines[2]["failures"])
}

// TestGatewayRunEndsWithItsContext: the production loop (real ticker) has a
// lifecycle and leaves no goroutine behind.
func TestGatewayRunEndsWithItsContext(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, floodLimits)
	f.do(t, "192.0.2.30:1", "igt_wrong", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.g.Run(ctx)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	lines := authFailureLines(t, f.log)
	require.Len(t, lines, 1, "the final flush logs what was counted")
}

// TestAuthFailureTrackerIsBounded: 100k distinct sources never make the
// tracker hold more than max_sources, and what is evicted is still
// counted, in one summary line.
func TestAuthFailureTrackerIsBounded(t *testing.T) {
	t.Parallel()
	log, buf := logtest.JSONLogger()
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	lim := AuthFailureLimits{Max: 3, Window: time.Minute, MaxSources: 1000, LogInterval: time.Minute}
	tr := newAuthFailures(lim, clock.Now, log)
	const n = 100_000
	var b [4]byte
	for i := range n {
		binary.BigEndian.PutUint32(b[:], 0x0a000000+uint32(i)) // 10.0.0.0 + i
		tr.fail(netip.AddrFrom4(b))
		if l := tr.len(); l > lim.MaxSources {
			t.Fatalf("tracker holds %d sources after %d, bound %d", l, i+1, lim.MaxSources)
		}
	}
	require.Equal(t, lim.MaxSources, tr.len())
	// A blocked source that keeps trying stays tracked while others churn.
	hot := netip.MustParseAddr("192.0.2.40")
	for range lim.Max {
		tr.fail(hot)
	}
	for i := range 5 * lim.MaxSources {
		if _, blocked := tr.blocked(hot); !blocked {
			t.Fatalf("the active blocked source was evicted after %d others", i)
		}
		binary.BigEndian.PutUint32(b[:], 0x0b000000+uint32(i))
		tr.fail(netip.AddrFrom4(b))
	}

	tr.flush()
	lines := authFailureLines(t, buf)
	require.LessOrEqual(t, len(lines), lim.MaxSources+1, "at most one line per tracked source, plus one summary")
	summary := lines[len(lines)-1]
	require.Equal(t, "evicted", summary["source"])
	evictedSources := n + 5*lim.MaxSources + 1 - lim.MaxSources // all failed once; hot was never evicted
	require.EqualValues(t, evictedSources, summary["sources"])
	require.EqualValues(t, evictedSources, summary["failures"])

	// After the window and a flush, quiet sources are dropped entirely.
	clock.Advance(lim.Window)
	tr.flush()
	require.Zero(t, tr.len())
}

func TestSourceKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":                    "192.0.2.1",
		"::ffff:192.0.2.1":             "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":         "2001:db8:1:2::/64",
		"fe80::1%eth0":                 "fe80::/64",
		"2001:db8:1:2:ffff::ffff:ffff": "2001:db8:1:2::/64",
	} {
		require.Equal(t, want, sourceString(sourceKey(netip.MustParseAddr(in))), in)
	}
	require.Equal(t, "unknown", sourceString(sourceKey(netip.Addr{})))
}

func authFailureLines(t *testing.T, buf *logtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["event"] == "auth_failed" {
			out = append(out, m)
		}
	}
	return out
}

// A full tracker forgets a quiet source before a blocked one: flooding it
// with fresh sources does not free the blocked attacker to fail again.
func TestAuthFailuresEvictUnblockedFirst(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, AuthFailureLimits{Max: 3, Window: time.Minute, MaxSources: 4, LogInterval: time.Minute})
	const attacker = "192.0.2.1:1"
	for range 3 {
		f.do(t, attacker, "igt_wrong", "")
	}
	requireBlocked(t, f.do(t, "192.0.2.1:2", "igt_wrong", ""), "60")
	for i := range 50 { // fresh sources, one failure each
		f.do(t, fmt.Sprintf("198.51.100.%d:1", i+1), "igt_wrong", "")
	}
	require.LessOrEqual(t, f.g.authFails.len(), 4)
	requireBlocked(t, f.do(t, attacker, "igt_wrong", ""), "60")
}

// Failures from many sources at once are at most maxFailureLines lines
// per source, the busiest, plus one line for the rest.
func TestAuthFailuresLogLinesAreCapped(t *testing.T) {
	t.Parallel()
	f := newFloodHarness(t, AuthFailureLimits{Max: 3, Window: time.Minute, MaxSources: 1000, LogInterval: time.Minute})
	for i := range 300 {
		f.do(t, fmt.Sprintf("198.51.%d.%d:1", i/250, i%250+1), "igt_wrong", "")
	}
	for range 2 {
		f.do(t, "192.0.2.77:1", "igt_wrong", "") // the busiest source
	}
	f.g.authFails.flush()
	logs := f.log.String()
	require.Equal(t, maxFailureLines+1, strings.Count(logs, `"event":"auth_failed"`))
	require.Contains(t, logs, `"source":"192.0.2.77","failures":2`, "the busiest source has its own line")
	require.Contains(t, logs, `"source":"others","sources":201,"failures":201`)
}

// The failure that blocks a source says so, once per window, so that the
// block is audited once rather than with every refused request.
func TestAuthFailureThatBlocksIsReportedOnce(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	lim := AuthFailureLimits{Max: 3, Window: time.Minute, MaxSources: 10, LogInterval: time.Minute}
	tr := newAuthFailures(lim, clock.Now, slog.New(slog.DiscardHandler))
	src := netip.MustParseAddr("198.51.100.7")
	var blocks []time.Duration
	for range 6 {
		if blocked, d := tr.fail(src); blocked {
			blocks = append(blocks, d)
		}
	}
	require.Equal(t, []time.Duration{time.Minute}, blocks)
	clock.Advance(time.Minute)
	for range 3 {
		if blocked, d := tr.fail(src); blocked {
			blocks = append(blocks, d)
		}
	}
	require.Len(t, blocks, 2, "a new window blocks again, and says so again")
}
