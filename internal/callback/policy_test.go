package callback_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/callback"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()
	hosts := []string{"hooks.example.com", "*.soar.example.org", "bücher.example", "203.0.114.7", "2001:4860::8888",
		"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "0.0.0.0"}
	strict := callback.Policy{Hosts: hosts}
	for _, tc := range []struct {
		name   string
		policy callback.Policy
		url    string
		part   string // "" when valid
		reason string // a part of the reason
	}{
		{"https, allow-listed", strict, "https://hooks.example.com/cb?token=s3cret", "", ""},
		{"case and a trailing dot", strict, "HTTPS://Hooks.Example.COM./cb", "", ""},
		{"a port", strict, "https://hooks.example.com:8443/cb", "", ""},
		{"wildcard, one level", strict, "https://a.soar.example.org/", "", ""},
		{"wildcard, deeper", strict, "https://a.b.soar.example.org/", "", ""},
		{"IDNA, Unicode", strict, "https://BÜCHER.example/", "", ""},
		{"IDNA, punycode", strict, "https://xn--bcher-kva.example/", "", ""},
		{"public IPv4 literal", strict, "https://203.0.114.7/", "", ""},
		{"public IPv6 literal", strict, "https://[2001:4860::8888]:443/", "", ""},
		{"plaintext allowed", callback.Policy{Hosts: hosts, AllowPlaintext: true}, "http://hooks.example.com/", "", ""},
		{"loopback allowed", callback.Policy{Hosts: hosts, AllowPrivate: true}, "https://127.0.0.1/", "", ""},

		{"wildcard does not cover its base", strict, "https://soar.example.org/", callback.PartHost, "not in the client's callback_hosts"},
		{"suffix is not a subdomain", strict, "https://evilhooks.example.com/", callback.PartHost, "not in the client's callback_hosts"},
		{"not allow-listed", strict, "https://attacker.example.net/", callback.PartHost, `"attacker.example.net" is not in`},
		{"no hosts at all", callback.Policy{}, "https://hooks.example.com/", callback.PartHost, "not in"},
		{"http without AllowPlaintext", strict, "http://hooks.example.com/", callback.PartScheme, "http:// is refused"},
		{"another scheme", strict, "ftp://hooks.example.com/", callback.PartScheme, "must be https"},
		{"userinfo", strict, "https://admin:hunter2@hooks.example.com/", callback.PartUserinfo, "credentials"},
		{"empty userinfo", strict, "https://@hooks.example.com/", callback.PartUserinfo, "credentials"},
		{"fragment", strict, "https://hooks.example.com/#tok-xyz", callback.PartFragment, "fragment"},
		{"port zero", strict, "https://hooks.example.com:0/", callback.PartPort, "between 1 and 65535"},
		{"port too big", strict, "https://hooks.example.com:65536/", callback.PartPort, "between 1 and 65535"},
		{"relative", strict, "/cb", callback.PartURL, "absolute"},
		{"opaque", strict, "https:hooks.example.com", callback.PartURL, "absolute"},
		{"not a URL", strict, "https://hooks.example.com/%zz", callback.PartURL, "not a valid URL"},
		{"too long", strict, "https://hooks.example.com/" + strings.Repeat("a", callback.MaxURLBytes), callback.PartURL, "longer than"},
		{"bad host name", strict, "https://hooks_example.com/", callback.PartHost, "not a valid host name"},
		{"numeric host, decimal", strict, "https://2130706433/", callback.PartHost, "not in standard form"},
		{"numeric host, hex", strict, "https://0x7f.1/", callback.PartHost, "not in standard form"},
		{"numeric host, leading zeros", strict, "https://0177.0.0.1/", callback.PartHost, "not in standard form"},
		{"IPv6 zone", strict, "https://[fe80::1%25eth0]/", callback.PartHost, "zone"},

		{"127.0.0.1", strict, "https://127.0.0.1/", callback.PartAddress, "127.0.0.1 is in a refused range (loopback)"},
		{"127.0.0.1 with a trailing dot", strict, "https://127.0.0.1./", callback.PartAddress, "loopback"},
		{"127.0.0.1 in full-width digits", strict, "https://１２７.０.０.１/", callback.PartAddress, "loopback"},
		{"[::1]", strict, "https://[::1]/", callback.PartAddress, "loopback"},
		{"::ffff:127.0.0.1", strict, "https://[::ffff:127.0.0.1]/", callback.PartAddress, "loopback"},
		{"10.0.0.1", strict, "https://10.0.0.1/", callback.PartAddress, "RFC 1918"},
		{"169.254.169.254", strict, "https://169.254.169.254/latest/meta-data/", callback.PartAddress, "link-local"},
		{"169.254.169.254 even with AllowPrivate", callback.Policy{Hosts: hosts, AllowPrivate: true}, "https://169.254.169.254/", callback.PartAddress, "link-local"},
		{"0.0.0.0", strict, "https://0.0.0.0/", callback.PartAddress, "0.0.0.0/8"},
		{"0.0.0.0 even with AllowPrivate", callback.Policy{Hosts: hosts, AllowPrivate: true}, "https://0.0.0.0/", callback.PartAddress, "0.0.0.0/8"},
		{"a private literal not allow-listed is still refused for its range", strict, "https://192.168.1.1/", callback.PartAddress, "RFC 1918"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.policy.ValidateURL(tc.url)
			if tc.part == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, callback.ErrRefused)
			var te *callback.TargetError
			require.True(t, errors.As(err, &te))
			require.Equal(t, tc.part, te.Part, te.Error())
			require.Contains(t, err.Error(), tc.reason)
			for _, secret := range []string{"hunter2", "admin", "s3cret", "meta-data", "tok-xyz"} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, callback.Policy{Hosts: []string{"hooks.example.com", "*.example.test", "Bücher.Example.", "10.1.2.3", "::1"}}.Validate())
	require.NoError(t, callback.Policy{}.Validate())

	for _, tc := range []struct{ host, want string }{
		{"", "not a valid host name"},
		{"*", "not a valid host name"},
		{"*.com", `public suffix "com"`},
		{"*.co.uk", `public suffix "co.uk"`},
		{"*.github.io", `public suffix "github.io"`},
		{"*.test", `public suffix "test"`},
		{"a.*.example.com", "not a valid host name"},
		{"*.10.0.0.1", "not an IP address"},
		{"exa mple.com", "not a valid host name"},
		{"https://hooks.example.com", "not a valid host name"},
		{"hooks.example.com:443", "not a valid host name"},
		{"2130706433", "not in standard form"},
	} {
		err := callback.Policy{Hosts: []string{"ok.example.com", tc.host}}.Validate()
		require.Error(t, err, tc.host)
		require.Contains(t, err.Error(), "callback_hosts[1]: ", tc.host)
		require.Contains(t, err.Error(), tc.want, tc.host)
	}

	// Every bad entry is reported, not only the first.
	err := callback.Policy{Hosts: []string{"*.com", "ok.example.com", "a b"}}.Validate()
	require.ErrorContains(t, err, "callback_hosts[0]")
	require.ErrorContains(t, err, "callback_hosts[2]")
	require.NotContains(t, err.Error(), "callback_hosts[1]")
}
