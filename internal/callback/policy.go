package callback

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// MaxURLBytes bounds a callback URL.
const MaxURLBytes = 2048

// Policy is what one client's callbacks may target.
type Policy struct {
	// Hosts is the client's callback_hosts. An entry is a host name
	// ("hooks.example.com") matched exactly, "*.example.com" matching
	// every name below example.com at any depth (but not example.com
	// itself), or an IP address literal. Names are compared in their
	// IDNA ASCII form, case-insensitively and without a trailing dot. A
	// wildcard over a public suffix ("*.com", "*.co.uk", "*.github.io")
	// is invalid: it would admit anyone's hosts.
	Hosts []string
	// AllowPlaintext permits http:// targets.
	AllowPlaintext bool
	// AllowPrivate permits targets on loopback and private ranges (an
	// on-premises receiver, tests). Unsafe for a client that could
	// choose a name nobody checked: it is the operator's explicit choice.
	// Link-local, unspecified, multicast and broadcast addresses are
	// refused even so.
	AllowPrivate bool
}

// ErrRefused is what every TargetError is (errors.Is): the target is not
// one the client's policy allows.
var ErrRefused = errors.New("callback target refused")

// The parts of a target a TargetError names.
const (
	PartURL      = "url"
	PartScheme   = "scheme"
	PartUserinfo = "userinfo"
	PartHost     = "host"
	PartPort     = "port"
	PartFragment = "fragment"
	PartAddress  = "address" // a literal IP, or the address dialled
)

// TargetError says which part of a callback URL is refused and why, for a
// problem's detail. It never quotes the URL: its path, query and userinfo
// may hold the receiver's secrets.
type TargetError struct {
	Part   string // one of the Part constants
	Reason string
}

func (e *TargetError) Error() string {
	return "callback_url " + e.Part + ": " + e.Reason
}

// Is makes every TargetError an ErrRefused.
func (e *TargetError) Is(target error) bool { return target == ErrRefused }

func refuse(part, format string, args ...any) error {
	return &TargetError{Part: part, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks Hosts, naming each bad entry by its index; all problems
// are reported together.
func (p Policy) Validate() error {
	var errs []error
	for i, h := range p.Hosts {
		if _, err := parsePattern(h); err != nil {
			errs = append(errs, fmt.Errorf("callback_hosts[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// ValidateURL is the submit-time check of a callback URL: the scheme,
// credentials, fragment, port, the host against Hosts and, for a literal
// IP address, its range. A host name passing here may still be refused
// when its address is known, at each attempt. Errors are *TargetError.
func (p Policy) ValidateURL(raw string) error {
	_, err := p.target(raw)
	return err
}

// dialTarget is a checked target: the URL to request, with a host name
// written fully qualified ("hooks.example.com.") so the resolver's search
// list never turns it into another name, and the Host header to send.
type dialTarget struct {
	url  *url.URL
	host string // the Host header: the normalised host and port
}

func (p Policy) target(raw string) (dialTarget, error) {
	if len(raw) > MaxURLBytes {
		return dialTarget{}, refuse(PartURL, "is longer than %d bytes", MaxURLBytes)
	}
	u, err := url.Parse(raw) // its error quotes the URL: not passed on
	if err != nil {
		return dialTarget{}, refuse(PartURL, "is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return dialTarget{}, refuse(PartURL, "must be an absolute https:// URL with a host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowPlaintext {
			return dialTarget{}, refuse(PartScheme, "http:// is refused: callbacks go over https:// unless the client allows plaintext")
		}
	default:
		return dialTarget{}, refuse(PartScheme, "must be https")
	}
	if u.User != nil {
		return dialTarget{}, refuse(PartUserinfo, "credentials in the URL are refused; the receiver authenticates the webhook signature")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return dialTarget{}, refuse(PartFragment, "a fragment is refused: it is never sent")
	}
	port := u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return dialTarget{}, refuse(PartPort, "must be between 1 and 65535")
		}
	}
	h, err := normHost(u.Hostname())
	if err != nil {
		return dialTarget{}, refuse(PartHost, "%s", err)
	}
	if h.addr.IsValid() {
		if err := checkAddr(h.addr, p.AllowPrivate, h.name); err != nil {
			return dialTarget{}, err
		}
	}
	if !p.allows(h) {
		return dialTarget{}, refuse(PartHost, "%q is not in the client's callback_hosts", h.name)
	}
	hostport := func(name string) string {
		switch {
		case port != "":
			return net.JoinHostPort(name, port)
		case strings.Contains(name, ":"):
			return "[" + name + "]"
		}
		return name
	}
	dial := h.name
	if !h.addr.IsValid() {
		dial += "."
	}
	out := *u
	out.Host = hostport(dial)
	out.Fragment, out.RawFragment = "", ""
	t := dialTarget{url: &out, host: hostport(h.name)}
	return t, nil
}

// allows reports whether h matches one of Hosts. Invalid entries match
// nothing (Validate reports them).
func (p Policy) allows(h host) bool {
	for _, s := range p.Hosts {
		pat, err := parsePattern(s)
		if err != nil {
			continue
		}
		switch {
		case pat.wildcard:
			if !h.addr.IsValid() && strings.HasSuffix(h.name, "."+pat.name) {
				return true
			}
		case pat.name == h.name:
			return true
		}
	}
	return false
}

// host is a normalised host: a lower-case IDNA ASCII name without the
// trailing dot, or an IP address (unmapped, canonical form).
type host struct {
	name string
	addr netip.Addr // valid for an IP address
}

// hostProfile is IDNA's lookup mapping (lower case, width folding, "。" as
// a dot) with host-name rules (letters, digits, hyphens) and DNS lengths.
var hostProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.VerifyDNSLength(true),
)

func normHost(s string) (host, error) {
	if h, ok := ipHost(strings.TrimSuffix(s, ".")); ok {
		return h, nil
	}
	if strings.Contains(s, "%") {
		return host{}, errors.New("has an IPv6 zone, which is refused")
	}
	a, err := hostProfile.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil || a == "" {
		return host{}, errors.New("is not a valid host name")
	}
	a = strings.TrimSuffix(a, ".")
	if h, ok := ipHost(a); ok { // "１２７.０.０.１" maps to an address
		return h, nil
	}
	last := a[strings.LastIndexByte(a, '.')+1:]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		// No top-level domain is numeric; some resolvers read
		// "2130706433" or "0x7f.1" as 127.0.0.1.
		return host{}, errors.New("looks like an IP address but is not in standard form")
	}
	return host{name: a}, nil
}

func ipHost(s string) (host, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return host{}, false
	}
	a = a.Unmap()
	return host{name: a.String(), addr: a}, true
}

type pattern struct {
	name     string
	wildcard bool
}

func parsePattern(s string) (pattern, error) {
	rest, wildcard := strings.CutPrefix(strings.TrimSpace(s), "*.")
	h, err := normHost(rest)
	switch {
	case err != nil:
		return pattern{}, fmt.Errorf("%q %w (want a host name, *.domain or an IP address)", s, err)
	case wildcard && h.addr.IsValid():
		return pattern{}, fmt.Errorf("%q: a wildcard needs a domain name, not an IP address", s)
	case wildcard:
		if ps, _ := publicsuffix.PublicSuffix(h.name); ps == h.name {
			return pattern{}, fmt.Errorf("%q: a wildcard over the public suffix %q would admit anyone's hosts", s, ps)
		}
	}
	return pattern{name: h.name, wildcard: wildcard}, nil
}
