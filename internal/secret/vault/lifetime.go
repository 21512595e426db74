package vault

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/intelgate/intelgate/internal/backoff"
)

// Status is the state of the Source's token.
type Status struct {
	// TokenExpires is when the current token expires; zero for a token
	// that does not (a root or other TTL-0 token).
	TokenExpires time.Time
	// Renewable is whether Vault said the token can be renewed.
	Renewable bool
	// Err is the last login or renewal failure, nil when healthy. A
	// non-nil Err does not mean reads fail: the token may still serve
	// until TokenExpires. Readiness is the gateway's call.
	Err error
	// Expired: the token has expired or Vault refuses it, and no login or
	// lookup has succeeded since. Unlike Err, a failed login that follows
	// does not clear it.
	Expired bool
}

// EventKind says what happened to the token.
type EventKind int

// Event kinds.
const (
	LoggedIn     EventKind = iota + 1 // a login succeeded (New, or Run logging in again)
	LoginFailed                       // a login failed; Run retries with back-off
	Renewed                           // the LifetimeWatcher renewed the token
	RenewFailed                       // the token cannot be renewed (any more), or a renewal failed
	TokenExpired                      // the token expired or was revoked
)

func (k EventKind) String() string {
	switch k {
	case LoggedIn:
		return "logged in"
	case LoginFailed:
		return "login failed"
	case Renewed:
		return "token renewed"
	case RenewFailed:
		return "token renewal failed"
	case TokenExpired:
		return "token expired or revoked"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one login or renewal outcome.
type Event struct {
	Kind         EventKind
	Err          error     // LoginFailed, RenewFailed, TokenExpired
	TokenExpires time.Time // of the token in use after the event
}

// Status reports the token's state.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run keeps the token alive until ctx ends, then returns, having stopped
// every goroutine it started and, for a login method, revoked the token
// (within the shutdown bound, which starts when ctx ends: see
// shutdownBound); only the first call does anything,
// and none does after Close. Once Run has returned, a login method's
// Source holds no token: reads fail.
//
// Its LifetimeWatcher renews the token (approle and kubernetes logins, a
// renewable configured token). The watcher gives up at the token's max
// TTL, or when a renewal fails: a login method then logs in again, with
// capped, jittered back-off while logins fail, for as long as ctx lasts. A
// configured token cannot be replaced: when it can no longer be renewed,
// Run reports RenewFailed, keeps using it until it expires, and reports
// TokenExpired. A read that Vault refuses with 403 makes Run look the
// token up at once, so a revoked token is noticed (and, for a login
// method, replaced) without waiting for its TTL. A login token that a new
// login replaces is revoked.
func (s *Source) Run(ctx context.Context) {
	if !s.ran.CompareAndSwap(false, true) {
		s.log.Warn("vault: Run called again; only the first call keeps the token alive")
		return
	}
	if s.isClosed() {
		s.log.Warn("vault: Run called after Close; the token is gone")
		return
	}
	defer s.tr.CloseIdleConnections()
	// The shutdown bound starts when ctx ends, not when Run gets to
	// retire: a revocation under way then ends within it too.
	defer context.AfterFunc(ctx, s.beginShutdown)()
	if wc, err := s.newClient(ctx); err != nil {
		s.log.Error("vault: cannot keep the token alive", "err", err.Error())
	} else if s.login != nil {
		s.keepLoggedIn(ctx, wc)
	} else {
		s.keepToken(ctx, wc)
	}
	<-ctx.Done()
	s.retire(ctx)
}

// keepLoggedIn renews each login's token until it cannot, then logs in
// again and revokes the token it replaced.
func (s *Source) keepLoggedIn(ctx context.Context, wc *api.Client) {
	sec, loggedAt := s.first, s.firstAt
	for failures := 0; ; {
		end := s.keepLogin(ctx, wc, sec, loggedAt)
		if ctx.Err() != nil {
			return
		}
		switch {
		case end.dead:
			s.expired()
		case end.err != nil:
			s.renewFailed(end.err) // the token may still serve: log in again
		}
		// A token that failed its first renewal, or lived less than
		// minTokenLife (a zero lease, a renewal that does not renew, a
		// middlebox refusing renew-self), is a failure: if it goes the
		// same way for every new token, logging in again at once would
		// mint a token per round trip. Back off (the old token, if alive,
		// still serves).
		if s.now().Sub(loggedAt) < s.minTokenLife || (end.err != nil && !end.renewed) {
			failures++
			if s.wait(ctx, s.backoff(failures)) == waitCancelled {
				return
			}
		} else {
			failures = 0
		}
		// What is known of the token being replaced, before the login
		// makes the status the new one's.
		old := s.Status()
		next, at := s.loginUntil(ctx)
		if next == nil {
			return
		}
		s.revoke(ctx, spent{token: sec.Auth.ClientToken, why: "replaced", expires: old.TokenExpires, dead: old.Expired})
		sec, loggedAt = next, at
	}
}

// keepLogin keeps sec, the token of a login sent at loggedAt, until it is
// time to log in again. Its lease counts from the login, not from now: a
// token may have waited between New and Run, and the LifetimeWatcher
// counts the lease it is given from its own start.
func (s *Source) keepLogin(ctx context.Context, wc *api.Client, sec *api.Secret, loggedAt time.Time) watchEnd {
	lease := time.Duration(sec.Auth.LeaseDuration) * time.Second
	if lease <= 0 {
		return watchEnd{dead: s.wait(ctx, -1) == waitDead} // a token that never expires
	}
	age := s.now().Sub(loggedAt)
	if age >= lease {
		return watchEnd{dead: true} // it expired before Run got to it
	}
	if !sec.Auth.Renewable {
		// Log in again once 80 to 90% of the lease has passed, as the
		// LifetimeWatcher would (its grace is 10 to 20% of the lease).
		due := time.Duration(float64(lease) * (0.8 + 0.1*s.jitter()))
		return watchEnd{dead: s.wait(ctx, max(due-age, 0)) == waitDead}
	}
	left := *sec
	auth := *sec.Auth
	auth.LeaseDuration = max(int((lease-age)/time.Second), 1)
	left.Auth = &auth
	return s.watch(ctx, wc, &left)
}

// keepToken renews the configured token while it can, then waits for it
// to expire.
func (s *Source) keepToken(ctx context.Context, wc *api.Client) {
	sec := s.first
	for failures := 0; ; {
		if sec.Auth.LeaseDuration <= 0 || !sec.Auth.Renewable {
			if s.wait(ctx, s.untilExpiry()) != waitCancelled {
				s.expired()
			}
			return
		}
		end := s.watch(ctx, wc, sec)
		switch {
		case ctx.Err() != nil:
			return
		case end.dead:
			// A 403 on lookup-self may be a proxy or a WAF, not Vault: report
			// it, then keep looking the token up (with back-off) and resume
			// watching it if it answers again.
			s.expired()
			if sec = s.reviveUntil(ctx); sec == nil {
				return
			}
			continue
		case end.renewed:
			failures = 0
		}
		// The watcher returns nil when renewing no longer extends the
		// token: it reached its max TTL (or Vault refused with "permission
		// denied", which the watcher does not report).
		stopped := end.err == nil
		if stopped {
			end.err = fmt.Errorf("%w: renewing no longer extends it (max TTL reached, or renewal refused)", ErrNotRenewable)
		}
		s.renewFailed(end.err)
		if !stopped {
			failures++
			if w := s.wait(ctx, s.backoff(failures)); w != waitElapsed {
				if w == waitDead {
					s.expired()
				}
				return
			}
		}
		next, dead := s.lookupUntil(ctx)
		if dead {
			s.expired()
			next = s.reviveUntil(ctx)
		}
		if next == nil {
			return
		}
		if stopped {
			next.Auth.Renewable = false // serve until it expires
		}
		sec = next
	}
}

// watchEnd is why a watch ended (ctx ending aside).
type watchEnd struct {
	err     error // the watcher stopped on an error (nil: it reached its end)
	dead    bool  // lookup-self, asked after a 403, found the token dead
	renewed bool  // at least one renewal succeeded
}

// watch runs a LifetimeWatcher on sec until it stops, ctx ends or a nudge
// finds the token dead. The watcher's goroutine has ended when watch
// returns.
func (s *Source) watch(ctx context.Context, wc *api.Client, sec *api.Secret) (end watchEnd) {
	// ErrorOnErrors: a failed renewal ends the watch at once, so Run
	// reports it and decides (log in again, or back off), rather than the
	// watcher retrying silently on its own fixed schedule.
	behaviour := api.RenewBehaviorErrorOnErrors
	if !sec.Auth.Renewable {
		behaviour = api.RenewBehaviorRenewDisabled // wait until re-login time
	}
	w, err := wc.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec, RenewBehavior: behaviour})
	if err != nil {
		return watchEnd{err: describe(err)}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Start()
	}()
	defer func() {
		w.Stop()
		<-done
	}()
	for {
		select {
		case <-ctx.Done():
			return end
		case r := <-w.RenewCh():
			end.renewed = true
			s.renewed(r)
		case err := <-w.DoneCh():
			for drained := false; !drained; { // renewals reported just before the end
				select {
				case r := <-w.RenewCh():
					end.renewed = true
					s.renewed(r)
				default:
					drained = true
				}
			}
			end.err = describe(err)
			return end
		case <-s.nudge:
			if s.tokenDead(ctx) {
				end.dead = true
				return end
			}
		}
	}
}

// loginUntil logs in, retrying with back-off, until it succeeds (the new
// token, and when its login was sent) or ctx ends or the Source is closed
// (nil).
func (s *Source) loginUntil(ctx context.Context) (*api.Secret, time.Time) {
	for attempt := 1; ; attempt++ {
		if s.isClosed() {
			return nil, time.Time{}
		}
		at := s.now()
		sec, err := s.login(ctx)
		if err == nil {
			if !s.install(sec) {
				s.revoke(ctx, spent{token: sec.Auth.ClientToken, why: "closed", expires: expiry(at, sec.Auth.LeaseDuration)})
				return nil, time.Time{}
			}
			s.loggedIn(sec, at)
			return sec, at
		}
		if ctx.Err() != nil {
			return nil, time.Time{}
		}
		wait := s.backoff(attempt)
		s.setErr(err)
		st := s.Status()
		s.emit(Event{Kind: LoginFailed, Err: err, TokenExpires: st.TokenExpires}, "retry_in", wait)
		if !st.Expired && !st.TokenExpires.IsZero() && !s.now().Before(st.TokenExpires) {
			s.expired() // the old token is gone too: say so, once
		}
		if s.wait(ctx, wait) == waitCancelled {
			return nil, time.Time{}
		}
	}
}

// lookupUntil looks the token up, retrying with back-off, until Vault
// answers: the watcher input for the token's remaining life, or dead when
// Vault says the token is no more. Both are zero when ctx ends.
func (s *Source) lookupUntil(ctx context.Context) (*api.Secret, bool) {
	for attempt := 1; ; attempt++ {
		at := s.now()
		look, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
		var (
			sec     *api.Secret
			expires time.Time
		)
		if err == nil {
			sec, expires, err = watchInput(s.client.Token(), look, at)
		}
		if err == nil {
			s.mu.Lock()
			s.status.TokenExpires, s.status.Renewable = expires, sec.Auth.Renewable
			s.mu.Unlock()
			return sec, false
		}
		err = describe(err)
		if statusCode(err) == http.StatusForbidden {
			return nil, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		wait := s.backoff(attempt)
		s.log.Warn("vault: looking the token up failed", "err", err.Error(), "retry_in", wait)
		if s.wait(ctx, wait) != waitElapsed {
			return nil, false
		}
	}
}

// reviveUntil looks up a token found dead again, with back-off, until
// Vault accepts it (the watcher input, and the status cleared) or ctx
// ends or the token's own expiry passes (nil): a 403 from something in
// front of Vault must not stop the renewal of a token that is alive.
func (s *Source) reviveUntil(ctx context.Context) *api.Secret {
	for attempt := 1; ; attempt++ {
		exp := s.Status().TokenExpires
		if !exp.IsZero() && !s.now().Before(exp) {
			return nil // really expired: nothing brings it back
		}
		if s.wait(ctx, s.backoff(attempt)) == waitCancelled {
			return nil
		}
		next, dead := s.lookupUntil(ctx)
		if next != nil {
			s.mu.Lock()
			s.status.Err, s.status.Expired = nil, false
			s.mu.Unlock()
			s.emit(Event{Kind: Renewed, TokenExpires: s.Status().TokenExpires}, "recovered", true)
			return next
		}
		if !dead {
			return nil // ctx ended
		}
	}
}

// tokenDead reports whether Vault refuses the current token itself
// (lookup-self is allowed to every live token by the default policy).
func (s *Source) tokenDead(ctx context.Context) bool {
	_, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	return statusCode(describe(err)) == http.StatusForbidden
}

type waitResult int

const (
	waitCancelled waitResult = iota // ctx ended
	waitElapsed                     // d passed
	waitDead                        // a nudge found the token dead
)

// wait waits d (forever when d < 0), handling nudges meanwhile.
func (s *Source) wait(ctx context.Context, d time.Duration) waitResult {
	var elapsed <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return waitCancelled
		case <-elapsed:
			return waitElapsed
		case <-s.nudge:
			if s.tokenDead(ctx) {
				return waitDead
			}
		}
	}
}

// untilExpiry is how long the current token has left (-1: forever).
func (s *Source) untilExpiry() time.Duration {
	exp := s.Status().TokenExpires
	if exp.IsZero() {
		return -1
	}
	return max(exp.Sub(s.now()), 0)
}

// backoff is the wait before retry number n: full jitter under a capped
// exponential ceiling (internal/backoff), so replicas that failed
// together do not retry together.
func (s *Source) backoff(n int) time.Duration {
	return backoff.Jitter(backoff.Ceiling(s.retryBase, s.retryCap, n), s.jitter())
}

// poke asks Run to check the token, without blocking.
func (s *Source) poke() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// loggedIn reports the login sent at at, whose token install has made
// current.
func (s *Source) loggedIn(sec *api.Secret, at time.Time) {
	st := Status{TokenExpires: expiry(at, sec.Auth.LeaseDuration), Renewable: sec.Auth.Renewable}
	s.setStatus(st)
	s.emit(Event{Kind: LoggedIn, TokenExpires: st.TokenExpires}, "auth_mount", s.o.Auth.Mount, "renewable", st.Renewable)
}

func (s *Source) renewed(r *api.RenewOutput) {
	if r == nil || r.Secret == nil || r.Secret.Auth == nil {
		return
	}
	st := Status{TokenExpires: expiry(s.now(), r.Secret.Auth.LeaseDuration), Renewable: r.Secret.Auth.Renewable}
	s.setStatus(st)
	s.emit(Event{Kind: Renewed, TokenExpires: st.TokenExpires})
}

func (s *Source) renewFailed(err error) {
	s.setErr(err)
	s.emit(Event{Kind: RenewFailed, Err: err, TokenExpires: s.Status().TokenExpires})
}

func (s *Source) expired() {
	s.mu.Lock()
	s.status.Err, s.status.Expired = ErrTokenExpired, true
	s.mu.Unlock()
	s.emit(Event{Kind: TokenExpired, Err: ErrTokenExpired, TokenExpires: s.Status().TokenExpires})
}

func (s *Source) setStatus(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = st
}

func (s *Source) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Err = err
}

// emit logs e and hands it to OnEvent. Every error here went through
// describe or was built by this package: none holds a secret.
func (s *Source) emit(e Event, attrs ...any) {
	level := slog.LevelInfo
	switch e.Kind {
	case Renewed:
		level = slog.LevelDebug
	case LoginFailed, RenewFailed:
		level = slog.LevelWarn
	case TokenExpired:
		level = slog.LevelError
	}
	attrs = append(attrs, "method", s.o.Auth.Method)
	if !e.TokenExpires.IsZero() {
		attrs = append(attrs, "token_expires", e.TokenExpires)
	}
	if e.Err != nil {
		attrs = append(attrs, "err", e.Err.Error())
	}
	s.log.Log(context.Background(), level, "vault: "+e.Kind.String(), attrs...)
	if s.o.OnEvent != nil {
		s.o.OnEvent(e)
	}
}
