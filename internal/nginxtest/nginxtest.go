// Package nginxtest runs a real nginx in the foreground for tests and
// benchmarks: the path-escape test puts it in front of a recording
// upstream, the overhead benchmark measures the gateway against it. One
// nginx per call, in its own temp prefix, on a free loopback port, stopped
// by tb.Cleanup. FreeAddr and WaitListening are shared with caddytest,
// which does the same for Caddy.
package nginxtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// RequireEnv, set to 1 (as .ci/run does), turns "nginx is not installed"
// from a skip into a failure.
const RequireEnv = "INTELGATE_TEST_REQUIRE_NGINX"

// Binary finds nginx on PATH or where Debian installs it (/usr/sbin is not
// on every user's PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/nginx"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("nginx is not installed (apt-get install -y nginx; .ci/run and bench/run.sh do this)")
}

// Server is a running nginx.
type Server struct {
	Addr string // host:port it listens on
	Dir  string // its prefix: the config, the files given, error.log
	Pid  int    // the master process; its workers are its children
}

// Start writes files into a fresh prefix directory, then the config
// conf(dir, addr) returns, and runs nginx with it until the test ends.
// Without nginx it skips tb, unless RequireEnv is 1. The config must use
// dir for every path nginx writes (pid, logs, temp paths under dir/tmp)
// and listen on addr.
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
	// nginx workers drop to an unprivileged user when started as root;
	// they must be able to reach the temp paths inside dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatalf("chmod %s: %v", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		tb.Fatalf("creating nginx temp dir: %v", err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatalf("writing %s: %v", name, err)
		}
	}
	addr, err := FreeAddr()
	if err != nil {
		tb.Fatalf("finding a free port: %v", err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf(dir, addr)), 0o644); err != nil {
		tb.Fatalf("writing nginx.conf: %v", err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting nginx: %v", err)
	}
	// exited is closed when nginx has exited, so both the start-up wait
	// and the cleanup can observe it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() { stop(tb, cmd, exited) })
	if err := WaitListening(addr, exited, 20*time.Second); err != nil {
		select {
		case <-exited:
			err = fmt.Errorf("%w (%v)", err, waitErr)
		default:
		}
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		tb.Fatalf("nginx did not start: %v\n%s", err, log)
	}
	return &Server{Addr: addr, Dir: dir, Pid: cmd.Process.Pid}
}

// stop asks the master to finish gracefully (SIGQUIT), and kills it if it
// has not exited within a few seconds. Only this process is signalled.
func stop(tb testing.TB, cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		tb.Logf("nginx did not quit within 10s; killing pid %d", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		<-exited
	}
}

// FreeAddr reserves a free loopback port and releases it for a server
// started next. Another process could take it in between; that server then
// fails to start, loudly.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listening: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("releasing %s: %w", addr, err)
	}
	return addr, nil
}

// WaitListening polls until addr accepts connections, exited is closed
// (the server's process ended), or the timeout passes.
func WaitListening(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", addr, ctx.Err())
		case <-tick.C:
		}
	}
}
