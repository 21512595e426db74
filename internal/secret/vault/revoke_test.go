package vault_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// refused reports whether srv answers lookup-self with tok 403 permission
// denied: what Vault says of a revoked token. It speaks the HTTP API, not
// the fake's internals.
func refused(t *testing.T, srv *vaulttest.Server, tok string) bool {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(srv.CA().PEM()))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+"/v1/auth/token/lookup-self", nil)
	require.NoError(t, err)
	req.Header.Set("X-Vault-Token", tok)
	resp, err := (&http.Client{Transport: tr, Timeout: testTimeout}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusForbidden
}

// loginTokens are the tokens srv issued at logins: every token but the
// root token, which NewServer issues first.
func loginTokens(srv *vaulttest.Server) []string { return srv.Tokens()[1:] }

// clockStart is when the fake clocks of these tests start.
var clockStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// dueFirstToken registers an AppRole on srv, whose clock is clk, and
// builds a Source (o edited by edit, when not nil) whose first token is
// due for replacement as soon as Run starts, and whose later tokens live
// an hour: Run logs in again exactly once, and is then quiet. base gives
// the tokens' kind (Batch); their TTLs are set here.
//
// The first token cannot be renewed, and clk, which the Source shares
// with Vault, has moved 57 of its 60 minutes since the login: Run replaces
// it at once (due at 80-90% of its TTL), while Vault, whose clock moves
// only when a test says so, still takes it. So no real-time margin decides
// whether the replaced token's revocation reaches Vault before that token
// expires, however slow the machine.
func dueFirstToken(t *testing.T, srv *vaulttest.Server, clk *clocktest.Clock, base vaulttest.TokenOptions, edit func(*vault.Options)) (*recorder, *vault.Source) {
	t.Helper()
	first, later := base, base
	first.TTL, first.NotRenewable, later.TTL = time.Hour, true, time.Hour
	o, role := appRole(t, srv, first)
	vault.SetNow(&o, clk.Now)
	rec := newRecorder()
	o.OnEvent = rec.on
	if edit != nil {
		edit(&o)
	}
	src := newSource(t, o)
	role.Token = later
	srv.SetAppRole(role)
	clk.Advance(57 * time.Minute)
	return rec, src
}

// runUntil runs src.Run and returns a function that cancels it and waits
// until it has returned.
func runUntil(t *testing.T, src *vault.Source) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx)
	}()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatal("Run did not return after its context was cancelled")
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestReplacedLoginTokenIsRevoked: when Run logs in again, the token it
// replaces is revoked with revoke-self, not left valid until its TTL; the
// new one serves; and the token in use when Run ends is revoked too.
func TestReplacedLoginTokenIsRevoked(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(clockStart)
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	rec, src := dueFirstToken(t, srv, clk, vaulttest.TokenOptions{}, nil)
	srv.Write(t, "secret/app", map[string]any{"key": "after-relogin-0123456789"})
	first := loginTokens(srv)
	require.Len(t, first, 1)

	stop := runUntil(t, src)
	rec.wait(t, vault.LoggedIn, 2)
	eventually(t, func() bool { return slices.Contains(srv.SelfRevoked(), first[0]) }, "the replaced token to be revoked")
	require.True(t, refused(t, srv, first[0]), "Vault refuses the replaced token")
	current := loginTokens(srv)
	require.Len(t, current, 2)
	require.False(t, refused(t, srv, current[1]), "the new token is alive")
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err)

	stop()
	require.Equal(t, current, srv.SelfRevoked(), "the last token is revoked when Run ends")
	require.True(t, refused(t, srv, current[1]))
	require.NoError(t, src.Close(), "Close after Run has nothing left to revoke")
	require.Equal(t, 2, srv.Counts().Revocations)
}

// TestCloseRevokesTheLoginToken: a Source whose Run never ran (config
// validate, a failed start-up) gives its login token back on Close.
func TestCloseRevokesTheLoginToken(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	src := newSource(t, o)
	require.NoError(t, src.Close())
	require.Equal(t, loginTokens(srv), srv.SelfRevoked())
	require.True(t, refused(t, srv, loginTokens(srv)[0]))
	require.NoError(t, src.Close())
	require.Equal(t, 1, srv.Counts().Revocations, "Close twice revokes once")
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(context.Background()) // a closed Source does not log in again
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("Run on a closed Source did not return")
	}
	require.Equal(t, 1, srv.Counts().Logins)
}

// TestConfiguredTokenIsNeverRevoked: the token of method token belongs to
// the operator, who may share it; neither Run's end nor Close revokes it.
func TestConfiguredTokenIsNeverRevoked(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	rec := newRecorder()
	o := tokenOptions(t, srv, tok)
	o.OnEvent = rec.on
	src := newSource(t, o)
	stop := runUntil(t, src)
	rec.wait(t, vault.Renewed, 1)
	stop()
	require.NoError(t, src.Close())
	require.Zero(t, srv.Counts().Revocations)
	require.False(t, refused(t, srv, tok))
}

// TestFailedRevocationIsLoggedAndHarmless: a revoke-self that fails is
// logged, without the token (even when the answer echoes it), and the new
// login stands.
func TestFailedRevocationIsLoggedAndHarmless(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(clockStart)
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	var refusals atomic.Int32
	addr := front(t, srv, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/revoke-self") {
			return false
		}
		refusals.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"errors":["cannot revoke %s"]}`, r.Header.Get("X-Vault-Token"))
		return true
	})
	log, logs := logtest.JSONLogger()
	rec, src := dueFirstToken(t, srv, clk, vaulttest.TokenOptions{}, func(o *vault.Options) { o.Address, o.Log = addr, log })
	srv.Write(t, "secret/app", map[string]any{"key": "revocation-failed-012345"})

	stop := runUntil(t, src)
	rec.wait(t, vault.LoggedIn, 2)
	eventually(t, func() bool { return refusals.Load() >= 1 }, "a revocation attempt")
	eventually(t, func() bool { return strings.Contains(logs.String(), "revoking the replaced token failed") }, "the failure logged")
	require.NoError(t, src.Status().Err, "a failed revocation is not a failed login")
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
	stop()
	require.Contains(t, logs.String(), "HTTP 500")
	require.Zero(t, srv.Counts().Revocations)
	assertNoLeak(t, logs.String(), append(srv.Tokens(), testSecretID)...)
	for _, e := range rec.all() {
		if e.Err != nil {
			assertNoLeak(t, e.Err.Error(), srv.Tokens()...)
		}
	}
}

// TestReadInFlightWhenTheTokenIsReplaced: a read sent with the old token
// that reaches Vault after Run revoked it is made again with the new one,
// instead of failing a refresh because of the replacement.
func TestReadInFlightWhenTheTokenIsReplaced(t *testing.T) {
	t.Parallel()
	var (
		armed   atomic.Bool
		once    sync.Once
		release = make(chan struct{})
	)
	inFlight, free := make(chan struct{}), func() { once.Do(func() { close(release) }) }
	clk := clocktest.New(clockStart)
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk, OnRequest: func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/data/") && armed.CompareAndSwap(true, false) {
			close(inFlight)
			<-release
		}
	}})
	t.Cleanup(free) // before the server's Close, which waits for handlers
	rec, src := dueFirstToken(t, srv, clk, vaulttest.TokenOptions{}, nil)
	srv.Write(t, "secret/app", map[string]any{"key": "in-flight-value-0123456"})
	first := loginTokens(srv)[0]

	armed.Store(true)
	got := make(chan secret.Result, 1)
	go func() { got <- src.Fetch(context.Background(), []secret.Ref{srv.Ref("app", "key")})[0] }()
	select {
	case <-inFlight:
	case <-time.After(patience):
		t.Fatal("the read never reached the server")
	}
	runUntil(t, src)
	rec.wait(t, vault.LoggedIn, 2)
	eventually(t, func() bool { return slices.Contains(srv.SelfRevoked(), first) }, "the old token to be revoked")
	free() // the read, sent with the old token, now reaches Vault
	select {
	case r := <-got:
		require.NoError(t, r.Err)
		require.Equal(t, "in-flight-value-0123456", r.Value.Reveal())
	case <-time.After(patience):
		t.Fatal("the read did not finish")
	}
}

// TestRevocationRefusedForALiveToken: a 403 on revoke-self for a token
// that has not expired is what a token whose policies lack
// auth/token/revoke-self gets (a role with token_no_default_policy): a
// live token is left behind, which is a warning that says what to grant.
func TestRevocationRefusedForALiveToken(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	addr := front(t, srv, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/revoke-self") {
			return false
		}
		w.WriteHeader(http.StatusForbidden) // what Vault answers a path the policies do not grant
		fmt.Fprint(w, `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`)
		return true
	})
	log, logs := logtest.JSONLogger()
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	o.Address, o.Log = addr, log
	src := newSource(t, o)
	require.NoError(t, src.Close())
	line := logLine(t, logs, "Vault refused to revoke the shut down token (HTTP 403)")
	require.Equal(t, "WARN", line["level"])
	require.Contains(t, line["msg"], "auth/token/revoke-self")
	require.Contains(t, line["msg"], "token_no_default_policy")
	require.Contains(t, line, "token_expires", "it says until when the token stays valid")
	require.False(t, refused(t, srv, loginTokens(srv)[0]), "the warning is true: the token is alive")
	assertNoLeak(t, logs.String(), srv.Tokens()...)
}

// TestRevocationRefusedForAnExpiredToken: a 403 on revoke-self for a token
// past its expiry is Vault saying it is gone already: nothing is left
// behind, and that is not a warning.
func TestRevocationRefusedForAnExpiredToken(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(clockStart)
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	log, logs := logtest.JSONLogger()
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Minute, NotRenewable: true})
	vault.SetNow(&o, clk.Now)
	o.Log = log
	src := newSource(t, o)
	clk.Advance(61 * time.Second)
	require.NoError(t, src.Close())
	line := logLine(t, logs, "login token not revoked: it had expired or been revoked already")
	require.Equal(t, "INFO", line["level"])
	require.Empty(t, logLines(t, logs, "Vault refused"))
}

// TestBatchTokensAreNotRevokedEveryTime: Vault cannot revoke batch tokens
// (revoke-self answers 400). Told by their prefix, they are not sent to
// revoke-self at all; told by the 400 (a prefix that did not say), the
// answer is expected. Either way that is said once, at Info, and then at
// Debug: not a warning at every login.
func TestBatchTokensAreNotRevokedEveryTime(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		base     vaulttest.TokenOptions
		answer   bool // a front answers revoke-self 400 for service-prefixed tokens
		attempts int32
	}{
		"told by the prefix": {base: vaulttest.TokenOptions{Batch: true}, attempts: 0},
		"told by the 400":    {answer: true, attempts: 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := clocktest.New(clockStart)
			var attempts atomic.Int32
			srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk, OnRequest: func(r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/revoke-self") {
					attempts.Add(1)
				}
			}})
			addr := srv.URL()
			if tc.answer {
				addr = front(t, srv, func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasSuffix(r.URL.Path, "/revoke-self") {
						return false
					}
					attempts.Add(1)
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"errors":["batch tokens cannot be revoked"]}`)
					return true
				})
			}
			log, logs := logtest.JSONLogger()
			rec, src := dueFirstToken(t, srv, clk, tc.base, func(o *vault.Options) { o.Address, o.Log = addr, log })
			stop := runUntil(t, src)
			rec.wait(t, vault.LoggedIn, 2) // the first token replaced: one not revoked
			stop()                         // and the last one
			require.Equal(t, tc.attempts, attempts.Load())
			once := logLine(t, logs, "login tokens are batch tokens, which Vault cannot revoke")
			require.Equal(t, "INFO", once["level"])
			later := logLine(t, logs, "vault: batch token not revoked")
			require.Equal(t, "DEBUG", later["level"])
			for _, line := range logLines(t, logs, "") {
				require.NotEqual(t, "WARN", line["level"], "%v", line)
			}
			assertNoLeak(t, logs.String(), srv.Tokens()...)
		})
	}
}
