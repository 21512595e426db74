package bench

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/intelgate/intelgate/internal/nginxtest"
)

// nginxConf is a plain, well-tuned reverse proxy: plaintext on loopback in
// front, TLS to the simulator behind it, verified against the simulator's
// certificate (nginx cannot pin a key). It holds no key: the client's
// Authorization header passes through untouched.
//
// Upstream connections are kept alive and never retired for fairness with
// the gateway and Caddy: `keepalive` is the idle pool per worker (sized
// for every client of the largest concurrency; busy connections beyond it
// are allowed too, as in Caddy), `keepalive_requests` lifts the default
// of 1000 requests per upstream connection (after which nginx would
// handshake again), and the front side's `keepalive_requests` likewise, so
// wrk's connections are never closed under it. Sessions are resumed when
// a connection does have to be made. `reuseport` gives each worker its
// own listening socket, so the kernel spreads wrk's connections evenly
// over the workers instead of one worker taking most of them. The access
// log is written to a file, like Caddy's and the gateway's, buffered as
// the gateway buffers its own (64 KiB, flushed within 100ms).
const nginxConf = `
worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log %[1]s/access.log combined buffer=64k flush=100ms;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;%[5]s
  upstream simulator {
    server %[2]s;
    keepalive %[4]d;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen %[3]s reuseport;
    location / {
      proxy_pass https://simulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %[1]s/ca.pem;
      proxy_ssl_name localhost;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;%[6]s
    }
  }
}
`

// nginxCacheHTTP and nginxCacheLocation turn nginxConf into a caching
// proxy (the cache-hit benchmark): nginx's standard proxy_cache, one file
// per answer in a temp dir (served from the page cache once written), its
// index in a shared zone both workers use. The key is the
// request URI, query included. The simulator marks every answer
// Cache-Control: no-store (an upstream's answers are not for just anyone
// to keep), so proxy_ignore_headers makes nginx disregard that and keep
// 200s for an hour, as the gateway's ttl: 1h does. proxy_cache_lock lets
// one request per key fill it, like the gateway's coalescing.
// X-Cache-Status ($upstream_cache_status) lets the benchmark check that a
// warm cache answers HIT.
const (
	nginxCacheHTTP = `
  proxy_cache_path %s levels=1:2 keys_zone=hits:10m max_size=256m inactive=2h use_temp_path=off;`
	nginxCacheLocation = `
      proxy_cache hits;
      proxy_cache_key $request_uri;
      proxy_cache_valid 200 1h;
      proxy_ignore_headers Cache-Control Expires Set-Cookie X-Accel-Expires;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status always;`
)

// startNginx runs nginx in the foreground as a reverse proxy to the
// simulator at simURL, keeping up to pool idle upstream connections per
// worker, on a free loopback port.
func startNginx(tb testing.TB, simURL string, caPEM []byte, pool int) *nginxtest.Server {
	tb.Helper()
	return startNginxConf(tb, simURL, caPEM, pool, "", "")
}

// startNginxCache is startNginx with nginx's proxy_cache on.
//
// Its workers write the cache files, and when the benchmark runs as root
// they run as an unprivileged user, who cannot enter the test's own temp
// dirs (0700; the prefix nginxtest makes is reached through one). So the
// cache lives in a temp dir of its own that any user may enter; nginx
// creates the cache directory inside it, owned by the workers' user.
func startNginxCache(tb testing.TB, simURL string, caPEM []byte, pool int) *nginxtest.Server {
	tb.Helper()
	parent, err := os.MkdirTemp("", "intelgate-bench-nginx-cache-")
	if err != nil {
		tb.Fatalf("creating nginx cache dir: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		tb.Fatalf("chmod %s: %v", parent, err)
	}
	httpExtra := fmt.Sprintf(nginxCacheHTTP, filepath.Join(parent, "cache"))
	return startNginxConf(tb, simURL, caPEM, pool, httpExtra, nginxCacheLocation)
}

// startNginxConf runs nginxConf with extra directives in its http block
// and in its location.
func startNginxConf(tb testing.TB, simURL string, caPEM []byte, pool int, httpExtra, location string) *nginxtest.Server {
	tb.Helper()
	u, err := url.Parse(simURL)
	if err != nil {
		tb.Fatalf("parsing simulator URL: %v", err)
	}
	return nginxtest.Start(tb, map[string][]byte{"ca.pem": caPEM}, func(dir, addr string) string {
		return fmt.Sprintf(nginxConf, dir, u.Host, addr, pool, httpExtra, location)
	})
}
