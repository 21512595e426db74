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
// disabled (POST /admin/v1/clients/{name}/disable). The disables live in
// the shared state, so they hold on every replica and across restarts;
// this set is the local copy every request reads, refreshed each second
// (syncDisables) and at once for a disable made here.
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

// setDisabled replaces the local set (sorted).
func (s *switchAuth) setDisabled(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(names)
	s.disabled.Store(&names)
}

// enable lets name in again here.
func (s *switchAuth) enable(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := *s.disabled.Load()
	if i, found := slices.BinarySearch(d, name); found {
		next := slices.Delete(slices.Clone(d), i, i+1)
		s.disabled.Store(&next)
	}
}

// disable turns name away here; it reports whether it was enabled before.
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

// swap installs a reloaded config's authenticator. Disables stay: a
// reload ends only those of clients whose entry changed (endDisables).
func (s *switchAuth) swap(a *auth.Authenticator) { s.cur.Store(a) }
