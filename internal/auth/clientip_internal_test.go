package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// referenceParseHost and referenceClientIP are parseHost and clientIP as
// they were before the allocation cuts: ParseAddr first, X-Forwarded-For
// split into a slice. The fast paths must give the same address and the
// same error text for every input.
func referenceParseHost(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("empty address")
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

func referenceClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, error) {
	remote, err := referenceParseHost(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parsing remote address %q: %w", r.RemoteAddr, err)
	}
	if !containsAddr(trusted, remote) {
		return remote, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	addr := remote
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := referenceParseHost(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, fmt.Errorf("X-Forwarded-For entry %d from the right, written by trusted proxy %s, is not an IP address", len(hops)-i, addr)
		}
		addr = hop
		if !containsAddr(trusted, hop) {
			return hop, nil
		}
	}
	return addr, nil
}

func FuzzClientIPMatchesReference(f *testing.F) {
	for _, s := range []string{"203.0.113.7:80", "[2001:db8::1]:443", "::1", "203.0.113.7", "[203.0.113.7]:80",
		"fe80::1%eth0", "[fe80::1%eth0]:80", "fe80::1%a:b", "::ffff:10.0.0.1", "[::ffff:10.0.0.1]:1", "10.0.0.1:",
		":80", "[", "[]:80", "a:b", "1.2.3.4:99999", "1.2.3.4:+1", "", " ", "10.0.0.2:1"} {
		f.Add(s, "198.51.100.9, 10.0.0.3", "")
		f.Add("10.0.0.2:1", s, "10.0.0.4")
		f.Add("10.0.0.2:1", "10.0.0.5,"+s, s+" ,,")
		f.Add("10.0.0.2:1", "", s)
	}
	trusted := normalizePrefixes([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:10.0.0.0/104")})
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string) {
		got, gotErr := parseHost(remote)
		want, wantErr := referenceParseHost(remote)
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("parseHost(%q) = %v, %v; want %v, %v", remote, got, gotErr, want, wantErr)
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		// No header when both are empty; an empty first line before a second.
		if xff1 != "" || xff2 != "" {
			r.Header.Add("X-Forwarded-For", xff1)
		}
		if xff2 != "" {
			r.Header.Add("X-Forwarded-For", xff2)
		}
		got, gotErr = clientIP(r, trusted)
		want, wantErr = referenceClientIP(r, trusted)
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("clientIP(%q, %q) = %v, %v; want %v, %v", remote, r.Header.Values("X-Forwarded-For"), got, gotErr, want, wantErr)
		}
	})
}
