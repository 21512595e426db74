package app

import (
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/intelgate/intelgate/internal/auth"
)

// switchAuth is the gateway's authenticator: the one the running config
// built, swapped whole by a reload, and the set of clients an operator
// disabled since (POST /admin/v1/clients/{name}/disable), which lasts
// until the next reload or restart — the config says who may call, and a
// reload is the operator saying it again.
type switchAuth struct {
	cur      atomic.Pointer[auth.Authenticator]
	mu       sync.Mutex
	disabled atomic.Pointer[[]string] // sorted client names, read on every request
}

func newSwitchAuth(a *auth.Authenticator) *switchAuth {
	s := &switchAuth{}
	s.cur.Store(a)
	s.disabled.Store(&[]string{})
	return s
}

// Authenticate authenticates with the current authenticator; a disabled
// client's valid token is auth.ErrClientDisabled, with the client (for
// the audit record) — answered like any other 401.
func (s *switchAuth) Authenticate(r *http.Request) (*auth.Client, netip.Addr, error) {
	c, addr, err := s.cur.Load().Authenticate(r)
	if c != nil && s.isDisabled(c.Name) {
		return c, addr, auth.ErrClientDisabled
	}
	return c, addr, err
}

func (s *switchAuth) isDisabled(name string) bool {
	d := *s.disabled.Load()
	if len(d) == 0 {
		return false
	}
	_, found := slices.BinarySearch(d, name)
	return found
}

// disable turns name away until the next reload; it reports whether it
// was enabled before.
func (s *switchAuth) disable(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := *s.disabled.Load()
	i, found := slices.BinarySearch(d, name)
	if found {
		return false
	}
	next := slices.Insert(slices.Clone(d), i, name)
	s.disabled.Store(&next)
	return true
}

// swap installs a reloaded config's authenticator and ends every runtime
// disable.
func (s *switchAuth) swap(a *auth.Authenticator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(a)
	s.disabled.Store(&[]string{})
}
