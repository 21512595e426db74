// Package auth authenticates applications by gateway token and source
// address. Tokens are stored only as SHA-256 hashes and compared in constant
// time; every failure reason yields the same error.
package auth

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/intelgate/intelgate/internal/config"
)

var (
	// ErrUnauthenticated: missing, malformed or unknown token. Deliberately
	// one error for every reason.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrSourceNotAllowed: valid token, request from outside source_cidrs.
	ErrSourceNotAllowed = errors.New("source address not allowed for this client")
)

// Client is an authenticated application.
type Client struct {
	Name        string
	Environment string
	Providers   []string
	SourceCIDRs []netip.Prefix
	Admin       bool
}

// Allows reports whether the client may use provider.
func (c *Client) Allows(provider string) bool { panic("unimplemented") }

// Authenticator checks requests. TODO(auth helper).
type Authenticator struct{}

// New builds an Authenticator from config clients (whose Environment is
// already defaulted) and the trusted proxy list.
func New(clients map[string]*config.Client, trustedProxies []netip.Prefix) (*Authenticator, error) {
	panic("unimplemented")
}

// Authenticate returns the client for r's Bearer token, or
// ErrUnauthenticated, or ErrSourceNotAllowed (with the client, for logging).
func (a *Authenticator) Authenticate(r *http.Request) (*Client, netip.Addr, error) {
	panic("unimplemented")
}

// ClientIP is r's source address: RemoteAddr, or the right-most untrusted
// X-Forwarded-For hop when RemoteAddr is a trusted proxy.
func ClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, error) { panic("unimplemented") }

// NewToken returns a fresh 256-bit token and its hex SHA-256.
func NewToken() (token, sha256hex string, err error) { panic("unimplemented") }

// HashToken returns the hex SHA-256 of token.
func HashToken(token string) string { panic("unimplemented") }
