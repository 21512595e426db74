package callback

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every refused range, the IPv6 forms that embed one, and public
// addresses next to them that must pass.
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr  string
		name  string // "" for public
		never bool
	}{
		{"8.8.8.8", "", false},
		{"1.1.1.1", "", false},
		{"203.0.114.1", "", false}, // just past documentation 203.0.113/24
		{"100.128.0.1", "", false}, // just past CGNAT
		{"172.32.0.1", "", false},  // just past 172.16/12
		{"198.20.0.1", "", false},  // just past benchmarking 198.18/15
		{"2606:4700:4700::1111", "", false},
		{"::ffff:8.8.8.8", "", false},
		{"64:ff9b::808:808", "", false}, // NAT64 of a public address
		{"2002:808:808::1", "", false},  // 6to4 of a public address

		{"0.0.0.0", "this network, 0.0.0.0/8", true},
		{"0.1.2.3", "this network, 0.0.0.0/8", true},
		{"10.0.0.1", "private, RFC 1918", false},
		{"10.255.255.255", "private, RFC 1918", false},
		{"172.16.0.1", "private, RFC 1918", false},
		{"172.31.255.254", "private, RFC 1918", false},
		{"192.168.1.1", "private, RFC 1918", false},
		{"100.64.0.1", "shared address space, CGNAT", false},
		{"100.127.255.254", "shared address space, CGNAT", false},
		{"100.100.100.200", "cloud metadata (Alibaba Cloud)", true},
		{"100.100.100.199", "shared address space, CGNAT", false},
		{"168.63.129.16", "cloud platform endpoint (Azure WireServer)", true},
		{"::ffff:100.100.100.200", "cloud metadata (Alibaba Cloud)", true},
		{"127.0.0.1", "loopback", false},
		{"127.255.255.254", "loopback", false},
		{"169.254.169.254", "link-local, cloud metadata", true},
		{"169.254.170.2", "link-local, cloud metadata", true},
		{"192.0.0.8", "IETF protocol assignments", false},
		{"192.0.2.1", "documentation", false},
		{"198.51.100.1", "documentation", false},
		{"203.0.113.1", "documentation", false},
		{"192.88.99.1", "6to4 relay anycast", false},
		{"198.18.0.1", "benchmarking", false},
		{"198.19.255.254", "benchmarking", false},
		{"224.0.0.1", "multicast", true},
		{"239.255.255.250", "multicast", true},
		{"240.0.0.1", "reserved", false},
		{"255.255.255.255", "broadcast", true},

		{"::", "unspecified", true},
		{"::1", "loopback", false},
		{"::ffff:127.0.0.1", "loopback", false},
		{"::ffff:10.0.0.1", "private, RFC 1918", false},
		{"::ffff:169.254.169.254", "link-local, cloud metadata", true},
		{"::ffff:0.0.0.0", "this network, 0.0.0.0/8", true},
		{"::127.0.0.1", "IPv4-compatible, deprecated", false},
		{"::8.8.8.8", "IPv4-compatible, deprecated", false},
		{"64:ff9b::7f00:1", "NAT64 of loopback", false},
		{"64:ff9b::a9fe:a9fe", "NAT64 of link-local, cloud metadata", true},
		{"64:ff9b::a00:1", "NAT64 of private, RFC 1918", false},
		{"64:ff9b:1::a00:1", "local-use NAT64", false},
		{"2002:7f00:1::1", "6to4 of loopback", false},
		{"2002:a9fe:a9fe::", "6to4 of link-local, cloud metadata", true},
		{"2002:c0a8:101::1", "6to4 of private, RFC 1918", false},
		{"2001::1", "IETF protocol assignments, Teredo", false},
		{"2001:2::1", "IETF protocol assignments, Teredo", false},
		{"2001:db8::1", "documentation", false},
		{"3fff::1", "documentation", false},
		{"fc00::1", "unique local", false},
		{"fd12:3456::1", "unique local", false},
		{"fd00:ec2::254", "cloud metadata", true},
		{"fd20:ce::254", "cloud metadata (Google Cloud)", true},
		{"fe80::1", "link-local", true},
		{"fe80::1%eth0", "link-local", true},
		{"fec0::1", "site-local, deprecated", false},
		{"ff02::1", "multicast", true},
		{"100::1", "discard-only", false},
		{"4000::1", "reserved", false},
		{"5f00::1", "reserved", false},
	} {
		name, never := classify(netip.MustParseAddr(tc.addr))
		require.Equal(t, tc.name, name, tc.addr)
		require.Equal(t, tc.never, never, tc.addr)
	}
}

// The dialer's check, on the address strings the dialer passes it.
func TestGuard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		network, address string
		allowPrivate     bool
		refused          bool
	}{
		{"tcp4", "8.8.8.8:443", false, false},
		{"tcp6", "[2606:4700:4700::1111]:443", false, false},
		{"tcp4", "127.0.0.1:443", false, true},
		{"tcp4", "127.0.0.1:443", true, false},
		{"tcp6", "[::1]:443", false, true},
		{"tcp6", "[::ffff:10.0.0.1]:443", false, true},
		{"tcp6", "[::ffff:10.0.0.1]:443", true, false},
		{"tcp4", "169.254.169.254:80", true, true},
		{"tcp6", "[fe80::1%eth0]:443", true, true},
		{"tcp6", "[fd00:ec2::254]:80", true, true},
		{"tcp4", "0.0.0.0:443", true, true},
		{"udp4", "8.8.8.8:53", false, true},
		{"tcp", "not-an-address", false, true},
	} {
		err := guard(tc.allowPrivate)(t.Context(), tc.network, tc.address, nil)
		if !tc.refused {
			require.NoError(t, err, "%s %s", tc.network, tc.address)
			continue
		}
		require.ErrorIs(t, err, ErrRefused, "%s %s", tc.network, tc.address)
		var te *TargetError
		require.True(t, errors.As(err, &te))
		require.Equal(t, PartAddress, te.Part)
		require.NotContains(t, err.Error(), tc.address, "what a name resolved to is not the client's to learn")
	}
}
