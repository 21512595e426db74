package bench

import (
	"fmt"
	"net"
	"testing"

	"github.com/intelgate/intelgate/internal/caddytest"
)

// caddyConf is Caddy as the same plain reverse proxy as nginxConf:
// plaintext on loopback in front, TLS to the simulator behind it,
// verified against the simulator's certificate (Caddy, like nginx, cannot
// pin a key), HTTP/1.1 upstream (the simulator speaks nothing else), the
// client's Authorization header passed through. No admin endpoint, no
// automatic HTTPS, no storage outside its temp dir.
//
// Upstream connections are kept alive: Caddy's transport is Go's
// http.Transport, whose idle pool per host Caddy limits to 32 by default;
// keepalive_idle_conns_per_host raises it to pool (busy connections are
// not limited), and keepalive the idle timeout. Caddy never retires a
// connection after a number of requests. The access log is written as
// JSON to a file, like nginx's and the gateway's; Caddy 2.6 has no
// buffering for it, so it costs one write per request.
const caddyConf = `{
	admin off
	auto_https off
	storage file_system %[1]s/data
	log {
		output discard
	}
}

http://:%[4]s {
	bind %[3]s
	log {
		output file %[1]s/access.log
		format json
	}
	reverse_proxy %[2]s {
		transport http {
			tls_trusted_ca_certs %[1]s/ca.pem
			tls_server_name localhost
			versions 1.1
			keepalive 60s
			keepalive_idle_conns %[5]d
			keepalive_idle_conns_per_host %[5]d
		}
	}
}
`

// startCaddy runs Caddy as a reverse proxy to the simulator at simURL,
// keeping up to pool idle upstream connections, on a free loopback port.
func startCaddy(tb testing.TB, simURL string, caPEM []byte, pool int) *caddytest.Server {
	tb.Helper()
	return caddytest.Start(tb, map[string][]byte{"ca.pem": caPEM}, func(dir, addr string) string {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			tb.Fatalf("caddy address %q: %v", addr, err)
		}
		return fmt.Sprintf(caddyConf, dir, simURL, host, port, pool)
	})
}
