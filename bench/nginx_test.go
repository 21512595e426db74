package bench

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/intelgate/intelgate/internal/nginxtest"
)

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
func startNginx(tb testing.TB, simURL string, caPEM []byte) string {
	tb.Helper()
	u, err := url.Parse(simURL)
	if err != nil {
		tb.Fatalf("parsing simulator URL: %v", err)
	}
	n := nginxtest.Start(tb, map[string][]byte{"ca.pem": caPEM}, func(dir, addr string) string {
		return fmt.Sprintf(nginxConf, dir, u.Host, addr)
	})
	return "http://" + n.Addr
}
