package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// nginxBinary finds nginx on PATH or where Debian installs it (/usr/sbin is
// not on every user's PATH).
func nginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/nginx"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("nginx is not installed (apt-get install -y nginx; bench/run.sh does this)")
}

// nginxConf is a plain, well-tuned reverse proxy: plaintext on loopback in
// front, TLS to the simulator behind it, verified against the simulator's
// certificate, with a keep-alive upstream pool like the gateway's. It holds
// no key: the client's Authorization header passes through untouched.
const nginxConf = `
worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  upstream simulator {
    server %[2]s;
    keepalive 64;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass https://simulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %[1]s/ca.pem;
      proxy_ssl_name localhost;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
`

// startNginx runs nginx in the foreground as a reverse proxy to the
// simulator at simURL, on a free loopback port, and returns its base URL.
// tb.Cleanup stops it (graceful quit, then kill) and waits for it.
func startNginx(tb testing.TB, simURL string, caPEM []byte) string {
	tb.Helper()
	bin, err := nginxBinary()
	if err != nil {
		tb.Skip(err.Error())
	}
	u, err := url.Parse(simURL)
	if err != nil {
		tb.Fatalf("parsing simulator URL: %v", err)
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
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o644); err != nil {
		tb.Fatalf("writing CA: %v", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		tb.Fatalf("finding a free port: %v", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, u.Host, addr), 0o644); err != nil {
		tb.Fatalf("writing nginx.conf: %v", err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting nginx: %v", err)
	}
	// exited is closed when nginx has exited, so both the start-up wait
	// and the cleanup can observe it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() { stopNginx(tb, cmd, exited) })
	if err := waitListening(addr, exited, 10*time.Second); err != nil {
		select {
		case <-exited:
			err = fmt.Errorf("%w (%v)", err, waitErr)
		default:
		}
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		tb.Fatalf("nginx did not start: %v\n%s", err, log)
	}
	return "http://" + addr
}

// stopNginx asks the master to finish gracefully (SIGQUIT), and kills it if
// it has not exited within a few seconds. Only this process is signalled.
func stopNginx(tb testing.TB, cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		tb.Logf("nginx did not quit within 5s; killing pid %d", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		<-exited
	}
}

// freeLoopbackAddr reserves a free loopback port and releases it for nginx.
// Another process could take it in between; startNginx then fails loudly.
func freeLoopbackAddr() (string, error) {
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

// waitListening polls until addr accepts connections, the process exits,
// or the timeout passes.
func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) error {
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
			return errors.New("nginx exited")
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", addr, ctx.Err())
		case <-tick.C:
		}
	}
}
