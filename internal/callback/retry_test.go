package callback_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

var loopback = callback.Policy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}

// Issue 11: the callback target is down → retries with backoff, then a
// failed delivery with every attempt recorded. Jitter is half of each
// ceiling (newDeliverer), so the waits are exactly 0.5s, 1s, 2s.
func TestDeliverWithRetriesTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	clk := clocktest.New(t0)
	key, _ := newKey(t)
	d := newDeliverer(t, callback.Options{Clock: clk, Retry: callback.RetryPolicy{MaxAttempts: 4, Base: time.Second, Max: 10 * time.Second}})
	res, err := d.DeliverWithRetries(t.Context(), "https://"+addr+"/cb", loopback, key, "msg_1", body)
	require.Error(t, err)
	require.ErrorContains(t, err, "after 4 attempt(s)")
	require.False(t, res.Delivered())
	require.Len(t, res.Attempts, 4)
	wantAt := []time.Time{t0, t0.Add(500 * time.Millisecond), t0.Add(1500 * time.Millisecond), t0.Add(3500 * time.Millisecond)}
	for i, rec := range res.Attempts {
		require.Equal(t, i+1, rec.Attempt)
		require.Equal(t, wantAt[i], rec.At, "attempt %d", i+1)
		require.Equal(t, callback.ClassNetwork, rec.Class)
		require.Equal(t, callback.Retryable, rec.Outcome)
		require.Equal(t, "the connection was refused", rec.Detail)
		require.Zero(t, rec.Status)
	}
	require.Equal(t, t0.Add(3500*time.Millisecond), clk.Now(), "no wait after the last attempt")
	require.NotContains(t, err.Error(), addr)
}

// A 5xx, then a 2xx: delivered on attempt 2, with the same webhook-id
// and a timestamp signed afresh, each verifying.
func TestDeliverWithRetriesServerErrorThenDelivered(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk, Retry: callback.RetryPolicy{Base: 4 * time.Second}})
	res, err := d.DeliverWithRetries(t.Context(), rc.url("127.0.0.1", "/cb"), loopback, key, "msg_job_9", body)
	require.NoError(t, err)
	require.True(t, res.Delivered())
	require.Len(t, res.Attempts, 2)
	require.Equal(t, callback.Retryable, res.Attempts[0].Outcome)
	require.Equal(t, http.StatusBadGateway, res.Attempts[0].Status)
	require.Equal(t, callback.Delivered, res.Attempts[1].Outcome)
	require.Equal(t, 2, res.Attempts[1].Attempt)
	require.Equal(t, t0.Add(2*time.Second), res.Attempts[1].At)

	reqs := rc.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.NoError(t, r.verify)
		require.Equal(t, "msg_job_9", r.header.Get(webhooksig.HeaderID), "the receiver dedupes on it")
	}
	require.Equal(t, "1796212800", reqs[0].header.Get(webhooksig.HeaderTimestamp))
	require.Equal(t, "1796212802", reqs[1].header.Get(webhooksig.HeaderTimestamp))
	require.NotEqual(t, reqs[0].header.Get(webhooksig.HeaderSignature), reqs[1].header.Get(webhooksig.HeaderSignature))
}

// A 429's Retry-After is waited, up to MaxRetryAfter; a backoff longer
// than it wins. No jitter here (Rand 0), so the wait is exactly the
// receiver's, capped.
func TestDeliverWithRetriesHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter func(now time.Time) string
		rand       float64
		want       time.Duration
	}{
		{"seconds", http.StatusTooManyRequests, func(time.Time) string { return "30" }, 0, 30 * time.Second},
		{"an HTTP-date", http.StatusTooManyRequests, func(now time.Time) string { return now.Add(45 * time.Second).Format(http.TimeFormat) }, 0, 45 * time.Second},
		{"capped", http.StatusTooManyRequests, func(time.Time) string { return "86400" }, 0, time.Minute},
		{"on a 503", http.StatusServiceUnavailable, func(time.Time) string { return "20" }, 0, 20 * time.Second},
		{"shorter than the backoff", http.StatusTooManyRequests, func(time.Time) string { return "1" }, 0.999, 4995 * time.Millisecond},
		{"malformed: the backoff", http.StatusTooManyRequests, func(time.Time) string { return "soon" }, 0.5, 2500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clocktest.New(t0)
			key, _ := newKey(t)
			rc := newReceiver(t, verifier(key, clk), func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.retryAfter(clk.Now()))
					w.WriteHeader(tc.status)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk, Rand: func() float64 { return tc.rand },
				Retry: callback.RetryPolicy{Base: 5 * time.Second, MaxRetryAfter: time.Minute}})
			res, err := d.DeliverWithRetries(t.Context(), rc.url("127.0.0.1", "/"), loopback, key, "msg_1", body)
			require.NoError(t, err)
			require.Len(t, res.Attempts, 2)
			require.Equal(t, tc.status, res.Attempts[0].Status)
			require.Equal(t, tc.want, res.Attempts[1].At.Sub(res.Attempts[0].At))
			require.NoError(t, rc.requests()[1].verify, "re-signed after the wait")
		})
	}
}

// A permanent failure is not retried.
func TestDeliverWithRetriesStopsOnPermanent(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	key, _ := newKey(t)
	rc := newReceiver(t, verifier(key, clk), status(http.StatusGone))
	d := newDeliverer(t, callback.Options{RootCAs: rc.pool, Clock: clk})
	res, err := d.DeliverWithRetries(t.Context(), rc.url("127.0.0.1", "/"), loopback, key, "msg_1", body)
	require.ErrorContains(t, err, "after 1 attempt(s)")
	require.Len(t, res.Attempts, 1)
	require.Equal(t, callback.Permanent, res.Attempts[0].Outcome)
	require.Len(t, rc.requests(), 1)
	require.Equal(t, t0, clk.Now())
}
