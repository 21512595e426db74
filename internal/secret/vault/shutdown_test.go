package vault_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// stuckRevocations makes a Vault that never answers revoke-self: each one
// is held until the client gives up on it (or the test ends), as a Vault
// gone unreachable or wedged behind a load balancer would hold it. It
// counts them; arrived receives one value per request.
type stuckRevocations struct {
	n       atomic.Int32
	arrived chan struct{}
	release chan struct{}
}

func newStuckRevocations() *stuckRevocations {
	return &stuckRevocations{arrived: make(chan struct{}, 16), release: make(chan struct{})}
}

// hook is the server's OnRequest.
func (h *stuckRevocations) hook(r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/auth/token/revoke-self") {
		return
	}
	h.n.Add(1)
	h.arrived <- struct{}{}
	select {
	case <-r.Context().Done():
	case <-h.release:
	}
}

// free lets every held request through; register it with t.Cleanup after
// NewServer, so it runs before the server's Close, which waits for them.
func (h *stuckRevocations) free() { close(h.release) }

// slowTimeout is a per-request timeout longer than patience: a revocation
// that only it bounds fails the test.
const slowTimeout = time.Hour

// TestShutdownBound: the bound of revocation at shutdown is the timeout,
// at most 5s.
func TestShutdownBound(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	for timeout, want := range map[time.Duration]time.Duration{slowTimeout: 5 * time.Second, 2 * time.Second: 2 * time.Second} {
		o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
		o.Timeout = timeout
		src := newSource(t, o)
		require.Equal(t, want, vault.ShutdownBound(src), "timeout %s", timeout)
		require.NoError(t, src.Close())
	}
}

// TestCloseIsBoundedAgainstAVaultThatHangs: Close revokes within the
// shutdown bound, not the per-request timeout, when Vault never answers.
func TestCloseIsBoundedAgainstAVaultThatHangs(t *testing.T) {
	t.Parallel()
	stuck := newStuckRevocations()
	srv := vaulttest.NewServer(t, vaulttest.Options{OnRequest: stuck.hook})
	t.Cleanup(stuck.free)
	log, logs := logtest.JSONLogger()
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	o.Timeout, o.Log = slowTimeout, log
	src := newSource(t, o)
	vault.SetShutdownCap(src, 50*time.Millisecond)

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = src.Close()
	}()
	select {
	case <-closed:
	case <-time.After(patience):
		t.Fatal("Close waited on a Vault that never answers beyond the shutdown bound")
	}
	require.EqualValues(t, 1, stuck.n.Load())
	line := logLine(t, logs, "revoking the shut down token failed")
	require.Equal(t, "WARN", line["level"])
	require.Contains(t, line["err"], "no answer within the shutdown bound (50ms)")
}

// TestShutdownIsOneBoundForEveryRevocation: a replaced token's revocation
// still under way when Run's context ends, and the revocation of the token
// in use, share one deadline — the shutdown bound, from the end of the
// context — not one timeout each. Against a Vault that never answers, the
// first is cut at the bound, and the second, due after it, is not sent.
func TestShutdownIsOneBoundForEveryRevocation(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(clockStart)
	stuck := newStuckRevocations()
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk, OnRequest: stuck.hook})
	t.Cleanup(stuck.free)
	log, logs := logtest.JSONLogger()
	_, src := dueFirstToken(t, srv, clk, vaulttest.TokenOptions{}, func(o *vault.Options) { o.Timeout, o.Log = slowTimeout, log })
	vault.SetShutdownCap(src, 50*time.Millisecond)

	stop := runUntil(t, src)
	select {
	case <-stuck.arrived: // the replaced token's revocation, held
	case <-time.After(patience):
		t.Fatal("the replaced token's revocation never reached Vault")
	}
	stop() // fails the test unless Run returns
	require.EqualValues(t, 1, stuck.n.Load(), "nothing is sent once the bound has run out")
	replaced := logLine(t, logs, "revoking the replaced token failed")
	require.Contains(t, replaced["err"], "no answer within the shutdown bound")
	final := logLine(t, logs, "the shut down token was not revoked: the shutdown bound ran out first")
	require.Equal(t, "WARN", final["level"])
	assertNoLeak(t, logs.String(), srv.Tokens()...)
}

// logLines are the JSON log lines in logs whose message contains msg.
func logLines(t *testing.T, logs *logtest.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		if s, _ := m["msg"].(string); strings.Contains(s, msg) {
			out = append(out, m)
		}
	}
	return out
}

// logLine is the one JSON log line whose message contains msg.
func logLine(t *testing.T, logs *logtest.Buffer, msg string) map[string]any {
	t.Helper()
	lines := logLines(t, logs, msg)
	require.Len(t, lines, 1, "log lines with %q in:\n%s", msg, logs.String())
	return lines[0]
}
