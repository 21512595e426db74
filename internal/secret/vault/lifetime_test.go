package vault_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// The tokens of these tests live seconds: the LifetimeWatcher reads the
// wall clock and Vault counts TTLs in whole seconds, so that is as short
// as a renewal cycle gets. Nothing sleeps: the tests wait for events.

func TestAppRoleLoginAndRenewal(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: 4 * time.Second, MaxTTL: time.Hour})
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	require.Equal(t, 1, rec.count(vault.LoggedIn), "New logs in")
	st := src.Status()
	require.NoError(t, st.Err)
	require.True(t, st.Renewable)
	require.WithinDuration(t, time.Now().Add(4*time.Second), st.TokenExpires, 3*time.Second)

	srv.Write(t, "secret/app", map[string]any{"key": "approle-value-0123456789"})
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
	run(t, src)
	// The watcher renews at once, then again before the 4s TTL is out.
	rec.wait(t, vault.Renewed, 2)
	require.GreaterOrEqual(t, srv.Counts().Renewals, 2, "the server saw renew-self")
	require.Equal(t, 1, srv.Counts().Logins, "a renewable token is renewed, not replaced")
	require.NoError(t, src.Status().Err)
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
}

// TestAppRoleLogsInAgainAtMaxTTL: the watcher stops at the token's max
// TTL; Run then logs in again, and reads go on with the new token.
func TestAppRoleLogsInAgainAtMaxTTL(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Second, MaxTTL: 2 * time.Second})
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	srv.Write(t, "secret/app", map[string]any{"key": "relogin-value-0123456789"})
	run(t, src)
	rec.wait(t, vault.LoggedIn, 2)
	require.GreaterOrEqual(t, srv.Counts().Logins, 2)
	require.GreaterOrEqual(t, srv.Counts().Renewals, 1)
	r := fetchOne(t, src, srv.Ref("app", "key"))
	require.NoError(t, r.Err)
	require.Equal(t, "relogin-value-0123456789", r.Value.Reveal())
}

// TestKubernetesReadsTheJWTAtEveryLogin: kubelet rotates projected service
// account tokens; each login must send the file's current content.
func TestKubernetesReadsTheJWTAtEveryLogin(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	jwtFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, jwtFile, "eyJhbGciOiJSUzI1NiJ9.first.signature\n")
	role := vaulttest.KubernetesRole{Role: "gateway", JWT: "eyJhbGciOiJSUzI1NiJ9.first.signature",
		Token: vaulttest.TokenOptions{TTL: time.Second, MaxTTL: time.Second}}
	srv.SetKubernetesRole(role)
	rec := newRecorder()
	src := newSource(t, vault.Options{
		Address: srv.URL(), CAFile: srv.CAFile(t), Timeout: testTimeout, OnEvent: rec.on,
		Auth: vault.Auth{Method: "kubernetes", Role: "gateway", JWTFile: jwtFile},
	})
	require.Equal(t, 1, srv.Counts().Logins)

	writeFile(t, jwtFile, "eyJhbGciOiJSUzI1NiJ9.second.signature")
	role.JWT = "eyJhbGciOiJSUzI1NiJ9.second.signature"
	srv.SetKubernetesRole(role) // the old JWT is refused from now on
	run(t, src)
	rec.wait(t, vault.LoggedIn, 2)
	require.Zero(t, srv.Counts().FailedLogins, "the second login sent the rotated token")
	require.Zero(t, rec.count(vault.LoginFailed))
}

func TestKubernetesMissingJWTFileFailsStartUp(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	srv.SetKubernetesRole(vaulttest.KubernetesRole{Role: "gateway", JWT: "x.y.z"})
	missing := filepath.Join(t.TempDir(), "no-token")
	_, err := vault.New(context.Background(), vault.Options{
		Address: srv.URL(), CAFile: srv.CAFile(t), Auth: vault.Auth{Method: "kubernetes", Role: "gateway", JWTFile: missing},
	})
	require.ErrorContains(t, err, "service account token")
	require.ErrorContains(t, err, missing)
}

// TestLoginFailuresAreRetried: a login refused (the secret ID was rotated
// away) is retried with back-off, reported each time, and recovers when
// the credential works again.
func TestLoginFailuresAreRetried(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, role := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Second, MaxTTL: time.Second})
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, time.Millisecond, 10*time.Millisecond, nil)

	broken := role
	broken.SecretID = "some-other-secret-id-9876"
	srv.SetAppRole(broken)
	run(t, src)
	rec.wait(t, vault.LoginFailed, 3)
	st := src.Status()
	require.Error(t, st.Err)
	require.ErrorContains(t, st.Err, "approle login at auth/approle failed")
	require.ErrorContains(t, st.Err, "HTTP 400")
	require.NotContains(t, st.Err.Error(), role.SecretID)

	srv.SetAppRole(role)
	rec.wait(t, vault.LoggedIn, 2)
	eventually(t, func() bool { return src.Status().Err == nil }, "a healthy status after the login")
}

// TestFailingRenewalsBackOffLogins: when every new token's renewal fails
// at once, Run waits its back-off between logins instead of minting a
// token per round trip. With the jitter pinned, every wait is just under
// step; a timer never fires early, so consecutive logins are at least
// that far apart however loaded the machine is.
func TestFailingRenewalsBackOffLogins(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	srv.RefuseRenewals(true)
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	const step = 50 * time.Millisecond
	vault.SetRetry(src, step, step, func() float64 { return 0.999 })
	run(t, src)
	rec.wait(t, vault.LoggedIn, 4)
	logins := rec.times(vault.LoggedIn)
	for i := 1; i < len(logins); i++ {
		require.GreaterOrEqual(t, logins[i].Sub(logins[i-1]), step*99/100, "login %d came too soon after the one before", i)
	}
	require.GreaterOrEqual(t, rec.count(vault.RenewFailed), 3)
}

// TestRevokedLoginTokenIsReplaced: a read refused 403 makes Run look the
// token up; a revoked one is reported and replaced by a new login at once,
// not when its TTL would have run out.
func TestRevokedLoginTokenIsReplaced(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	srv.Write(t, "secret/app", map[string]any{"key": "after-revocation-0123456"})
	run(t, src)
	rec.wait(t, vault.Renewed, 1)

	srv.RevokeAll()
	require.Error(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
	rec.wait(t, vault.TokenExpired, 1)
	rec.wait(t, vault.LoggedIn, 2)
	r := fetchOne(t, src, srv.Ref("app", "key"))
	require.NoError(t, r.Err)
	require.Equal(t, "after-revocation-0123456", r.Value.Reveal())
}

// TestTokenNotRenewable: a configured token that is not renewable is
// reported at once, serves until it expires, and then fails reads with an
// error that holds neither the token nor a value.
func TestTokenNotRenewable(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Now())
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour, NotRenewable: true})
	o := tokenOptions(t, srv, tok)
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	require.Equal(t, 1, rec.count(vault.RenewFailed))
	st := src.Status()
	require.ErrorIs(t, st.Err, vault.ErrNotRenewable)
	require.False(t, st.Renewable)
	require.WithinDuration(t, time.Now().Add(time.Hour), st.TokenExpires, time.Minute)

	run(t, src)
	srv.Write(t, "secret/app", map[string]any{"key": "static-token-value-0123"})
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err, "the token serves until it expires")

	clk.Advance(61 * time.Minute) // Vault's clock: the token is now expired there
	r := fetchOne(t, src, srv.Ref("app", "key"))
	require.Error(t, r.Err)
	require.Contains(t, r.Err.Error(), "secret/app")
	require.NotContains(t, r.Err.Error(), tok)
	require.NotContains(t, r.Err.Error(), "static-token-value")
	rec.wait(t, vault.TokenExpired, 1)
	require.ErrorIs(t, src.Status().Err, vault.ErrTokenExpired)
	require.Zero(t, srv.Counts().Renewals)
}

// TestTokenRenewalRefused: a renewable token whose renewals Vault refuses
// is reported, keeps serving, and is reported expired once it is.
func TestTokenRenewalRefused(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Now())
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	srv.RefuseRenewals(true)
	o := tokenOptions(t, srv, tok)
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, time.Millisecond, 10*time.Millisecond, nil)
	require.NoError(t, src.Status().Err)

	run(t, src)
	rec.wait(t, vault.RenewFailed, 1)
	require.ErrorContains(t, src.Status().Err, "HTTP 400")
	srv.Write(t, "secret/app", map[string]any{"key": "refused-renewal-value-01"})
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err)

	clk.Advance(2 * time.Hour)
	require.Error(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
	rec.wait(t, vault.TokenExpired, 1)
	require.ErrorIs(t, src.Status().Err, vault.ErrTokenExpired)
}

// TestTokenRenewedUntilMaxTTL: a renewable configured token is renewed by
// the watcher; at its max TTL that stops, which is reported, and when it
// then expires, that is reported too.
func TestTokenRenewedUntilMaxTTL(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: 2 * time.Second, MaxTTL: 3 * time.Second})
	o := tokenOptions(t, srv, tok)
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, time.Millisecond, 10*time.Millisecond, nil)
	srv.Write(t, "secret/app", map[string]any{"key": "max-ttl-value-012345678"})
	run(t, src)
	rec.wait(t, vault.Renewed, 1)
	rec.wait(t, vault.RenewFailed, 1)
	rec.wait(t, vault.TokenExpired, 1)
	require.GreaterOrEqual(t, srv.Counts().Renewals, 1)
	require.ErrorIs(t, src.Status().Err, vault.ErrTokenExpired)
	// lookup-self counts whole seconds, so the expiry is reported up to a
	// second early: the read fails at the latest a second later.
	eventually(t, func() bool { return fetchOne(t, src, srv.Ref("app", "key")).Err != nil }, "an expired token to read nothing")
}

// TestRunRunsOnce: Run returns when its context ends, and a second call
// returns at once instead of starting a second renewer.
func TestRunRunsOnce(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx)
		src.Run(context.Background()) // must not block: Run already ran
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("Run did not return")
	}
}

// TestLoginErrorsNameTheMountNotTheCredential: a refused login says which
// method and mount, and holds neither the JWT nor the secret ID.
func TestLoginErrorsNameTheMountNotTheCredential(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	log, logs := logtest.JSONLogger()

	srv.SetKubernetesRole(vaulttest.KubernetesRole{Mount: "k8s-prod", Role: "gateway", JWT: "eyJ.accepted.jwt"})
	jwtFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, jwtFile, "eyJ.stale-service-account.jwt")
	k := vault.Options{Address: srv.URL(), CAFile: srv.CAFile(t), Timeout: testTimeout, Log: log,
		Auth: vault.Auth{Method: "kubernetes", Role: "gateway", JWTFile: jwtFile, Mount: "k8s-prod"}}
	_, err := vault.New(context.Background(), k)
	require.ErrorContains(t, err, "kubernetes login at auth/k8s-prod failed: HTTP 403")
	assertNoLeak(t, err.Error()+logs.String(), "eyJ.stale-service-account.jwt", "eyJ.accepted.jwt")

	writeFile(t, jwtFile, "eyJ.accepted.jwt")
	newSource(t, k)
	k.Auth.Mount = ""
	_, err = vault.New(context.Background(), k)
	require.ErrorContains(t, err, "kubernetes login at auth/kubernetes failed: HTTP 404")

	a, role := appRole(t, srv, vaulttest.TokenOptions{})
	a.Log = log
	a.Auth.SecretID = secret.NewValue("not-the-secret-id-0123456789")
	_, err = vault.New(context.Background(), a)
	require.ErrorContains(t, err, "approle login at auth/approle failed: HTTP 400")
	require.ErrorContains(t, err, "check role_id and secret_id")
	assertNoLeak(t, err.Error()+logs.String(), "not-the-secret-id-0123456789", role.SecretID, role.RoleID)
}
