package callback_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

var body = []byte(`{"type":"job.completed","data":{"job":"job_1","succeeded":3,"failed":0}}`)

func TestDeliverSignsAndTheReceiverVerifies(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), status(http.StatusNoContent))
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk})

	rec, err := d.Deliver(t.Context(), rc.url("127.0.0.1", "/hooks/intelgate?tenant=7"),
		callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}, key, "msg_job_1", body)
	require.NoError(t, err)
	require.Equal(t, callback.Record{Attempt: 1, At: t0, Outcome: callback.Delivered, Class: callback.ClassDelivered,
		Status: http.StatusNoContent, Detail: "the receiver answered 204"}, rec)

	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.NoError(t, reqs[0].verify)
	require.Equal(t, body, reqs[0].body)
	require.Equal(t, "msg_job_1", reqs[0].header.Get(webhooksig.HeaderID))
	require.Equal(t, "1796212800", reqs[0].header.Get(webhooksig.HeaderTimestamp))
	require.Equal(t, "application/json", reqs[0].header.Get("Content-Type"))
	require.Equal(t, rc.url("127.0.0.1", ""), "https://"+reqs[0].host)
	require.True(t, strings.HasPrefix(reqs[0].header.Get("User-Agent"), "intelgate-callbacks/"))

	// Under another key the receiver would have refused it.
	other, _ := newKey(t)
	_, err = verifier(other, clk).Verify(reqs[0].body, reqs[0].header)
	require.ErrorIs(t, err, webhooksig.ErrSignature)
}

// The SSRF test of issue 11: callbacks to 127.0.0.1, 10.x,
// 169.254.169.254, and to a DNS name resolving there are refused, and
// nothing reaches the receiver. The names are refused by the dialer
// (PartAddress) although ValidateURL accepts them: the check that counts
// is on the address connected to.
func TestDeliverRefusesSSRFTargets(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), status(http.StatusNoContent))
	res := fakeDNS(t, map[string][]netip.Addr{
		testHost:                      {netip.MustParseAddr("127.0.0.1")},
		"v6.example.test":             {netip.MustParseAddr("::1")},
		"private.example.test":        {netip.MustParseAddr("10.0.0.1")},
		"metadata.example.test":       {netip.MustParseAddr("169.254.169.254")},
		"mapped.example.test":         {netip.MustParseAddr("::ffff:127.0.0.1")},
		"both-private.example.test":   {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("127.0.0.1")},
		"nat64-metadata.example.test": {netip.MustParseAddr("64:ff9b::a9fe:a9fe")},
	})
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk, Resolver: res})
	hosts := []string{"*.example.test", "127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0"}
	strict := callback.Policy{Hosts: hosts}

	cases := []struct {
		name   string
		policy callback.Policy
		target string
		part   string
	}{
		{"127.0.0.1", strict, rc.url("127.0.0.1", "/"), callback.PartAddress},
		{"[::1]", strict, rc.url("::1", "/"), callback.PartAddress},
		{"10.0.0.1", strict, rc.url("10.0.0.1", "/"), callback.PartAddress},
		{"169.254.169.254", strict, "https://169.254.169.254/latest/meta-data/", callback.PartAddress},
		{"::ffff:127.0.0.1", strict, rc.url("::ffff:127.0.0.1", "/"), callback.PartAddress},
		{"0.0.0.0", strict, rc.url("0.0.0.0", "/"), callback.PartAddress},
		{"a DNS name resolving to 127.0.0.1", strict, rc.url(testHost, "/"), callback.PartAddress},
		{"a DNS name resolving to ::1", strict, rc.url("v6.example.test", "/"), callback.PartAddress},
		{"a DNS name resolving to 10.0.0.1", strict, rc.url("private.example.test", "/"), callback.PartAddress},
		{"a DNS name resolving to 169.254.169.254", strict, rc.url("metadata.example.test", "/"), callback.PartAddress},
		{"a DNS name resolving to ::ffff:127.0.0.1", strict, rc.url("mapped.example.test", "/"), callback.PartAddress},
		{"a DNS name resolving to two private addresses", strict, rc.url("both-private.example.test", "/"), callback.PartAddress},
		{"a DNS name resolving to NAT64 of metadata, even with AllowPrivate", callback.Policy{Hosts: hosts, AllowPrivate: true},
			rc.url("nat64-metadata.example.test", "/"), callback.PartAddress},
		{"a DNS name resolving to metadata, even with AllowPrivate", callback.Policy{Hosts: hosts, AllowPrivate: true},
			rc.url("metadata.example.test", "/"), callback.PartAddress},
		{"a host not in callback_hosts", callback.Policy{Hosts: []string{"other.example.com"}, AllowPrivate: true},
			rc.url(testHost, "/"), callback.PartHost},
		{"http:// without AllowPlaintext", callback.Policy{Hosts: hosts, AllowPrivate: true},
			"http://" + net.JoinHostPort("127.0.0.1", rc.port) + "/", callback.PartScheme},
		{"userinfo", callback.Policy{Hosts: hosts, AllowPrivate: true},
			"https://user:hunter2@" + net.JoinHostPort("127.0.0.1", rc.port) + "/", callback.PartUserinfo},
	}
	// The group returns when all its parallel subtests have.
	t.Run("group", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				rec, err := d.Deliver(t.Context(), tc.target, tc.policy, key, "msg_ssrf", body)
				require.ErrorIs(t, err, callback.ErrRefused)
				var te *callback.TargetError
				require.ErrorAs(t, attemptErr(t, err), &te)
				require.Equal(t, tc.part, te.Part, err.Error())
				require.Equal(t, callback.ClassRefused, rec.Class)
				require.Equal(t, callback.Permanent, rec.Outcome)
				require.Zero(t, rec.Status)
				require.NotContains(t, err.Error(), "hunter2")
				if tc.part == callback.PartAddress && strings.Contains(tc.target, "example.test") {
					require.NoError(t, tc.policy.ValidateURL(tc.target), "a name passes at submit time; the dialer refuses it")
					require.NotContains(t, err.Error(), "127.0.0.1", "what a name resolved to is not the client's to learn")
				}
			})
		}
	})
	require.Empty(t, rc.requests(), "nothing reached the receiver")
}

// The control of the test above: with AllowPrivate, the same name through
// the same resolver reaches the same receiver, so the refusals are the
// guard's doing and not a broken test setup. The name is dialled fully
// qualified ("hooks.example.test.") and the certificate still verifies.
func TestDeliverToAPrivateNameWhenAllowed(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), status(http.StatusOK))
	res := fakeDNS(t, map[string][]netip.Addr{testHost: {netip.MustParseAddr("127.0.0.1")}})
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk, Resolver: res})
	target := rc.url(testHost, "/cb")

	_, err := d.Deliver(t.Context(), target, callback.Policy{Hosts: []string{testHost}}, key, "msg_1", body)
	require.ErrorIs(t, err, callback.ErrRefused)

	rec, err := d.Deliver(t.Context(), target, callback.Policy{Hosts: []string{"*.example.test"}, AllowPrivate: true}, key, "msg_1", body)
	require.NoError(t, err)
	require.Equal(t, callback.Delivered, rec.Outcome)
	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.NoError(t, reqs[0].verify)
	require.Equal(t, net.JoinHostPort(testHost, rc.port), reqs[0].host, "the Host header without the root dot")

	// And a connection the private pool opened is not reused for a
	// client without AllowPrivate.
	_, err = d.Deliver(t.Context(), target, callback.Policy{Hosts: []string{testHost}}, key, "msg_2", body)
	require.ErrorIs(t, err, callback.ErrRefused)
	require.Len(t, rc.requests(), 1)
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk})

	res, err := d.DeliverWithRetries(t.Context(), rc.url("127.0.0.1", "/cb"),
		callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}, key, "msg_1", body)
	require.Error(t, err)
	require.False(t, res.Delivered())
	require.Len(t, res.Attempts, 1, "a redirect is permanent")
	rec := res.Attempts[0]
	require.Equal(t, callback.ClassRedirect, rec.Class)
	require.Equal(t, callback.Permanent, rec.Outcome)
	require.Equal(t, http.StatusTemporaryRedirect, rec.Status)
	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, t0, clk.Now(), "no wait")
}

// Statuses and what they mean for the delivery.
func TestDeliverClassifiesStatuses(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), func(_ int, w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	})
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk})
	p := callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}
	for code, want := range map[int]callback.Outcome{
		200: callback.Delivered, 202: callback.Delivered, 204: callback.Delivered,
		301: callback.Permanent, 308: callback.Permanent,
		400: callback.Permanent, 401: callback.Permanent, 404: callback.Permanent, 410: callback.Permanent,
		408: callback.Retryable, 429: callback.Retryable,
		500: callback.Retryable, 502: callback.Retryable, 503: callback.Retryable,
	} {
		rec, err := d.Deliver(t.Context(), rc.url("127.0.0.1", "/"+strconv.Itoa(code)), p, key, "msg_1", body)
		require.Equal(t, want, rec.Outcome, code)
		require.Equal(t, code, rec.Status)
		require.Equal(t, want == callback.Delivered, err == nil, code)
	}
}

// Errors and records carry neither the signing secret nor the receiver's
// body nor the URL's secrets.
func TestDeliverNeverLeaks(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, secret := newKey(t)
	rc := newReceiver(t, verifier(key, clk), func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("stack trace: RECEIVER-BODY " + secret))
	})
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk, Retry: callback.RetryPolicy{MaxAttempts: 2}})
	res, err := d.DeliverWithRetries(t.Context(), rc.url("127.0.0.1", "/cb?token=URL-TOKEN"),
		callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}, key, "msg_1", body)
	require.Error(t, err)
	require.Len(t, res.Attempts, 2)
	texts := []string{err.Error()}
	for _, rec := range res.Attempts {
		texts = append(texts, rec.Detail, string(rec.Class))
	}
	for _, s := range texts {
		for _, bad := range []string{secret, strings.TrimPrefix(secret, "whsec_"), "RECEIVER-BODY", "URL-TOKEN", "/cb"} {
			require.NotContains(t, s, bad)
		}
	}
}

func TestDeliverTimesOut(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	release := make(chan struct{})
	rc := newReceiver(t, verifier(key, clk), func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close (cleanups run last first)
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk, Timeout: 100 * time.Millisecond})
	rec, err := d.Deliver(t.Context(), rc.url("127.0.0.1", "/"), callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}, key, "msg_1", body)
	require.Error(t, err)
	require.Equal(t, callback.ClassTimeout, rec.Class)
	require.Equal(t, callback.Retryable, rec.Outcome)
}

func TestDeliverCanceled(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), status(http.StatusOK))
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := d.DeliverWithRetries(ctx, rc.url("127.0.0.1", "/"), callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}, key, "msg_1", body)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, res.Attempts, 1)
	require.Equal(t, callback.ClassCanceled, res.Attempts[0].Class)
}

func TestDeliverRefusesWhatCannotBeSigned(t *testing.T) {
	t.Parallel()
	d := newDeliverer(t, callback.Options{Clock: clocktest.New(t0)})
	key, _ := newKey(t)
	p := callback.Policy{Hosts: []string{"hooks.example.com"}}
	rec, err := d.Deliver(t.Context(), "https://hooks.example.com/", p, webhooksig.Key{}, "msg_1", body)
	require.Error(t, err)
	require.Equal(t, callback.ClassInvalid, rec.Class)
	require.Equal(t, callback.Permanent, rec.Outcome)
	rec, err = d.Deliver(t.Context(), "https://hooks.example.com/", p, key, "msg.1", body)
	require.Error(t, err)
	require.Equal(t, callback.ClassInvalid, rec.Class)
}
