//go:build unix

package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freeLoopbackAddr is a loopback address no one listened on a moment ago.
// The processes below must be told where to listen up front: their
// "serving" line is held back in the log buffer like every other.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// requireLogFlushedOnSignal runs intelgate with args (serving on addr)
// with a log flush interval no test outlives, sends it requests, checks
// that their access log lines are still buffered, then sends sig: the
// process must exit cleanly having written every one of them.
func requireLogFlushedOnSignal(t *testing.T, addr string, sig syscall.Signal, args ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	p := startMainEnv(t, deadline, []string{logFlushEnv + "=1h"}, args...)

	answered := 0
	get := func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		answered++ // its access log line was handed to the logger before the answer was sent
		return resp.StatusCode == http.StatusOK
	}
	for !get() {
		require.True(t, time.Now().Before(deadline), "the gateway never answered; log:\n%s", p.log)
		select {
		case <-p.log.ended:
			t.Fatalf("the process exited; log:\n%s", p.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for range 100 {
		require.True(t, get())
	}
	require.NotContains(t, p.log.String(), `"path":"/healthz"`, "access log lines are buffered, not written one by one")

	require.NoError(t, p.cmd.Process.Signal(sig))
	require.NoError(t, p.wait(), "a clean exit; log:\n%s", p.log)
	p.log.mu.Lock()
	logged := 0
	for _, rec := range p.log.lines {
		if rec["msg"] == "request" && rec["path"] == "/healthz" {
			logged++
		}
	}
	p.log.mu.Unlock()
	require.Equal(t, answered, logged, "every request answered before the signal is in the log; log:\n%s", p.log)
	p.log.wait(t, "intelgate serving", deadline)
	p.log.wait(t, "shutting down", deadline)
}

// TestServeWritesEveryLogLineOnSIGTERM: SIGTERM flushes the log.
func TestServeWritesEveryLogLineOnSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "socialeye.key"), []byte("sk_live_flush_test_key\n"), 0o600))
	addr := freeLoopbackAddr(t)
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, `server: {listen: %q}
storage: {driver: sqlite, dsn: intelgate.db}
providers:
  socialeye:
    kind: socialeye
    keys: [{id: prod-1, secret: "file:socialeye.key"}]
clients:
  siem: {token_sha256: %s, providers: [socialeye]}
`, addr, validateHash), 0o600))
	requireLogFlushedOnSignal(t, addr, syscall.SIGTERM, "serve", "--config", cfgPath)
}

// TestDemoWritesEveryLogLineOnSIGINT: so does Ctrl-C in the demo.
func TestDemoWritesEveryLogLineOnSIGINT(t *testing.T) {
	t.Parallel()
	addr := freeLoopbackAddr(t)
	requireLogFlushedOnSignal(t, addr, syscall.SIGINT, "demo", "--dir", t.TempDir(), "--addr", addr)
}
