package vault

import (
	"context"
	"net/http"

	"github.com/hashicorp/vault/api"
)

// Close gives back what the Source holds: with a login method it revokes
// the current token (what Run does when it ends; Close is for a Source
// whose Run never ran, as in config validate, and is harmless after Run
// has returned), and it closes idle connections. A closed Source logs in
// no more: Run returns at once, and a login already under way is revoked
// as soon as it succeeds. The configured token of method token is left
// alone: it is the operator's. It always returns nil: a revocation that
// fails is logged, and the token then lives out its TTL.
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

// retire closes the Source and, with a login method, revokes the current
// token, once: later calls find none.
func (s *Source) retire(ctx context.Context) {
	s.tokenMu.Lock()
	s.closed = true
	tok := ""
	if s.login != nil {
		tok = s.client.Token()
		s.client.ClearToken()
	}
	s.tokenMu.Unlock()
	s.revoke(ctx, tok, "shut down")
}

// revoke revokes tok, a login token the Source is done with, with
// auth/token/revoke-self
// (https://developer.hashicorp.com/vault/api-docs/auth/token#revoke-a-token-self).
// Left alone it would stay valid until its TTL (768h by default) runs
// out, for whoever got a copy of it. Best effort: bounded by the timeout
// even when ctx has ended (Run calls it on its way out), and a failure is
// logged, without the token, and changes nothing else — the login that
// replaced it stands. why says which token it was ("replaced", "shut
// down", "closed"). Never called with the token of method token.
func (s *Source) revoke(ctx context.Context, tok, why string) {
	if tok == "" || s.revoker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Timeout)
	defer cancel()
	s.revokeMu.Lock()
	defer s.revokeMu.Unlock()
	s.revoker.SetToken(tok)
	defer s.revoker.ClearToken()
	// The api sends the client's token; its token argument is ignored.
	err := describe(s.revoker.Auth().Token().RevokeSelfWithContext(ctx, ""))
	attrs := []any{"which", why, "method", s.o.Auth.Method}
	switch {
	case err == nil:
		s.log.Info("vault: login token revoked", attrs...)
	case statusCode(err) == http.StatusForbidden:
		// Expired or revoked already (or refused by something in front of
		// Vault, which a revocation cannot tell apart).
		s.log.Info("vault: login token not revoked: Vault no longer accepts it", attrs...)
	default:
		s.log.Warn("vault: revoking the "+why+" token failed; it stays valid until its TTL runs out", append(attrs, "err", err.Error())...)
	}
}
