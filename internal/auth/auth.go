// Package auth authenticates applications by gateway token and source
// address. Tokens are stored only as SHA-256 hashes and compared in constant
// time; every failure reason yields the same error.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/minimise"
)

var (
	// ErrUnauthenticated: missing, malformed or unknown token. Deliberately
	// one error for every reason.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrNoToken and ErrUnknownToken are ErrUnauthenticated's two
	// classes, for the audit log: no well-formed Bearer token (none, or a
	// malformed header: a misconfigured client), or one that matches no
	// client (a revoked token, or guessing). The HTTP answer is the same
	// for both.
	ErrNoToken      = fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	ErrUnknownToken = fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	// ErrClientDisabled: a valid token of a client an operator disabled
	// at run time (POST /admin/v1/clients/{name}/disable). Answered like
	// any other 401; the gateway records which client it was.
	ErrClientDisabled = fmt.Errorf("%w: client disabled", ErrUnauthenticated)
	// ErrSourceNotAllowed: valid token, request from outside source_cidrs.
	ErrSourceNotAllowed = errors.New("source address not allowed for this client")
)

// Client is an authenticated application.
type Client struct {
	Name        string
	Environment string
	// Providers the client may use. Empty means none: access is granted
	// by naming providers, never by omission.
	Providers []string
	// SourceCIDRs the client may call from; empty means any source.
	// IPv4-mapped IPv6 prefixes are stored as their IPv4 form.
	SourceCIDRs []netip.Prefix
	Admin       bool
	// Limits are the client's own rate and quotas, for the limits layer.
	Limits config.Limits
	// AllowRefresh: the client may ask past the cache.
	AllowRefresh bool
	// Markings are the TLP/PAP of the client's requests that carry none.
	Markings minimise.Markings
}

// Allows reports whether the client may use provider.
func (c *Client) Allows(provider string) bool { return slices.Contains(c.Providers, provider) }

// allowsSource reports whether addr (invalid when unknown) may use c.
func (c *Client) allowsSource(addr netip.Addr) bool {
	if len(c.SourceCIDRs) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	for _, p := range c.SourceCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// entry is one configured token hash.
type entry struct {
	hash   [sha256.Size]byte
	client *Client
}

// Authenticator checks requests. It is immutable after New and safe for
// concurrent use; a config reload builds a new one.
type Authenticator struct {
	entries        []entry
	trustedProxies []netip.Prefix
}

// New builds an Authenticator from config clients (whose Environment is
// already defaulted) and the trusted proxy list. A token_sha256 that is not
// 64 hex digits, or one shared by two clients, is an error naming the
// client(s): the hash is not secret, but a shared token would make the
// client's identity ambiguous.
func New(clients map[string]*config.Client, trustedProxies []netip.Prefix) (*Authenticator, error) {
	names := slices.Sorted(maps.Keys(clients)) // deterministic order and error messages
	a := &Authenticator{trustedProxies: normalizePrefixes(trustedProxies)}
	owner := make(map[[sha256.Size]byte]string, len(names))
	var errs []error
	for _, name := range names {
		cc := clients[name]
		if cc == nil {
			errs = append(errs, fmt.Errorf("clients.%s: empty client", name))
			continue
		}
		raw, err := hex.DecodeString(strings.ToLower(cc.TokenSHA256))
		if err != nil || len(raw) != sha256.Size {
			errs = append(errs, fmt.Errorf("clients.%s.token_sha256: must be 64 hex digits (see `intelgate token new`)", name))
			continue
		}
		hash := [sha256.Size]byte(raw)
		if other, dup := owner[hash]; dup {
			errs = append(errs, fmt.Errorf("clients.%s.token_sha256: same token as client %q; give each client its own token", name, other))
			continue
		}
		owner[hash] = name
		m, err := minimise.DefaultMarkings(cc.DefaultTLP, cc.DefaultPAP)
		if err != nil {
			errs = append(errs, fmt.Errorf("clients.%s: %w", name, err))
			continue
		}
		a.entries = append(a.entries, entry{hash: hash, client: &Client{
			Name:         name,
			Environment:  cc.Environment,
			Providers:    slices.Clone(cc.Providers),
			SourceCIDRs:  normalizePrefixes(cc.SourceCIDRs),
			Admin:        cc.Admin,
			Limits:       cc.Limits,
			AllowRefresh: cc.AllowRefresh,
			Markings:     m,
		}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("building client authenticator: %w", err)
	}
	return a, nil
}

// Authenticate returns the client for r's Bearer token, or
// ErrUnauthenticated, or ErrSourceNotAllowed (with the client, for logging).
// The source address is returned in every case (invalid when it cannot be
// determined) so that failed attempts can be logged with their origin.
func (a *Authenticator) Authenticate(r *http.Request) (*Client, netip.Addr, error) {
	addr, addrErr := clientIP(r, a.trustedProxies)
	if addrErr != nil {
		addr = netip.Addr{} // unknown: denied by any source_cidrs
	}
	token, ok := bearerToken(r.Header)
	if !ok {
		return nil, addr, ErrNoToken
	}
	c := a.lookup(token)
	if c == nil {
		return nil, addr, ErrUnknownToken
	}
	if !c.allowsSource(addr) {
		if addrErr != nil { // keep why the source is unknown, for the log
			return c, addr, fmt.Errorf("%w: %w", ErrSourceNotAllowed, addrErr)
		}
		return c, addr, ErrSourceNotAllowed
	}
	return c, addr, nil
}

// lookup finds the client whose hash matches token's.
//
// Why a linear scan rather than map[hash]*Client: a map lookup hashes and
// compares the secret-derived key with early-exit code, so its timing
// depends on how close the presented token's hash is to stored ones.
// Exploiting that would also need a SHA-256 preimage, but a scan of every
// configured hash with crypto/subtle, never stopping early, makes the
// argument unnecessary: the time taken depends only on the number of
// clients, which is not secret. Hashing first also makes the comparison
// length-independent of the presented token. Client counts are small (tens),
// so the cost is a few hundred nanoseconds.
// Client returns the configured client name, for work done on its behalf
// without a request (bulk job items); false when no such client is
// configured.
func (a *Authenticator) Client(name string) (*Client, bool) {
	for _, e := range a.entries {
		if e.client.Name == name {
			return e.client, true
		}
	}
	return nil, false
}

func (a *Authenticator) lookup(token string) *Client {
	// Hashed from a stack buffer: []byte(token) of a real token's length
	// (more than 32 bytes) is a heap copy on every request.
	var buf [128]byte
	h := sha256.Sum256(append(buf[:0], token...))
	found := -1
	for i := range a.entries {
		eq := subtle.ConstantTimeCompare(h[:], a.entries[i].hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil
	}
	return a.entries[found].client
}

// bearerToken extracts the token from exactly one Authorization header of
// the form "Bearer <token>" (RFC 6750 §2.1: scheme case-insensitive, one
// space, token of b64token characters). Anything else — no header, two
// headers, another scheme, extra spaces, an empty token — is rejected.
func bearerToken(h http.Header) (string, bool) {
	values := h.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !isB64Token(token) {
		return "", false
	}
	return token, true
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
