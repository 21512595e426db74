package sim

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// delivery is what the test receiver saw of one webhook.
type delivery struct {
	id     string
	header http.Header
	body   []byte
	err    error
}

// receiver is a loopback TLS server that verifies every webhook at
// /v1/webhooks/NAME with the scheme registered under NAME, answering 202
// or 401. It records instead of asserting: its handler runs on the
// server's goroutines.
type receiver struct {
	srv     *httptest.Server
	schemes map[string]webhooksig.Scheme

	mu   sync.Mutex
	seen map[string][]delivery // by NAME
}

func newReceiver(t *testing.T, schemes map[string]webhooksig.Scheme) *receiver {
	t.Helper()
	rc := &receiver{schemes: schemes, seen: map[string][]delivery{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/webhooks/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		scheme, ok := rc.schemes[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		id, err := scheme.Verify(body, r.Header)
		rc.mu.Lock()
		rc.seen[name] = append(rc.seen[name], delivery{id: id, header: r.Header.Clone(), body: body, err: err})
		rc.mu.Unlock()
		if err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v1/webhooks/standard", http.StatusTemporaryRedirect)
	})
	rc.srv = httptest.NewTLSServer(mux)
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(rc.srv.Certificate())
	return p
}

func (rc *receiver) deliveries(name string) []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.seen[name]...)
}

type emitKeys struct {
	secret, whsk, whpk string
}

func newEmitKeys(t *testing.T) emitKeys {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return emitKeys{
		secret: "whsec_" + base64.StdEncoding.EncodeToString(b),
		whsk:   "whsk_" + base64.StdEncoding.EncodeToString(priv),
		whpk:   "whpk_" + base64.StdEncoding.EncodeToString(pub),
	}
}

// schemesFor is the receiver's side of keys: what a gateway would be
// configured with, verified on clk.
func schemesFor(t *testing.T, k emitKeys, clk *clocktest.Clock) map[string]webhooksig.Scheme {
	t.Helper()
	m := map[string]webhooksig.Scheme{}
	for name, args := range map[string]struct {
		scheme  string
		secrets []string
	}{
		"standard": {"standard", []string{k.secret}},
		"ed25519":  {"standard", []string{k.whpk}},
		"github":   {"github", []string{k.secret}},
		"stripe":   {"stripe", []string{k.secret}},
	} {
		s, err := webhooksig.NewScheme(args.scheme, args.secrets, 0, clk)
		require.NoError(t, err, name)
		m[name] = s
	}
	return m
}

func emit(t *testing.T, c *http.Client, srv *Server, req map[string]any) reply {
	t.Helper()
	b, err := json.Marshal(req)
	require.NoError(t, err)
	return postJSON(t, c, srv.URL+"/_sim/emit", string(b))
}

func requireEmitted(t *testing.T, r reply) emitResult {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var res emitResult
	require.NoError(t, json.Unmarshal(r.body, &res))
	return res
}

// Every scheme round-trips: the simulator signs, a loopback TLS receiver
// verifies with webhooksig, and the receiver's status comes back.
func TestEmitRoundTripsEveryScheme(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	keys := newEmitKeys(t)
	rc := newReceiver(t, schemesFor(t, keys, clk))
	srv, c := start(t, New(Options{
		Now: clk.Now, WebhookSecret: keys.secret, WebhookSigningKey: keys.whsk, WebhookRootCAs: rc.pool(),
	}))
	event := map[string]any{"type": "indicator.updated", "data": map[string]any{"indicator": "alice@example.com"}}

	for _, tc := range []struct {
		name, scheme, id string
	}{
		{"standard", "standard", "msg_given_1"},
		{"ed25519", "standard", ""}, // the same webhook carries v1 and v1a
		{"github", "github", ""},
		{"stripe", "stripe", "evt_given_1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{"url": rc.srv.URL + "/v1/webhooks/" + tc.name, "scheme": tc.scheme, "event": event}
			if tc.id != "" {
				req["id"] = tc.id
			}
			res := requireEmitted(t, emit(t, c, srv, req))
			require.Equal(t, http.StatusAccepted, res.Status)
			got := rc.deliveries(tc.name)
			require.Len(t, got, 1)
			require.NoError(t, got[0].err)
			if tc.scheme == "github" {
				// GitHub's delivery id is unsigned: the receiver dedupes on
				// the body, and the id the simulator reports is the header.
				require.Equal(t, res.ID, got[0].header.Get(webhooksig.HeaderGitHubDelivery))
			} else {
				require.Equal(t, res.ID, got[0].id, "the receiver dedupes on the id the simulator reports")
			}
			if tc.id != "" {
				require.Equal(t, tc.id, res.ID)
			}
			var body map[string]any
			require.NoError(t, json.Unmarshal(got[0].body, &body))
			require.Equal(t, "indicator.updated", body["type"])
			if tc.scheme == "stripe" {
				require.Equal(t, res.ID, body["id"], "a stripe event carries its id")
			}
		})
	}
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`,
		rc.deliveries("github")[0].header.Get(webhooksig.HeaderGitHubDelivery))

	// A stripe event's own id is the message id.
	res := requireEmitted(t, emit(t, c, srv, map[string]any{"url": rc.srv.URL + "/v1/webhooks/stripe", "scheme": "stripe",
		"event": map[string]any{"id": "evt_own", "type": "charge.succeeded"}}))
	require.Equal(t, "evt_own", res.ID)
	require.Equal(t, http.StatusAccepted, res.Status)

	// The receiver's refusal is reported, not hidden: a receiver holding
	// another secret answers 401.
	other := newEmitKeys(t)
	rc2 := newReceiver(t, schemesFor(t, other, clk))
	srv2, c2 := start(t, New(Options{Now: clk.Now, WebhookSecret: keys.secret, WebhookRootCAs: rc2.pool()}))
	for _, name := range []string{"standard", "github", "stripe"} {
		res := requireEmitted(t, emit(t, c2, srv2, map[string]any{"url": rc2.srv.URL + "/v1/webhooks/" + name, "scheme": name, "event": event}))
		require.Equal(t, http.StatusUnauthorized, res.Status, name)
		got := rc2.deliveries(name)
		require.Len(t, got, 1)
		require.ErrorIs(t, got[0].err, webhooksig.ErrSignature, name)
	}

	// A redirect is the receiver's answer; it is not followed.
	res = requireEmitted(t, emit(t, c2, srv2, map[string]any{"url": rc2.srv.URL + "/moved", "scheme": "standard", "event": event}))
	require.Equal(t, http.StatusTemporaryRedirect, res.Status)
	require.Empty(t, rc2.deliveries("standard")[1:], "the redirect was not followed")
}

// The simulator's clock stamps the webhook: a receiver whose clock is
// more than the tolerance away refuses it.
func TestEmitUsesTheSimulatorsClock(t *testing.T) {
	t.Parallel()
	simClock, receiverClock := newFakeClock(), newFakeClock()
	keys := newEmitKeys(t)
	rc := newReceiver(t, schemesFor(t, keys, receiverClock))
	srv, c := start(t, New(Options{Now: simClock.Now, WebhookSecret: keys.secret, WebhookRootCAs: rc.pool()}))
	simClock.Advance(-6 * time.Minute) // six minutes behind the receiver
	for _, name := range []string{"standard", "stripe"} {
		res := requireEmitted(t, emit(t, c, srv, map[string]any{"url": rc.srv.URL + "/v1/webhooks/" + name, "scheme": name, "event": map[string]any{}}))
		require.Equal(t, http.StatusUnauthorized, res.Status, name)
		require.ErrorIs(t, rc.deliveries(name)[0].err, webhooksig.ErrTimestamp, name)
	}
}

func TestEmitRefusals(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	keys := newEmitKeys(t)
	rc := newReceiver(t, schemesFor(t, keys, clk))
	srv, c := start(t, New(Options{Now: clk.Now, WebhookSecret: keys.secret, WebhookRootCAs: rc.pool()}))
	good := func(change func(map[string]any)) string {
		m := map[string]any{"url": rc.srv.URL + "/v1/webhooks/standard", "scheme": "standard", "event": map[string]any{"a": 1}}
		change(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return string(b)
	}
	port := rc.srv.URL[strings.LastIndex(rc.srv.URL, ":"):]
	for _, tc := range []struct {
		name, body, code, msg string
		status                int
	}{
		{"a public host", good(func(m map[string]any) { m["url"] = "https://example.com/v1/webhooks/x" }), "invalid_target", "loopback", 400},
		{"a private address", good(func(m map[string]any) { m["url"] = "https://10.0.0.1" + port + "/v1/webhooks/x" }), "invalid_target", "loopback", 400},
		{"the unspecified address", good(func(m map[string]any) { m["url"] = "https://0.0.0.0" + port + "/v1/webhooks/x" }), "invalid_target", "loopback", 400},
		{"localhost, a name", good(func(m map[string]any) { m["url"] = "https://localhost" + port + "/v1/webhooks/x" }), "invalid_target", "loopback", 400},
		{"another scheme", good(func(m map[string]any) { m["url"] = "ftp://127.0.0.1" + port + "/x" }), "invalid_target", "https://", 400},
		{"user info", good(func(m map[string]any) { m["url"] = "https://u:p@127.0.0.1" + port + "/x" }), "invalid_target", "user info", 400},
		{"unknown scheme", good(func(m map[string]any) { m["scheme"] = "svix" }), "invalid_emit", "standard, github, stripe", 400},
		{"event not an object", good(func(m map[string]any) { m["event"] = []int{1} }), "invalid_emit", "JSON object", 400},
		{"no event", good(func(m map[string]any) { delete(m, "event") }), "invalid_emit", "JSON object", 400},
		{"unknown field", good(func(m map[string]any) { m["secret"] = "x" }), "invalid_emit", "unknown field", 400},
		{"id with a space", good(func(m map[string]any) { m["id"] = "a b" }), "invalid_emit", "visible ASCII", 400},
		{"id with a dot (standard)", good(func(m map[string]any) { m["id"] = "a.b" }), "invalid_emit", "dots", 400},
		{"stripe ids that differ", good(func(m map[string]any) {
			m["scheme"], m["id"], m["event"] = "stripe", "evt_a", map[string]any{"id": "evt_b"}
		}), "invalid_emit", "differ", 400},
		{"trailing data", good(func(map[string]any) {}) + "{}", "invalid_emit", "trailing data", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := postJSON(t, c, srv.URL+"/_sim/emit", tc.body)
			requireAPIError(t, r, tc.status, tc.code)
			require.Contains(t, string(r.body), tc.msg)
		})
	}
	require.Empty(t, rc.deliveries("standard"), "nothing refused was sent")

	r := do(t, c, http.MethodGet, srv.URL+"/_sim/emit", "", nil)
	requireAPIError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, http.MethodPost, r.header.Get("Allow"))
}

// Without a secret there is nothing to sign with: 409, and nothing sent.
func TestEmitWithoutSecretIsConflict(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	keys := newEmitKeys(t)
	rc := newReceiver(t, schemesFor(t, keys, clk))
	body := func(scheme, name string) map[string]any {
		return map[string]any{"url": rc.srv.URL + "/v1/webhooks/" + name, "scheme": scheme, "event": map[string]any{}}
	}

	srv, c := start(t, New(Options{Now: clk.Now, WebhookRootCAs: rc.pool()}))
	for _, scheme := range webhooksig.SchemeNames() {
		r := emit(t, c, srv, body(scheme, scheme))
		requireAPIError(t, r, http.StatusConflict, "no_webhook_secret")
		require.Contains(t, string(r.body), "no webhook secret is configured")
	}

	// An ed25519 key alone signs standard webhooks only.
	srv, c = start(t, New(Options{Now: clk.Now, WebhookSigningKey: keys.whsk, WebhookRootCAs: rc.pool()}))
	require.Equal(t, http.StatusAccepted, requireEmitted(t, emit(t, c, srv, body("standard", "ed25519"))).Status)
	requireAPIError(t, emit(t, c, srv, body("github", "github")), http.StatusConflict, "no_webhook_secret")

	// An unusable secret is a conflict too, and the answer does not show it.
	const weak = "whsec_dG9vIHNob3J0"
	srv, c = start(t, New(Options{Now: clk.Now, WebhookSecret: weak, WebhookRootCAs: rc.pool()}))
	r := emit(t, c, srv, body("standard", "standard"))
	requireAPIError(t, r, http.StatusConflict, "no_webhook_secret")
	require.NotContains(t, string(r.body), "dG9vIHNob3J0")
	require.Empty(t, rc.deliveries("standard"))
	require.Empty(t, rc.deliveries("github"))
}

// The receiver's certificate must be trusted: without WebhookRootCAs the
// test receiver's self-signed certificate fails, and nothing is delivered.
func TestEmitVerifiesTheReceiversCertificate(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	keys := newEmitKeys(t)
	rc := newReceiver(t, schemesFor(t, keys, clk))
	srv, c := start(t, New(Options{Now: clk.Now, WebhookSecret: keys.secret}))
	r := emit(t, c, srv, map[string]any{"url": rc.srv.URL + "/v1/webhooks/standard", "scheme": "standard", "event": map[string]any{}})
	requireAPIError(t, r, http.StatusBadGateway, "delivery_failed")
	require.Contains(t, string(r.body), "certificate")
	require.Empty(t, rc.deliveries("standard"))
}

func TestOptionsValidateNamesWebhookFields(t *testing.T) {
	t.Parallel()
	keys := newEmitKeys(t)
	require.NoError(t, Options{WebhookSecret: keys.secret, WebhookSigningKey: keys.whsk}.Validate())
	err := Options{WebhookSecret: "whsec_dG9vIHNob3J0", WebhookSigningKey: keys.whpk}.Validate()
	require.ErrorIs(t, err, webhooksig.ErrWeakSecret)
	require.ErrorIs(t, err, webhooksig.ErrSigningKey)
	require.Contains(t, err.Error(), "WebhookSecret: ")
	require.Contains(t, err.Error(), "WebhookSigningKey: ")
	require.NotContains(t, err.Error(), "dG9vIHNob3J0")
	require.NotContains(t, err.Error(), strings.TrimPrefix(keys.whpk, "whpk_"))
	require.ErrorContains(t, Options{Faults: Faults{ErrorRate: 2}}.Validate(), "Faults: error_rate")
}
