// Package caddytest runs a real Caddy in the foreground for tests and
// benchmarks, as nginxtest does for nginx: the overhead benchmark measures
// the gateway against it as a reverse proxy. One Caddy per call, with its
// own temp directory as HOME and XDG data/config dirs (so it never touches
// ~/.local/share/caddy or autosaves a config), on a free loopback port,
// stopped by tb.Cleanup.
package caddytest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/nginxtest"
)

// RequireEnv, set to 1, turns "caddy is not installed" from a skip into a
// failure.
const RequireEnv = "INTELGATE_TEST_REQUIRE_CADDY"

// Binary finds caddy on PATH or where Debian installs it.
func Binary() (string, error) {
	if p, err := exec.LookPath("caddy"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/caddy"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("caddy is not installed (apt-get install -y caddy; bench/run.sh does this)")
}

// Server is a running Caddy.
type Server struct {
	Addr string // host:port it listens on
	Dir  string // its directory: the Caddyfile, the files given, caddy.log
	Pid  int    // the caddy process (a single process; no workers)
}

// Start writes files into a fresh directory, then the Caddyfile conf(dir,
// addr) returns, and runs `caddy run` with it until the test ends. Without
// caddy it skips tb, unless RequireEnv is 1. The Caddyfile must listen on
// addr and should say `admin off` in its global options: Caddy's admin
// endpoint otherwise listens on localhost:2019, shared by every Caddy on
// the machine. Caddy's own log (stderr) goes to dir/caddy.log.
func Start(tb testing.TB, files map[string][]byte, conf func(dir, addr string) string) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%s=1 but %v", RequireEnv, err)
		}
		tb.Skip(err.Error())
	}
	dir := tb.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatalf("writing %s: %v", name, err)
		}
	}
	addr, err := nginxtest.FreeAddr()
	if err != nil {
		tb.Fatalf("finding a free port: %v", err)
	}
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf(dir, addr)), 0o644); err != nil {
		tb.Fatalf("writing Caddyfile: %v", err)
	}
	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatalf("creating caddy.log: %v", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", confPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting caddy: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() { stop(tb, cmd, exited) })
	if err := nginxtest.WaitListening(addr, exited, 20*time.Second); err != nil {
		select {
		case <-exited:
			err = fmt.Errorf("%w (%v)", err, waitErr)
		default:
		}
		log, _ := os.ReadFile(logPath)
		tb.Fatalf("caddy did not start: %v\n%s", err, log)
	}
	return &Server{Addr: addr, Dir: dir, Pid: cmd.Process.Pid}
}

// stop asks Caddy to shut down gracefully (SIGTERM), and kills it if it
// has not exited within a few seconds. Only this process is signalled.
func stop(tb testing.TB, cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		tb.Logf("caddy did not quit within 10s; killing pid %d", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		<-exited
	}
}
