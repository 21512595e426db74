package vault_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// loginAt is an AppRole source whose Vault and whose own notion of now are
// clk, so the test can put time between New (the login) and Run.
func loginAt(t *testing.T, clk *clocktest.Clock, tok vaulttest.TokenOptions) (*vaulttest.Server, *recorder, *vault.Source) {
	t.Helper()
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	o, _ := appRole(t, srv, tok)
	vault.SetNow(&o, clk.Now)
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, 10*time.Millisecond, 100*time.Millisecond, nil)
	return srv, rec, src
}

// TestNonRenewableLoginTokenLivesFromItsLogin: a login token that cannot
// be renewed lives its TTL from the login, not from Run. One that sat 59
// of its 60 seconds between New and Run is due for replacement as soon as
// Run starts, and Status says when it really expires.
func TestNonRenewableLoginTokenLivesFromItsLogin(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktest.New(t0)
	_, rec, src := loginAt(t, clk, vaulttest.TokenOptions{TTL: time.Minute, NotRenewable: true})
	st := src.Status()
	require.False(t, st.Renewable)
	require.Equal(t, t0.Add(time.Minute), st.TokenExpires, "the TTL counts from the login")

	clk.Advance(59 * time.Second) // the gap between New and Run
	require.Equal(t, t0.Add(time.Minute), src.Status().TokenExpires, "time passing does not move the expiry")
	run(t, src)
	rec.wait(t, vault.LoggedIn, 2) // at once, not 40 seconds after Run started
	require.Equal(t, t0.Add(59*time.Second+time.Minute), src.Status().TokenExpires)
	require.Zero(t, rec.count(vault.TokenExpired), "the old token was replaced before it expired")
}

// TestLoginTokenExpiredBeforeRunIsReportedExpired: a login token whose TTL
// ran out between New and Run, while Vault cannot be reached, is reported
// expired as soon as Run starts (readiness keys on it), renewable or not.
func TestLoginTokenExpiredBeforeRunIsReportedExpired(t *testing.T) {
	t.Parallel()
	for name, tok := range map[string]vaulttest.TokenOptions{
		"not renewable": {TTL: time.Minute, NotRenewable: true},
		"renewable":     {TTL: time.Minute, MaxTTL: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clk := clocktest.New(t0)
			srv, rec, src := loginAt(t, clk, tok)
			clk.Advance(61 * time.Second)
			srv.Fail(t, true)
			run(t, src)
			rec.wait(t, vault.TokenExpired, 1)
			st := src.Status()
			require.True(t, st.Expired)
			require.Equal(t, t0.Add(time.Minute), st.TokenExpires)
			rec.wait(t, vault.LoginFailed, 1) // and Run tries to get a new one
		})
	}
}
