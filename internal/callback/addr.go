package callback

import (
	"context"
	"net/netip"
	"syscall"
)

// A refused range: why an address is no place to send a callback.
type refusedRange struct {
	prefix netip.Prefix
	name   string
	// never: refused even with AllowPrivate. No receiver legitimately
	// listens there, and the cloud metadata endpoints do (169.254.169.254
	// is link-local; AWS's IPv6 one, fd00:ec2::254, is listed by itself
	// inside unique local as is Google Cloud's fd20:ce::254, Alibaba Cloud's 100.100.100.200 inside CGNAT;
	// Azure's WireServer, 168.63.129.16, is a public address every Azure
	// VM reaches its platform through).
	never bool
}

func rng(prefix, name string, never bool) refusedRange {
	return refusedRange{netip.MustParsePrefix(prefix), name, never}
}

// refusedV4 are the IPv4 ranges of the IANA special-purpose registry that
// are not globally reachable, and multicast. Order matters only where
// ranges nest (broadcast before reserved).
var refusedV4 = []refusedRange{
	rng("0.0.0.0/8", "this network, 0.0.0.0/8", true),
	rng("10.0.0.0/8", "private, RFC 1918", false),
	rng("100.100.100.200/32", "cloud metadata (Alibaba Cloud)", true),
	rng("100.64.0.0/10", "shared address space, CGNAT", false),
	rng("127.0.0.0/8", "loopback", false),
	rng("169.254.0.0/16", "link-local, cloud metadata", true),
	rng("168.63.129.16/32", "cloud platform endpoint (Azure WireServer)", true),
	rng("172.16.0.0/12", "private, RFC 1918", false),
	rng("192.0.0.0/24", "IETF protocol assignments", false),
	rng("192.0.2.0/24", "documentation", false),
	rng("192.88.99.0/24", "6to4 relay anycast", false),
	rng("192.168.0.0/16", "private, RFC 1918", false),
	rng("198.18.0.0/15", "benchmarking", false),
	rng("198.51.100.0/24", "documentation", false),
	rng("203.0.113.0/24", "documentation", false),
	rng("224.0.0.0/4", "multicast", true),
	rng("255.255.255.255/32", "broadcast", true),
	rng("240.0.0.0/4", "reserved", false),
}

// refusedV6 are the IPv6 ranges refused by name; anything else outside
// global unicast (2000::/3) is refused as reserved. The v4-mapped,
// NAT64 and 6to4 forms are judged by the IPv4 address they carry first.
var refusedV6 = []refusedRange{
	rng("::/128", "unspecified", true),
	rng("::1/128", "loopback", false),
	rng("fd00:ec2::254/128", "cloud metadata", true),
	rng("fd20:ce::254/128", "cloud metadata (Google Cloud)", true),
	rng("::/96", "IPv4-compatible, deprecated", false),
	rng("64:ff9b:1::/48", "local-use NAT64", false),
	rng("100::/64", "discard-only", false),
	rng("2001::/23", "IETF protocol assignments, Teredo", false),
	rng("2001:db8::/32", "documentation", false),
	rng("3fff::/20", "documentation", false),
	rng("fc00::/7", "unique local", false),
	rng("fe80::/10", "link-local", true),
	rng("fec0::/10", "site-local, deprecated", false),
	rng("ff00::/8", "multicast", true),
}

var (
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
	globalUnicast = netip.MustParsePrefix("2000::/3")
)

// classify names the refused range a is in ("" for a public unicast
// address) and whether AllowPrivate can lift the refusal.
func classify(a netip.Addr) (name string, never bool) {
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return match(refusedV4, a)
	}
	b := a.As16()
	// IPv6 forms that carry an IPv4 address are as good as that address:
	// a NAT64 gateway or 6to4 relay connects to it for us.
	switch {
	case nat64.Contains(a):
		if name, never := match(refusedV4, netip.AddrFrom4([4]byte(b[12:16]))); name != "" {
			return "NAT64 of " + name, never
		}
		return "", false
	case sixToFour.Contains(a):
		if name, never := match(refusedV4, netip.AddrFrom4([4]byte(b[2:6]))); name != "" {
			return "6to4 of " + name, never
		}
		return "", false
	}
	if name, never := match(refusedV6, a); name != "" {
		return name, never
	}
	if !globalUnicast.Contains(a) {
		return "reserved", false
	}
	return "", false
}

func match(ranges []refusedRange, a netip.Addr) (string, bool) {
	for _, rr := range ranges {
		if rr.prefix.Contains(a) {
			return rr.name, rr.never
		}
	}
	return "", false
}

// checkAddr refuses a unless it is public (or private, and allowPrivate).
// about is how the error speaks of the address: the literal the client
// wrote, or "the host's address" at dial time — what a name resolved to
// is not the client's to learn.
func checkAddr(a netip.Addr, allowPrivate bool, about string) error {
	name, never := classify(a)
	if name == "" || allowPrivate && !never {
		return nil
	}
	reason := about + " is in a refused range (" + name + ")"
	if !never {
		reason += "; only a client that allows private targets may use it"
	}
	return &TargetError{Part: PartAddress, Reason: reason}
}

// guard is the dialer's ControlContext: it runs after DNS, for the very
// address a socket is about to connect to, so neither a name that resolves
// to a private address nor one that changes its answer between the check
// and the connection (DNS rebinding) gets through.
func guard(allowPrivate bool) func(context.Context, string, string, syscall.RawConn) error {
	return func(_ context.Context, network, address string, _ syscall.RawConn) error {
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return &TargetError{Part: PartAddress, Reason: "only TCP connections are made"}
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &TargetError{Part: PartAddress, Reason: "the host's address could not be checked"}
		}
		return checkAddr(ap.Addr(), allowPrivate, "the host's address")
	}
}
