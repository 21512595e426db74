package vault_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	valid := func() vault.Options {
		return vault.Options{Address: "https://127.0.0.1:1", Auth: vault.Auth{
			Method: "approle", RoleID: secret.NewValue("role"), SecretID: secret.NewValue("hunter2-secret-id"),
		}}
	}
	cases := map[string]struct {
		mutate func(*vault.Options)
		want   string
	}{
		"http address":              {func(o *vault.Options) { o.Address = "http://127.0.0.1:8200" }, "must be https://"},
		"no address":                {func(o *vault.Options) { o.Address = "" }, "https:// URL with a host"},
		"password in URL":           {func(o *vault.Options) { o.Address = "https://u:hunter2-pw@127.0.0.1" }, "user or password"},
		"query":                     {func(o *vault.Options) { o.Address = "https://127.0.0.1/?a=b" }, "query"},
		"negative timeout":          {func(o *vault.Options) { o.Timeout = -time.Second }, "timeout"},
		"control namespace":         {func(o *vault.Options) { o.Namespace = "a\nb" }, "namespace must be printable"},
		"no method":                 {func(o *vault.Options) { o.Auth.Method = "" }, "auth method is required"},
		"unknown method":            {func(o *vault.Options) { o.Auth.Method = "ldap" }, `not "ldap"`},
		"token without token":       {func(o *vault.Options) { o.Auth = vault.Auth{Method: "token"} }, "needs a token"},
		"approle without secret id": {func(o *vault.Options) { o.Auth.SecretID = secret.Value{} }, "role_id and a secret_id"},
		"kubernetes without role":   {func(o *vault.Options) { o.Auth = vault.Auth{Method: "kubernetes"} }, "needs a role"},
		"mount escaping":            {func(o *vault.Options) { o.Auth.Mount = "../token" }, "auth mount"},
		"missing CA file":           {func(o *vault.Options) { o.CAFile = filepath.Join(t.TempDir(), "none.pem") }, "ca_file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := valid()
			tc.mutate(&o)
			_, err := vault.New(context.Background(), o)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
	t.Run("CA file without a certificate", func(t *testing.T) {
		t.Parallel()
		o := valid()
		o.CAFile = filepath.Join(t.TempDir(), "empty.pem")
		require.NoError(t, os.WriteFile(o.CAFile, []byte("not a certificate\n"), 0o600))
		_, err := vault.New(context.Background(), o)
		require.ErrorContains(t, err, "ca_file")
	})
}

// TestTLSIsVerified: a server whose certificate chains to a CA other than
// the configured one, or to no system root, is refused before any
// credential is sent.
func TestTLSIsVerified(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	for name, caFile := range map[string]string{
		"another CA":   upstreamtest.NewCA(t, "some other CA").WriteFile(t),
		"system roots": "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := tokenOptions(t, srv, tok)
			o.CAFile = caFile
			_, err := vault.New(context.Background(), o)
			var verr *tls.CertificateVerificationError
			require.ErrorAs(t, err, &verr)
			require.NotContains(t, err.Error(), tok)
		})
	}
	require.Zero(t, srv.Counts().Requests, "no request reached the server")
}

func TestNamespace(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{Namespace: "team-a"})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	srv.Write(t, "secret/app", map[string]any{"key": "namespaced-value-01234"})

	o := tokenOptions(t, srv, tok)
	o.Namespace = "team-a/"
	r := fetchOne(t, newSource(t, o), srv.Ref("app", "key"))
	require.NoError(t, r.Err)

	for _, ns := range []string{"team-b", ""} {
		o.Namespace = ns
		_, err := vault.New(context.Background(), o)
		require.ErrorContains(t, err, "HTTP 403", "namespace %q", ns)
		require.ErrorContains(t, err, "check the token and the namespace")
	}

	ao, _ := appRole(t, srv, vaulttest.TokenOptions{})
	ao.Namespace = "team-a"
	newSource(t, ao)
	ao.Namespace = "team-b"
	_, err := vault.New(context.Background(), ao)
	require.ErrorContains(t, err, "approle login at auth/approle failed: HTTP 403")
}

// TestRedirectIsNotFollowed: a redirect would carry X-Vault-Token, which
// net/http does not strip, to whatever host it names.
func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	redirector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL()+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	redirector.TLS = &tls.Config{Certificates: []tls.Certificate{srv.CA().Leaf(t, upstreamtest.LeafOptions{})}}
	redirector.StartTLS()
	t.Cleanup(redirector.Close)

	o := tokenOptions(t, srv, srv.RootToken())
	o.Address = redirector.URL
	_, err := vault.New(context.Background(), o)
	require.ErrorIs(t, err, vault.ErrRedirect)
	require.Zero(t, srv.Counts().Requests, "the token never reached the redirect's target")
}

// TestTimeoutIsHonoured: a Vault that accepts the request and never
// answers costs one Timeout, not a hung start-up.
func TestTimeoutIsHonoured(t *testing.T) {
	t.Parallel()
	ca := upstreamtest.NewCA(t, "hang CA")
	release := make(chan struct{})
	hang := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	hang.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, upstreamtest.LeafOptions{})}}
	hang.StartTLS()
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for handlers
	start := time.Now()
	_, err := vault.New(context.Background(), vault.Options{
		Address: hang.URL, CAFile: ca.WriteFile(t), Timeout: 200 * time.Millisecond,
		Auth: vault.Auth{Method: "token", Token: secret.NewValue("hvs.hang-token-0123456789")},
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), patience, "bounded by Timeout, not by the server")
}

// headerLog records what the server saw of each request.
type headerLog struct {
	mu   sync.Mutex
	seen []http.Header
}

func (h *headerLog) record(r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, r.Header.Clone())
}

func (h *headerLog) all() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]http.Header(nil), h.seen...)
}

// TestEnvironmentIsIgnored: the api package reads VAULT_* variables; none
// may change where the gateway connects, which token or namespace it
// sends, whether it verifies TLS, whether answers are wrapped, which
// headers go out, or how often it retries. Not parallel: it sets the
// process environment.
func TestEnvironmentIsIgnored(t *testing.T) {
	var headers headerLog
	srv := vaulttest.NewServer(t, vaulttest.Options{Namespace: "team-a", OnRequest: headers.record})
	elsewhere := vaulttest.NewServer(t, vaulttest.Options{})
	envToken := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour}) // live: a leak would work
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	srv.Write(t, "secret/app", map[string]any{"key": "env-test-value-0123456"})
	for k, v := range map[string]string{
		"VAULT_ADDR": elsewhere.URL(), "VAULT_AGENT_ADDR": elsewhere.URL(), "VAULT_TOKEN": envToken,
		"VAULT_NAMESPACE": "team-b", "VAULT_SKIP_VERIFY": "true", "VAULT_CACERT": srv.CAFile(t),
		"VAULT_WRAP_TTL": "5m", "VAULT_HEADERS": `{"X-From-Env":"1"}`, "VAULT_MAX_RETRIES": "5",
		"VAULT_PROXY_ADDR": "http://127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}

	o := tokenOptions(t, srv, tok)
	o.Namespace = "team-a"
	src := newSource(t, o)
	r := fetchOne(t, src, srv.Ref("app", "key"))
	require.NoError(t, r.Err)
	require.Equal(t, "env-test-value-0123456", r.Value.Reveal())

	ao, _ := appRole(t, srv, vaulttest.TokenOptions{})
	ao.Namespace = "team-a"
	asrc := newSource(t, ao)
	require.NoError(t, fetchOne(t, asrc, srv.Ref("app", "key")).Err)

	// Without a configured namespace none is sent, whatever VAULT_NAMESPACE
	// says: this server refuses any request that names one.
	plain := vaulttest.NewServer(t, vaulttest.Options{})
	plain.Write(t, "secret/app", map[string]any{"key": "no-namespace-value-0123"})
	require.NoError(t, fetchOne(t, newSource(t, tokenOptions(t, plain, plain.RootToken())), plain.Ref("app", "key")).Err)

	require.Zero(t, elsewhere.Counts().Requests, "VAULT_ADDR and VAULT_AGENT_ADDR are not used")
	for _, h := range headers.all() {
		require.NotEqual(t, envToken, h.Get("X-Vault-Token"), "VAULT_TOKEN is not sent")
		require.Equal(t, "team-a", h.Get("X-Vault-Namespace"), "VAULT_NAMESPACE is not sent")
		require.Empty(t, h.Get("X-Vault-Wrap-TTL"), "VAULT_WRAP_TTL does not wrap answers")
		require.Empty(t, h.Get("X-From-Env"), "VAULT_HEADERS are not sent")
	}

	srv.Fail(t, true)
	before := srv.Counts().Requests
	require.Error(t, fetchOne(t, src, srv.Ref("app", "key")).Err)
	require.Equal(t, 1, srv.Counts().Requests-before, "VAULT_MAX_RETRIES does not add retries")
	srv.Fail(t, false)

	// VAULT_SKIP_VERIFY and VAULT_CACERT do not make the server trusted.
	for _, caFile := range []string{upstreamtest.NewCA(t, "other").WriteFile(t), ""} {
		o.CAFile = caFile
		_, err := vault.New(context.Background(), o)
		var verr *tls.CertificateVerificationError
		require.ErrorAs(t, err, &verr, "ca_file %q", caFile)
	}

	// A malformed variable makes the api package refuse to build a client;
	// the error names the variables, never their values.
	t.Setenv("VAULT_SKIP_VERIFY", "hunter2-not-a-bool")
	o.CAFile = srv.CAFile(t)
	_, err := vault.New(context.Background(), o)
	require.ErrorContains(t, err, "VAULT_SKIP_VERIFY")
	require.NotContains(t, err.Error(), "hunter2")
}

// encodings are the forms in which a secret is still the secret.
func encodings(s string) []string {
	j, _ := json.Marshal(s)
	return []string{
		s, url.QueryEscape(s), url.PathEscape(s), strings.Trim(string(j), `"`),
		base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
		hex.EncodeToString([]byte(s)),
	}
}

func assertNoLeak(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, enc := range encodings(s) {
			require.NotContains(t, text, enc, "a secret (or an encoding of it) leaked")
		}
	}
}

// TestNoSecretInLogsOrErrors drives every path that logs or fails — login,
// renewal, re-login, failed logins, refused reads and values, bad
// credentials at start-up — and checks that no secret value, token, role
// ID or secret ID appears in the log, an error, an event or the status.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	t.Parallel()
	log, logs := logtest.JSONLogger()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	o, role := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Second, MaxTTL: 2 * time.Second})
	o.Log = log
	rec := newRecorder()
	o.OnEvent = rec.on
	src := newSource(t, o)
	vault.SetRetry(src, time.Millisecond, 10*time.Millisecond, nil)
	values := []string{"good-value-0123456789abcdef", "bad-value-with-newline-0123\n", "unused-value-0123456789"}
	srv.Write(t, "secret/app", map[string]any{"good": values[0], "bad": values[1], "other": values[2]})

	var texts []string
	note := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	for _, r := range src.Fetch(context.Background(), []secret.Ref{srv.Ref("app", "good"), srv.Ref("app", "bad"), srv.Ref("app", "absent")}) {
		note(r.Err)
		texts = append(texts, fmt.Sprintf("%+v", r))
	}
	run(t, src)
	rec.wait(t, vault.LoggedIn, 2) // a renewal and a re-login
	srv.Fail(t, true)
	rec.wait(t, vault.LoginFailed, 1)
	note(fetchOne(t, src, srv.Ref("app", "good")).Err)
	srv.Fail(t, false)
	rec.wait(t, vault.LoggedIn, 3)

	bad := o
	bad.Auth.SecretID = secret.NewValue("wrong-secret-id-0123456789")
	_, err := vault.New(context.Background(), bad)
	require.Error(t, err)
	note(err)
	_, err = vault.New(context.Background(), tokenOptions(t, srv, "hvs.not-a-live-token-0123456789"))
	require.Error(t, err)
	note(err)

	for _, e := range rec.all() {
		note(e.Err)
	}
	note(src.Status().Err)
	texts = append(texts, fmt.Sprintf("%+v %#v %+v", o, o, src.Status()), logs.String())
	all := strings.Join(texts, "\n")
	require.Contains(t, logs.String(), "vault: logged in")
	require.Contains(t, logs.String(), "vault: login failed")

	secrets := append([]string{role.RoleID, role.SecretID, "wrong-secret-id-0123456789", "hvs.not-a-live-token-0123456789"}, values...)
	secrets = append(secrets, strings.TrimSpace(values[1]))
	assertNoLeak(t, all, append(secrets, srv.Tokens()...)...)
}

// TestVaultAnswersAreNotQuoted: whatever Vault (or something in its
// place) sends back — an error body, malformed JSON — may echo a request
// or hold a secret; errors say what failed, never what was sent.
func TestVaultAnswersAreNotQuoted(t *testing.T) {
	t.Parallel()
	const echo = "echoed-secret-0123456789"
	for name, h := range map[string]http.HandlerFunc{
		"error body": func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "internal: "+echo, http.StatusInternalServerError)
		},
		"JSON errors": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"errors":["bad token %s"]}`, echo)
		},
		"malformed 200": func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "%s{", echo) },
		"errors in a 200": func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"errors":["%s"],"x":1}`, echo)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ca := upstreamtest.NewCA(t, "echo CA")
			fake := httptest.NewUnstartedServer(h)
			fake.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, upstreamtest.LeafOptions{})}}
			fake.StartTLS()
			t.Cleanup(fake.Close)
			_, err := vault.New(context.Background(), vault.Options{
				Address: fake.URL, CAFile: ca.WriteFile(t), Timeout: testTimeout,
				Auth: vault.Auth{Method: "token", Token: secret.NewValue("hvs.echo-token-0123456789")},
			})
			require.Error(t, err)
			require.NotContains(t, err.Error(), echo)
			require.NotContains(t, err.Error(), "hvs.echo-token")
		})
	}
}

// TestRunDoesNotWaitForAHungRenewal: Run returns as soon as its context
// ends, even while the watcher's renewal (which the api makes with
// context.Background) hangs, and far sooner than the request Timeout.
func TestRunDoesNotWaitForAHungRenewal(t *testing.T) {
	t.Parallel()
	inFlight, release := make(chan struct{}, 1), make(chan struct{})
	srv := vaulttest.NewServer(t, vaulttest.Options{OnRequest: func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/renew-self") {
			select {
			case inFlight <- struct{}{}:
			default:
			}
			<-release // answers only once the test is over
		}
	}})
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	o, _ := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	o.Timeout = 10 * patience
	src := newSource(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx)
	}()
	select {
	case <-inFlight:
	case <-time.After(patience):
		t.Fatal("the watcher never renewed")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("Run waited for the hung renewal")
	}
}
