package alert_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// testSecret is a whsec_ secret of 32 random-looking bytes.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="

// tlsServer is a loopback HTTPS server with a certificate from a test CA,
// and the pool that trusts it.
func tlsServer(t *testing.T, h http.Handler) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	ca := upstreamtest.NewCA(t, "alert test CA")
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, upstreamtest.LeafOptions{})}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return srv, pool
}

type received struct {
	header http.Header
	body   []byte
}

func capture(ch chan received, status *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{header: r.Header.Clone(), body: b}
		if status != nil && status.Load() != 0 {
			w.WriteHeader(int(status.Load()))
		}
	})
}

func sampleNotification() alert.Notification {
	return alert.Notification{ID: "msg_0123456789abcdef", Event: alert.EventFired, At: t0, Alert: alert.Alert{
		ID: "alr_0123", Rule: alert.RuleKeyRejected, Severity: alert.Critical, DedupeKey: "provider=socialeye,key_id=prod-1",
		Labels:  map[string]string{"provider": "socialeye", "key_id": "prod-1"},
		Summary: "provider socialeye rejected key prod-1: <it is revoked> & more", FirstSeen: t0, LastSeen: t0, Count: 1,
		State: alert.StateOpen}}
}

// The webhook's signature verifies with webhooksig, and, recomputed the
// way the Standard Webhooks specification describes it, byte for byte:
// base64(HMAC-SHA256(secret, id "." timestamp "." body)).
func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	got := make(chan received, 1)
	srv, pool := tlsServer(t, capture(got, nil))
	clk := clocktest.New(t0)
	sink, err := alert.NewWebhookSink(alert.WebhookOptions{URL: srv.URL + "/hook", Secret: alert.StaticSecret(secret.NewValue(testSecret)),
		RootCAs: pool, Clock: clk})
	require.NoError(t, err)
	defer sink.Close()
	n := sampleNotification()
	require.NoError(t, sink.Send(context.Background(), n))
	r := <-got

	key, err := webhooksig.ParseKey(testSecret)
	require.NoError(t, err)
	id, err := webhooksig.Verifier{Keys: []webhooksig.Key{key}, Clock: clk}.Verify(r.body, r.header)
	require.NoError(t, err)
	require.Equal(t, n.ID, id)

	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, raw)
	ts := r.header.Get("webhook-timestamp")
	require.Equal(t, strconv.FormatInt(t0.Unix(), 10), ts)
	mac.Write([]byte(r.header.Get("webhook-id") + "." + ts + "." + string(r.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	require.Contains(t, strings.Fields(r.header.Get("webhook-signature")), want)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))

	var p struct {
		Type      string             `json:"type"`
		Timestamp time.Time          `json:"timestamp"`
		Data      alert.Notification `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Equal(t, "alert.fired", p.Type)
	require.True(t, p.Timestamp.Equal(t0))
	require.Equal(t, n.Alert.ID, p.Data.Alert.ID)
	require.Equal(t, n.Alert.Labels, p.Data.Alert.Labels)

	// Tampering with the body breaks it.
	_, err = webhooksig.Verifier{Keys: []webhooksig.Key{key}, Clock: clk}.Verify(append(r.body, ' '), r.header)
	require.ErrorIs(t, err, webhooksig.ErrSignature)
}

func TestWebhookURLPolicy(t *testing.T) {
	t.Parallel()
	sec := alert.StaticSecret(secret.NewValue(testSecret))
	for url, allowHTTP := range map[string]bool{
		"http://alerts.example.com/hook": true, // plaintext beyond loopback, even with allow_http
		"http://127.0.0.1:9/hook":        false,
		"https://u:p@alerts.example.com": false,
		"ftp://alerts.example.com":       true,
		// A name is not an address: localhost resolves wherever
		// /etc/hosts or the resolver say.
		"http://localhost:9/hook":           true,
		"http://LocalHost:9/hook":           true,
		"http://localhost.:9/hook":          true,
		"http://127.0.0.1.example.com/hook": true,
		"http://127.1:9/hook":               true, // not a literal address Go parses: a name
		"http://[fe80::1%25lo]:9/hook":      true,
	} {
		_, err := alert.NewWebhookSink(alert.WebhookOptions{URL: url, Secret: sec, AllowHTTP: allowHTTP})
		require.Error(t, err, url)
		require.NotContains(t, err.Error(), "u:p", "an error never quotes the URL")
	}
	for _, url := range []string{"http://127.0.0.1:9/hook", "http://127.8.9.10/hook", "http://[::1]:9/hook", "http://[::ffff:127.0.0.1]:9/hook"} {
		sink, err := alert.NewWebhookSink(alert.WebhookOptions{URL: url, Secret: sec, AllowHTTP: true})
		require.NoError(t, err, "a literal loopback address is the plaintext exception: %s", url)
		sink.Close()
	}

	// http:// to loopback with allow_http works.
	got := make(chan received, 1)
	srv := httptest.NewServer(capture(got, nil))
	defer srv.Close()
	sink, err := alert.NewWebhookSink(alert.WebhookOptions{URL: srv.URL, Secret: sec, AllowHTTP: true})
	require.NoError(t, err)
	defer sink.Close()
	require.NoError(t, sink.Send(context.Background(), sampleNotification()))
	<-got

	// A weak secret is refused at delivery, for good.
	weak, err := alert.NewWebhookSink(alert.WebhookOptions{URL: srv.URL, Secret: alert.StaticSecret(secret.NewValue("whsec_c2hvcnQ=")), AllowHTTP: true})
	require.NoError(t, err)
	defer weak.Close()
	err = weak.Send(context.Background(), sampleNotification())
	require.ErrorIs(t, err, webhooksig.ErrWeakSecret)
}

// A receiver's 5xx is retried (with backoff on the injected clock); a
// 4xx is final; either way the outcome is counted.
func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(503)
	got := make(chan received, 100)
	srv, pool := tlsServer(t, capture(got, &status))
	sink, err := alert.NewWebhookSink(alert.WebhookOptions{URL: srv.URL, Secret: alert.StaticSecret(secret.NewValue(testSecret)), RootCAs: pool})
	require.NoError(t, err)
	defer sink.Close()

	h := newHarness(t, func(o *alert.Options) {
		o.Sinks = []alert.SinkSpec{{Name: "hook", Sink: sink, MaxAttempts: 3, MinSeverity: alert.Critical}}
		o.Rules.EvaluateEvery = time.Hour
	})
	runEngine(t, h.e)
	revoke(h, "prod-1")
	ids := map[string]bool{}
	for range 3 {
		ids[(<-got).header.Get("webhook-id")] = true
	}
	require.Len(t, ids, 1, "every retry is the same message, for the receiver's dedupe")
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["hook/dropped"] }) == 1 })
	require.Equal(t, 3, h.meter.get(func(m *meter) int { return m.notified["hook/failed"] }))
	require.Contains(t, h.logs.String(), "the receiver answered 503")

	status.Store(400)
	h.clock.Advance(time.Hour)
	revoke(h, "prod-2")
	<-got
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["hook/dropped"] }) == 2 })
	require.Equal(t, 4, h.meter.get(func(m *meter) int { return m.notified["hook/failed"] }), "a 400 is not retried")

	status.Store(204)
	h.e.Observe(context.Background(), keyRevoked("vt", "k1"))
	<-got
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["hook/sent"] }) == 1 })
}

// waitFor polls cond until it holds, with a deadline: for outcomes a
// sink's goroutine reports.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached before the deadline")
		}
		<-tick.C
	}
}

func keyRevoked(provider, key string) observe.KeyRevoked {
	return observe.KeyRevoked{Provider: provider, KeyID: key}
}
