//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// processLog collects the JSON log lines of a child process and lets the
// test wait for one, without calling require off the test goroutine.
type processLog struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
	added chan struct{} // signalled (non-blocking) on every new line
	ended chan struct{} // closed when the process closed its stderr (exited)
}

func (l *processLog) read(sc *bufio.Scanner) {
	defer close(l.ended)
	for sc.Scan() {
		var rec map[string]any
		_ = json.Unmarshal(sc.Bytes(), &rec) // a non-JSON line stays in raw only
		l.mu.Lock()
		l.raw.WriteString(sc.Text() + "\n")
		if rec != nil {
			l.lines = append(l.lines, rec)
		}
		l.mu.Unlock()
		select {
		case l.added <- struct{}{}:
		default:
		}
	}
}

// wait returns the first line whose msg starts with prefix, polling until
// the deadline; it fails at once if the process has exited without it.
func (l *processLog) wait(t *testing.T, prefix string, deadline time.Time) map[string]any {
	t.Helper()
	for {
		l.mu.Lock()
		for _, rec := range l.lines {
			if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, prefix) {
				l.mu.Unlock()
				return rec
			}
		}
		raw := l.raw.String()
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-l.ended:
			select {
			case <-l.added: // a last line came with the end: look again
				continue
			default:
			}
			t.Fatalf("the process exited without logging %q; its log:\n%s", prefix, raw)
		case <-time.After(time.Until(deadline)):
			t.Fatalf("no log line %q before the deadline; log so far:\n%s", prefix, raw)
		}
	}
}

func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// mainProcess is the test binary running as intelgate (runMainEnv), with
// its stderr log collected.
type mainProcess struct {
	cmd    *exec.Cmd
	log    *processLog
	exited bool
}

// startMain runs `intelgate args…` as a real process, killed at deadline or
// at the end of the test if it is still running.
func startMain(t *testing.T, deadline time.Time, args ...string) *mainProcess {
	t.Helper()
	return startMainEnv(t, deadline, nil, args...)
}

// startMainEnv is startMain with extra environment variables (NAME=value).
func startMainEnv(t *testing.T, deadline time.Time, env []string, args ...string) *mainProcess {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &mainProcess{cmd: cmd, log: &processLog{added: make(chan struct{}, 1), ended: make(chan struct{})}}
	go p.log.read(bufio.NewScanner(stderr))
	t.Cleanup(func() {
		if !p.exited {
			_ = cmd.Process.Kill()
			<-p.log.ended
			_ = cmd.Wait()
		}
	})
	return p
}

// wait waits for the process to exit (after its stderr closed) and returns
// its exit error.
func (p *mainProcess) wait() error {
	<-p.log.ended
	err := p.cmd.Wait()
	p.exited = true
	return err
}

// TestServeReloadsOnSIGHUP runs `intelgate serve` as a real process: a
// SIGHUP reloads the configuration (logged as applied), a SIGHUP after
// the file was broken is refused with the running configuration kept, and
// the gateway answers throughout; SIGTERM then shuts it down cleanly with
// status 0. Start-up also logs the warning for a key file others can read.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "socialeye.key")
	require.NoError(t, os.WriteFile(key, []byte("sk_live_signal_test_key\n"), 0o600))
	require.NoError(t, os.Chmod(key, 0o644))
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, `server: {listen: "127.0.0.1:0"}
storage: {driver: sqlite, dsn: intelgate.db}
providers:
  socialeye:
    kind: socialeye
    keys: [{id: prod-1, secret: "file:socialeye.key"}]
clients:
  siem: {token_sha256: %s, providers: [socialeye]}
`, validateHash), 0o600))

	// A generous bound for a loaded 2-core machine under -race; the
	// process is killed if the test gets that far.
	deadline := time.Now().Add(60 * time.Second)
	p := startMain(t, deadline, "serve", "--config", cfgPath)
	cmd, log := p.cmd, p.log

	serving := log.wait(t, "intelgate serving", deadline)
	addr, _ := serving["addr"].(string)
	require.NotEmpty(t, addr, "serving line names the address")
	healthz := func() {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/healthz")
		require.NoError(t, err, "log:\n%s", log)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	healthz()

	warning := log.wait(t, "configuration warning", deadline)
	require.Equal(t, "providers.socialeye.keys[0].secret", warning["field"])
	require.Contains(t, warning["problem"], "has mode 0644: readable by group/others; chmod 600")

	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	hup := log.wait(t, "configuration reloaded", deadline)
	require.Equal(t, "INFO", hup["level"])
	require.Equal(t, "sighup", hup["by"])
	healthz()

	// A broken file is refused whole; the gateway keeps running on what
	// it loaded before.
	require.NoError(t, os.WriteFile(cfgPath, []byte("server: {listen: [not, a, string]}\n"), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	refused := log.wait(t, "configuration reload refused", deadline)
	require.Equal(t, "ERROR", refused["level"])
	require.Contains(t, refused["error"], "server.listen")
	healthz()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := p.wait()
	require.NoError(t, err, "SIGTERM is a clean exit 0; log:\n%s", log)
	require.Equal(t, 0, cmd.ProcessState.ExitCode())
	log.wait(t, "shutting down", deadline)
	require.NotContains(t, log.String(), "sk_live_signal_test_key")
}

// TestDemoStopsOnSIGHUP: the demo runs in a terminal, so a hang-up stops
// it gracefully (exit 0, directory lock released) instead of leaving it
// holding its port.
func TestDemoStopsOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deadline := time.Now().Add(60 * time.Second)
	p := startMain(t, deadline, "demo", "--dir", dir, "--addr", "127.0.0.1:0")
	cmd, log := p.cmd, p.log
	log.wait(t, "intelgate serving", deadline)

	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	err := p.wait()
	require.NoError(t, err, "a hang-up is a clean exit; log:\n%s", log)
	log.wait(t, "shutting down", deadline)

	// The lock is released: a second demo on the same directory starts.
	unlock, err := lockDemoDir(dir)
	require.NoError(t, err, "the demo released its directory lock")
	unlock()
}
