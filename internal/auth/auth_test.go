package auth_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
)

// Tokens for the fixture clients; fixed so failures are reproducible.
const (
	siemToken  = "igt_c2llbS10b2tlbi1mb3ItdGVzdHMtb25seS0wMDAwMDAwMDA"
	soarToken  = "igt_c29hci10b2tlbi1mb3ItdGVzdHMtb25seS0wMDAwMDAwMDA"
	adminToken = "igt_YWRtaW4tdG9rZW4tZm9yLXRlc3RzLW9ubHktMDAwMDAwMDA"
	v6Token    = "igt_djYtdG9rZW4tZm9yLXRlc3RzLW9ubHktMDAwMDAwMDAwMDA"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func newAuthenticator(t *testing.T, trusted ...string) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(map[string]*config.Client{
		"siem": {TokenSHA256: auth.HashToken(siemToken), Environment: "prod", Providers: []string{"socialeye"},
			SourceCIDRs: prefixes("10.0.0.0/8")},
		"soar":  {TokenSHA256: auth.HashToken(soarToken), Environment: "staging"},
		"admin": {TokenSHA256: strings.ToUpper(auth.HashToken(adminToken)), Admin: true},
		"v6": {TokenSHA256: auth.HashToken(v6Token), Providers: []string{"a", "b"},
			SourceCIDRs: prefixes("2001:db8::/32", "::ffff:192.0.2.0/120")},
	}, prefixes(trusted...))
	require.NoError(t, err)
	return a
}

func request(remote, authz string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/lookup", nil)
	r.RemoteAddr = remote
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestAuthenticateHeaderForms(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t)
	tests := []struct {
		name   string
		header []string
		want   string // client name, "" for ErrUnauthenticated
	}{
		{"bearer", []string{"Bearer " + soarToken}, "soar"},
		{"scheme lower case", []string{"bearer " + soarToken}, "soar"},
		{"scheme upper case", []string{"BEARER " + soarToken}, "soar"},
		{"hash stored upper case", []string{"Bearer " + adminToken}, "admin"},
		{"missing", nil, ""},
		{"empty", []string{""}, ""},
		{"scheme only", []string{"Bearer"}, ""},
		{"scheme and space", []string{"Bearer "}, ""},
		{"two spaces", []string{"Bearer  " + soarToken}, ""},
		{"tab", []string{"Bearer\t" + soarToken}, ""},
		{"trailing space", []string{"Bearer " + soarToken + " "}, ""},
		{"extra field", []string{"Bearer " + soarToken + " x"}, ""},
		{"no scheme", []string{soarToken}, ""},
		{"basic", []string{"Basic " + soarToken}, ""},
		{"token scheme", []string{"Token " + soarToken}, ""},
		{"two headers", []string{"Bearer " + soarToken, "Bearer " + soarToken}, ""},
		{"wrong token", []string{"Bearer igt_wrong"}, ""},
		{"token prefix only", []string{"Bearer " + soarToken[:20]}, ""},
		{"token plus suffix", []string{"Bearer " + soarToken + "A"}, ""},
		{"hash instead of token", []string{"Bearer " + auth.HashToken(soarToken)}, ""},
		{"non-ascii", []string{"Bearer igt_é"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := request("203.0.113.9:4242", "")
			for _, h := range tc.header {
				r.Header.Add("Authorization", h)
			}
			c, addr, err := a.Authenticate(r)
			require.Equal(t, netip.MustParseAddr("203.0.113.9"), addr, "source returned for logging either way")
			if tc.want == "" {
				require.Nil(t, c)
				require.ErrorIs(t, err, auth.ErrUnauthenticated)
				// Two classes for the audit log, neither saying more about
				// the token than whether one was well-formed.
				want := auth.ErrNoToken
				switch tc.name {
				case "wrong token", "token prefix only", "token plus suffix", "hash instead of token":
					want = auth.ErrUnknownToken // well-formed, matching no client
				}
				require.Equal(t, want, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.Name)
		})
	}
}

func TestAuthenticateClientFields(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t)
	c, _, err := a.Authenticate(request("10.1.2.3:1", "Bearer "+siemToken))
	require.NoError(t, err)
	require.Equal(t, "siem", c.Name)
	require.Equal(t, "prod", c.Environment)
	require.False(t, c.Admin)
	require.True(t, c.Allows("socialeye"))
	require.False(t, c.Allows("other"))
	require.False(t, c.Allows(""))

	c, _, err = a.Authenticate(request("10.1.2.3:1", "Bearer "+soarToken))
	require.NoError(t, err)
	require.False(t, c.Allows("socialeye"), "no providers listed means none allowed")

	c, _, err = a.Authenticate(request("10.1.2.3:1", "Bearer "+adminToken))
	require.NoError(t, err)
	require.True(t, c.Admin)
}

func TestAuthenticateSource(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t)
	tests := []struct {
		name   string
		token  string
		remote string
		allow  bool
	}{
		{"v4 inside", siemToken, "10.200.0.1:5000", true},
		{"v4 outside", siemToken, "192.168.0.1:5000", false},
		{"v4-mapped inside", siemToken, "[::ffff:10.0.0.1]:5000", true},
		{"v4-mapped outside", siemToken, "[::ffff:11.0.0.1]:5000", false},
		{"v6 to a v4-only client", siemToken, "[2001:db8::1]:5000", false},
		{"v6 inside", v6Token, "[2001:db8:1::1]:5000", true},
		{"v6 with zone inside", v6Token, "[2001:db8::1%eth0]:5000", true},
		{"v6 outside", v6Token, "[2001:db9::1]:5000", false},
		{"mapped prefix matches plain v4", v6Token, "192.0.2.77:5000", true},
		{"mapped prefix matches mapped", v6Token, "[::ffff:192.0.2.77]:5000", true},
		{"mapped prefix outside", v6Token, "192.0.3.1:5000", false},
		{"no cidrs: any v4", soarToken, "198.51.100.1:5000", true},
		{"no cidrs: any v6", soarToken, "[2001:db8::1]:5000", true},
		{"no cidrs: unparseable remote", soarToken, "@", true},
		{"cidrs: unparseable remote", siemToken, "@", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, err := a.Authenticate(request(tc.remote, "Bearer "+tc.token))
			require.NotNil(t, c, "the client is returned even when its source is denied")
			if tc.allow {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, auth.ErrSourceNotAllowed)
			}
		})
	}
}

// TestAuthenticateForwarded: X-Forwarded-For decides the source only when
// the peer is a trusted proxy.
func TestAuthenticateForwarded(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, "172.16.0.0/12", "10.255.0.0/16")
	tests := []struct {
		name   string
		remote string
		xff    []string
		allow  bool
	}{
		{"spoofed xff from untrusted peer ignored", "192.168.1.1:1", []string{"10.0.0.1"}, false},
		{"trusted proxy, client inside", "172.16.0.2:1", []string{"10.0.0.1"}, true},
		{"trusted proxy, client outside", "172.16.0.2:1", []string{"192.168.1.1"}, false},
		{"forged left-most entry ignored", "172.16.0.2:1", []string{"10.0.0.1, 192.168.1.1"}, false},
		{"two trusted hops", "172.16.0.2:1", []string{"192.168.9.9, 10.0.0.1, 172.16.5.5"}, true},
		{"hops split over headers", "172.16.0.2:1", []string{"192.168.9.9, 10.0.0.1", "172.16.5.5"}, true},
		{"malformed trusted hop fails closed", "172.16.0.2:1", []string{"10.0.0.1, garbage"}, false},
		// The proxy's own address is inside siem's 10.0.0.0/8: falling back
		// to it on a malformed entry would wrongly allow the request.
		{"malformed hop does not fall back to proxy", "10.255.0.1:1", []string{"garbage"}, false},
		{"proxy inside cidrs forwarding an outsider", "10.255.0.1:1", []string{"192.168.1.1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := a.Authenticate(request(tc.remote, "Bearer "+siemToken, tc.xff...))
			if tc.allow {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, auth.ErrSourceNotAllowed)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := prefixes("10.0.0.0/8", "::ffff:172.16.0.0/108", "fd00::/8")
	tests := []struct {
		name    string
		remote  string
		xff     []string
		want    string
		wantErr string
	}{
		{"plain v4", "203.0.113.1:80", nil, "203.0.113.1", ""},
		{"no port", "203.0.113.1", nil, "203.0.113.1", ""},
		{"v6", "[2001:db8::1]:80", nil, "2001:db8::1", ""},
		{"mapped unmapped", "[::ffff:203.0.113.1]:80", nil, "203.0.113.1", ""},
		{"untrusted peer, xff ignored", "203.0.113.1:80", []string{"198.51.100.1"}, "203.0.113.1", ""},
		{"trusted peer without xff is the client", "10.0.0.5:80", nil, "10.0.0.5", ""},
		{"trusted peer, one hop", "10.0.0.5:80", []string{"198.51.100.1"}, "198.51.100.1", ""},
		{"right-most untrusted wins", "10.0.0.5:80", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1", ""},
		{"mapped trusted prefix", "172.16.0.1:80", []string{"198.51.100.1"}, "198.51.100.1", ""},
		{"mapped remote, trusted", "[::ffff:10.0.0.5]:80", []string{"198.51.100.1"}, "198.51.100.1", ""},
		{"v6 trusted hop", "[fd00::1]:80", []string{"2001:db8::9, fd00::2"}, "2001:db8::9", ""},
		{"hop with port", "10.0.0.5:80", []string{"198.51.100.1:5555"}, "198.51.100.1", ""},
		{"bracketed v6 hop with port", "10.0.0.5:80", []string{"[2001:db8::9]:5555"}, "2001:db8::9", ""},
		{"all hops trusted: left-most", "10.0.0.5:80", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1", ""},
		{"malformed beyond untrusted ignored", "10.0.0.5:80", []string{"garbage, 198.51.100.1"}, "198.51.100.1", ""},
		{"malformed trusted hop", "10.0.0.5:80", []string{"198.51.100.1, nonsense"}, "", "not an IP address"},
		{"empty trusted hop", "10.0.0.5:80", []string{"198.51.100.1,,10.1.1.1"}, "", "not an IP address"},
		{"bad remote", "not-an-address", nil, "", "parsing remote address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.ClientIP(request(tc.remote, "", tc.xff...), trusted)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.False(t, got.IsValid())
				return
			}
			require.NoError(t, err)
			require.Equal(t, netip.MustParseAddr(tc.want), got)
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		clients map[string]*config.Client
		want    []string
	}{
		"not hex": {map[string]*config.Client{"siem": {TokenSHA256: strings.Repeat("z", 64)}},
			[]string{"clients.siem.token_sha256: must be 64 hex digits"}},
		"too short": {map[string]*config.Client{"siem": {TokenSHA256: "abcd"}},
			[]string{"clients.siem.token_sha256"}},
		"empty":      {map[string]*config.Client{"siem": {}}, []string{"clients.siem.token_sha256"}},
		"nil client": {map[string]*config.Client{"siem": nil}, []string{"clients.siem"}},
		"shared token": {map[string]*config.Client{
			"a": {TokenSHA256: auth.HashToken(siemToken)},
			"b": {TokenSHA256: auth.HashToken(siemToken)},
		}, []string{`clients.b.token_sha256: same token as client "a"`}},
		"all reported": {map[string]*config.Client{
			"a": {TokenSHA256: "x"}, "b": {TokenSHA256: "y"},
		}, []string{"clients.a.", "clients.b."}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.New(tc.clients, nil)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestNewCopiesConfig: editing the config after New must not change who is
// allowed what.
func TestNewCopiesConfig(t *testing.T) {
	t.Parallel()
	cc := &config.Client{TokenSHA256: auth.HashToken(siemToken), Providers: []string{"socialeye"}}
	a, err := auth.New(map[string]*config.Client{"siem": cc}, nil)
	require.NoError(t, err)
	cc.Providers[0] = "other"
	cc.TokenSHA256 = auth.HashToken(soarToken)
	c, _, err := a.Authenticate(request("10.0.0.1:1", "Bearer "+siemToken))
	require.NoError(t, err)
	require.True(t, c.Allows("socialeye"))
}

// TestErrorsNeverContainToken: no failure path echoes the secret.
func TestErrorsNeverContainToken(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, "172.16.0.0/12")
	for _, h := range []string{
		"Bearer " + siemToken + "x", "Bearer " + siemToken, "Basic " + siemToken, siemToken,
	} {
		for _, remote := range []string{"192.168.0.1:1", "@", "172.16.0.1:1"} {
			r := request(remote, h, siemToken+", "+siemToken)
			_, _, err := a.Authenticate(r)
			if err != nil {
				require.NotContains(t, err.Error(), siemToken)
				require.NotContains(t, err.Error(), siemToken[len(auth.TokenPrefix):])
			}
			_, err = auth.ClientIP(r, prefixes("172.16.0.0/12"))
			if err != nil {
				require.NotContains(t, err.Error(), siemToken)
			}
		}
	}
}

// TestProxiesTrust: the peer itself decides, written any way a listener
// reports it; a header never does, and garbage is never trusted.
func TestProxiesTrust(t *testing.T) {
	t.Parallel()
	p := auth.NewProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:192.0.2.0/120"),
		netip.MustParsePrefix("2001:db8::/32")})
	for remote, want := range map[string]bool{
		"10.1.2.3:443":            true,
		"[::ffff:10.1.2.3]:443":   true,
		"192.0.2.9:443":           true, // the mapped prefix was normalised to IPv4
		"[2001:db8::1%eth0]:443":  true,
		"11.0.0.1:443":            false,
		"[2001:db9::1]:443":       false,
		"":                        false,
		"not-an-address":          false,
		"10.1.2.3":                true, // no port, as some proxies' RemoteAddr
		"[::ffff:11.0.0.1]:65535": false,
	} {
		require.Equal(t, want, p.TrustsPeer(remote), remote)
	}
	require.True(t, p.Trusts(netip.MustParseAddr("::ffff:10.0.0.1")))
	require.False(t, p.Trusts(netip.Addr{}))
}
