package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// maxShutdownRevoke caps how long revocation may hold up a shutdown (see
// shutdownBound).
const maxShutdownRevoke = 5 * time.Second

// errShutdownBound ends the revocations still going when the shutdown
// bound runs out.
var errShutdownBound = errors.New("the shutdown bound ran out")

// Close gives back what the Source holds: with a login method it revokes
// the current token (what Run does when it ends; Close is for a Source
// whose Run never ran, as in config validate, and is harmless after Run
// has returned), and it closes idle connections. A closed Source logs in
// no more: Run returns at once, and a login already under way is revoked
// as soon as it succeeds. The configured token of method token is left
// alone: it is the operator's. Revocation is bounded by the shutdown bound
// (see shutdownBound). It always returns nil: a revocation that fails is
// logged, and the token then lives out its TTL.
func (s *Source) Close() error {
	s.retire(context.Background())
	s.tr.CloseIdleConnections()
	return nil
}

// install makes sec's token the one reads use, unless the Source is closed
// (false).
func (s *Source) install(sec *api.Secret) bool {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if s.closed {
		return false
	}
	s.client.SetToken(sec.Auth.ClientToken)
	return true
}

func (s *Source) isClosed() bool {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	return s.closed
}

// retire closes the Source, starts the shutdown bound and, with a login
// method, revokes the current token, once: later calls find none.
func (s *Source) retire(ctx context.Context) {
	s.beginShutdown()
	s.tokenMu.Lock()
	s.closed = true
	tok := ""
	if s.login != nil {
		tok = s.client.Token()
		s.client.ClearToken()
	}
	s.tokenMu.Unlock()
	st := s.Status()
	s.revoke(ctx, spent{token: tok, why: "shut down", expires: st.TokenExpires, dead: st.Expired})
}

// shutdownBound is how long revocation may take once shutdown has begun
// (Close, or the end of Run's context): the timeout, at most
// maxShutdownRevoke. It is one deadline for everything revoked from then
// on — a replaced token whose revocation is still under way, the token in
// use, a login that succeeds after Close — so that an unreachable Vault
// holds a shutdown up for that long at most, not once per token. Waiting
// longer would only delay the exit: a token not revoked stays valid until
// its TTL, as it would if the gateway had crashed.
func (s *Source) shutdownBound() time.Duration { return min(s.o.Timeout, s.shutdownCap) }

// beginShutdown starts the shutdown bound, once: when it runs out,
// s.shutdown ends, and with it every revocation.
func (s *Source) beginShutdown() {
	s.shutdownOnce.Do(func() {
		time.AfterFunc(s.shutdownBound(), func() { s.endShutdown(errShutdownBound) })
	})
}

// spent is a login token the Source is done with, and what it knows of it.
type spent struct {
	token   string
	why     string    // which token it is: "replaced", "shut down", "closed"
	expires time.Time // when it expires; zero: never
	dead    bool      // Vault was found to refuse it already
}

// gone reports whether the Source knows tok no longer works: found dead,
// or past its expiry.
func (t spent) gone(now time.Time) bool {
	return t.dead || (!t.expires.IsZero() && !now.Before(t.expires))
}

// revoke revokes t, a login token the Source is done with, with
// auth/token/revoke-self
// (https://developer.hashicorp.com/vault/api-docs/auth/token#revoke-a-token-self).
// Left alone it would stay valid until its TTL (768h by default) runs
// out, for whoever got a copy of it. Best effort: bounded by the timeout
// even when ctx has ended (Run calls it on its way out), and by the
// shutdown bound once shutdown has begun; a failure is logged, without
// the token, and changes nothing else — the login that replaced it
// stands. Never called with the token of method token.
func (s *Source) revoke(ctx context.Context, t spent) {
	if t.token == "" || s.revoker == nil {
		return
	}
	attrs := []any{"which", t.why, "method", s.o.Auth.Method}
	if !t.expires.IsZero() {
		attrs = append(attrs, "token_expires", t.expires)
	}
	if isBatchToken(t.token) {
		s.batchNotRevoked(attrs)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Timeout)
	defer cancel()
	ctx, cut := context.WithCancelCause(ctx)
	defer cut(nil)
	defer context.AfterFunc(s.shutdown, func() { cut(context.Cause(s.shutdown)) })()
	s.revokeMu.Lock()
	defer s.revokeMu.Unlock()
	if s.shutdown.Err() != nil {
		s.log.Warn("vault: the "+t.why+" token was not revoked: the shutdown bound ran out first; it stays valid until its TTL runs out",
			append(attrs, "bound", s.shutdownBound())...)
		return
	}
	s.revoker.SetToken(t.token)
	defer s.revoker.ClearToken()
	// The api sends the client's token; its token argument is ignored.
	err := describe(s.revoker.Auth().Token().RevokeSelfWithContext(ctx, ""))
	if err != nil && errors.Is(context.Cause(ctx), errShutdownBound) {
		err = fmt.Errorf("no answer within the shutdown bound (%s): %w", s.shutdownBound(), context.DeadlineExceeded)
	}
	switch {
	case err == nil:
		s.log.Info("vault: login token revoked", attrs...)
	case statusCode(err) == http.StatusForbidden && t.gone(s.now()):
		s.log.Info("vault: login token not revoked: it had expired or been revoked already", attrs...)
	case statusCode(err) == http.StatusForbidden:
		// What Vault says of a token whose policies do not allow
		// revoke-self (the default policy does; a role with
		// token_no_default_policy does not), and of one revoked by
		// someone else meanwhile, which a 403 cannot tell apart.
		s.log.Warn("vault: Vault refused to revoke the "+t.why+" token (HTTP 403): unless someone revoked it meanwhile, "+
			"its policies do not allow update on auth/token/revoke-self (the default policy does; grant it to a role with "+
			"token_no_default_policy), and it stays valid until it expires", attrs...)
	case statusCode(err) == http.StatusBadRequest:
		// Vault's answer for a batch token, which cannot be revoked, when
		// its prefix did not say what it was.
		s.batchNotRevoked(append(attrs, "err", err.Error()))
	default:
		s.log.Warn("vault: revoking the "+t.why+" token failed; it stays valid until its TTL runs out", append(attrs, "err", err.Error())...)
	}
}

// isBatchToken reports whether tok is a batch token by its prefix
// (https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes:
// hvb., or b. before Vault 1.10). Vault cannot revoke those: revoke-self
// answers 400.
func isBatchToken(tok string) bool {
	return strings.HasPrefix(tok, "hvb.") || strings.HasPrefix(tok, "b.")
}

// batchNotRevoked says, once per Source at Info and at Debug after that,
// that a batch token was not revoked: every login of the role gives one,
// and nothing is wrong.
func (s *Source) batchNotRevoked(attrs []any) {
	if s.batchNoted.CompareAndSwap(false, true) {
		s.log.Info("vault: login tokens are batch tokens, which Vault cannot revoke: each stays valid until its TTL runs out "+
			"(a role with token_type service gives tokens the gateway revokes once it is done with them)", attrs...)
		return
	}
	s.log.Debug("vault: batch token not revoked", attrs...)
}
