package vault_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// front is a TLS reverse proxy in front of srv (same CA), with a hook
// that may answer instead of Vault.
func front(t *testing.T, srv *vaulttest.Server, hook func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	u, _ := url.Parse(srv.URL())
	rp := httputil.NewSingleHostReverseProxy(u)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(srv.CAFile(t))
	require.NoError(t, err)
	pool.AppendCertsFromPEM(pem)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	f := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	f.TLS = &tls.Config{Certificates: []tls.Certificate{srv.CA().Leaf(t, upstreamtest.LeafOptions{})}}
	f.StartTLS()
	t.Cleanup(func() { f.CloseClientConnections(); f.Close(); rp.Transport.(*http.Transport).CloseIdleConnections() })
	return f.URL
}

// An approle token that expires while every login fails (Vault down) is
// reported expired, and stays so through the failed logins that follow:
// readiness keys on it.
func TestExpiredLoginTokenStaysReportedExpired(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: 2 * time.Second, MaxTTL: 2 * time.Second})
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, 50*time.Millisecond, 200*time.Millisecond, nil)
	run(t, src)
	srv.Fail(t, true)
	rec.wait(t, vault.LoginFailed, 1)
	rec.wait(t, vault.TokenExpired, 1)
	n := rec.count(vault.LoginFailed)
	rec.wait(t, vault.LoginFailed, n+1) // a login failing after the expiry
	require.True(t, src.Status().Expired, "a failed login does not make an expired token look alive")
	srv.Fail(t, false)
	eventually(t, func() bool { return !src.Status().Expired }, "a successful login clears it")
}

// A 403 on a read and on lookup-self from something in front of Vault
// (a WAF, a proxy) reports the token expired, but renewal goes on: once
// lookups answer again the status clears and the token is kept alive.
func TestSpurious403DoesNotStopRenewal(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: 3 * time.Second, MaxTTL: time.Hour})
	srv.Write(t, "secret/app", map[string]any{"key": "spurious-value-0123456789"})
	var armed atomic.Int32
	addr := front(t, srv, func(w http.ResponseWriter, r *http.Request) bool {
		if armed.Load() > 0 && (strings.HasSuffix(r.URL.Path, "/lookup-self") || strings.Contains(r.URL.Path, "/data/")) {
			armed.Add(-1)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors":["permission denied"]}`)
			return true
		}
		return false
	})
	o := tokenOptions(t, srv, tok)
	o.Address = addr
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, 50*time.Millisecond, 200*time.Millisecond, nil)
	run(t, src)
	rec.wait(t, vault.Renewed, 1)
	armed.Store(2) // one read, one lookup-self
	require.Error(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
	rec.wait(t, vault.TokenExpired, 1)
	renewed := rec.count(vault.Renewed)
	rec.wait(t, vault.Renewed, renewed+2) // revived, then renewed again by the watcher
	st := src.Status()
	require.False(t, st.Expired)
	require.NoError(t, st.Err)
	require.NoError(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
}

// A renew-self that grants no lease (a broken Vault or middlebox) does not
// turn into a login storm: each token that lives less than the minimum
// backs the next login off, doubling (jitter fixed at its ceiling here).
func TestZeroLeaseRenewalBacksLoginsOff(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	addr := front(t, srv, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/renew-self") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"auth":{"client_token":%q,"lease_duration":0,"renewable":true}}`, r.Header.Get("X-Vault-Token"))
			return true
		}
		return false
	})
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	o.Address = addr
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, 100*time.Millisecond, time.Minute, func() float64 { return 0.999 })
	start := time.Now()
	run(t, src)
	rec.wait(t, vault.LoggedIn, 4) // New's login and three more
	// The waits before logins 2, 3 and 4 are at least 0.999 of 100, 200
	// and 400ms: without the back-off they would follow at once.
	require.GreaterOrEqual(t, time.Since(start), 690*time.Millisecond)
}
