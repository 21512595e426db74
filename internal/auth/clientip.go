package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is r's source address: RemoteAddr, or the right-most untrusted
// X-Forwarded-For hop when RemoteAddr is a trusted proxy.
//
// X-Forwarded-For is only believed as far as trusted proxies wrote it: each
// proxy appends the address it received the request from, so walking from
// the right, every entry up to and including the first untrusted one was
// written by a proxy we trust; anything further left came from the client
// and may be forged.
//
// A malformed entry in that trusted part is an error, not a reason to fall
// back to the proxy's own address: proxies and clients often share a
// network, so falling back could let a request pass a source_cidrs check it
// should fail. With an error the source is unknown, and Authenticate denies
// every client that has source_cidrs. When every hop is trusted, the
// left-most is the origin; with no X-Forwarded-For at all, the proxy itself
// is the client.
//
// IPv4-mapped IPv6 addresses (::ffff:10.0.0.1, as a dual-stack listener
// reports IPv4 peers) are unmapped and zones dropped, so that IPv4
// source_cidrs match them.
func ClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, error) {
	return clientIP(r, normalizePrefixes(trusted))
}

// clientIP is ClientIP for already normalised trusted prefixes.
func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, error) {
	remote, err := parseHost(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parsing remote address %q: %w", r.RemoteAddr, err)
	}
	if !containsAddr(trusted, remote) {
		return remote, nil
	}
	// Entries are walked from the right where they stand, header line by
	// header line, as strings.Split on "," would list them (an empty
	// entry included): nothing is copied per request.
	vals := r.Header.Values("X-Forwarded-For")
	addr := remote
	n := 0 // entries read, counted from the right
	for vi := len(vals) - 1; vi >= 0; vi-- {
		for v, more := vals[vi], true; more; {
			i := strings.LastIndexByte(v, ',')
			entry := v[i+1:]
			if more = i >= 0; more {
				v = v[:i]
			}
			n++
			hop, err := parseHost(strings.TrimSpace(entry))
			if err != nil {
				return netip.Addr{}, fmt.Errorf("X-Forwarded-For entry %d from the right, written by trusted proxy %s, is not an IP address", n, addr)
			}
			addr = hop
			if !containsAddr(trusted, hop) {
				return hop, nil
			}
		}
	}
	return addr, nil
}

// parseHost parses "ip", "ip:port" or "[ipv6]:port" into a normalised
// address.
func parseHost(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("empty address")
	}
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		// The shape of "ip:port" and "[ipv6]:port", as RemoteAddr always
		// is. No address alone has it (an IPv6 address has two colons or
		// more, IPv4 none), so ParseAddr would only fail, allocating its
		// error, on every request. Where this fails, the general path
		// below gives the same answer and error as before.
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap().WithZone(""), nil
		}
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, err
		}
		addr = ap.Addr()
	}
	return addr.Unmap().WithZone(""), nil
}

func containsAddr(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// normalizePrefixes masks each prefix and rewrites IPv4-mapped IPv6
// prefixes (::ffff:10.0.0.0/104) as IPv4 (10.0.0.0/8), matching the
// unmapped addresses ClientIP returns. Invalid prefixes are dropped; config
// validation has already refused them.
func normalizePrefixes(in []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// Proxies is a normalised server.trusted_proxies list, for the checks made
// outside Authenticate: whose X-Request-Id to keep, which address the
// authentication failure limit counts, which connections are exempt from
// the per-source connection limit. Immutable; safe for concurrent use.
type Proxies struct{ prefixes []netip.Prefix }

// NewProxies normalises trusted as Authenticate does, so that both agree
// on what is a proxy.
func NewProxies(trusted []netip.Prefix) Proxies {
	return Proxies{prefixes: normalizePrefixes(trusted)}
}

// ClientIP is ClientIP(r, trusted) without normalising the list again.
func (p Proxies) ClientIP(r *http.Request) (netip.Addr, error) { return clientIP(r, p.prefixes) }

// Trusts reports whether addr (unmapped, any zone dropped) is a trusted
// proxy. An invalid address is never trusted.
func (p Proxies) Trusts(addr netip.Addr) bool {
	return addr.IsValid() && containsAddr(p.prefixes, addr.Unmap().WithZone(""))
}

// TrustsPeer reports whether a connection's remote address ("ip:port", as
// in http.Request.RemoteAddr) is a trusted proxy: the peer itself, never
// what a header claims.
func (p Proxies) TrustsPeer(remoteAddr string) bool {
	a, err := parseHost(remoteAddr)
	return err == nil && containsAddr(p.prefixes, a)
}
