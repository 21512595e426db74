package auth

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/intelgate/intelgate/internal/config"
)

// BenchmarkClientIP is the source address work of every request: from a
// direct peer (IPv4, IPv6) and through a trusted proxy.
func BenchmarkClientIP(b *testing.B) {
	proxies := NewProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, c := range []struct{ name, remote, xff string }{
		{"ipv4", "203.0.113.7:51234", ""},
		{"ipv6", "[2001:db8::1]:51234", ""},
		{"proxied", "10.0.0.2:51234", "198.51.100.9, 10.0.0.3"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/v1/resolve", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proxies.ClientIP(r); err != nil {
					b.Fatal(err)
				}
				proxies.TrustsPeer(r.RemoteAddr)
			}
		})
	}
}

// BenchmarkAuthenticate is a valid token from an allowed source: the
// address, the header, the constant-time scan.
func BenchmarkAuthenticate(b *testing.B) {
	token := "igt_" + strings.Repeat("x", 43)
	a, err := New(map[string]*config.Client{"siem": {TokenSHA256: HashToken(token), Environment: "prod"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/resolve", nil)
	r.RemoteAddr = "203.0.113.7:51234"
	r.Header.Set("Authorization", "Bearer "+token)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}
