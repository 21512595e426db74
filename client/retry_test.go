package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	ra := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	tests := []struct {
		name      string
		opts      []Option
		first     func(t *testing.T) step
		wantWaits []time.Duration
	}{
		{
			name:      "429 with seconds",
			first:     func(t *testing.T) step { return problemStep(t, 429, "problem_429.json", ra("7")) },
			wantWaits: []time.Duration{7 * time.Second},
		},
		{
			name: "503 with HTTP-date",
			first: func(*testing.T) step {
				return step{status: 503, header: ra(fixedNow.Add(20 * time.Second).Format(http.TimeFormat))}
			},
			wantWaits: []time.Duration{20 * time.Second},
		},
		{
			name:      "huge Retry-After capped at the default MaxWait",
			first:     func(t *testing.T) step { return problemStep(t, 429, "problem_429.json", ra("999999999")) },
			wantWaits: []time.Duration{DefaultMaxWait},
		},
		{
			name:      "Retry-After capped at WithMaxWait",
			opts:      []Option{WithMaxWait(3 * time.Second)},
			first:     func(t *testing.T) step { return problemStep(t, 429, "problem_429.json", ra("60")) },
			wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name:      "unparsable Retry-After falls back to backoff",
			opts:      []Option{WithBackoff(100*time.Millisecond, time.Second)},
			first:     func(*testing.T) step { return step{status: 503, header: ra("soon")} },
			wantWaits: []time.Duration{100*time.Millisecond - 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, srv := serve(t, tt.first(t), okStep(t, "lookup_mixed.json"))
			c, rec := newTestClient(t, srv.URL, tt.opts...)
			res, err := c.Lookup(context.Background(), "8.8.8.8", nil)
			require.NoError(t, err)
			require.Len(t, res.Results, 3)
			require.EqualValues(t, 2, s.hits.Load())
			require.Equal(t, tt.wantWaits, rec.recorded())
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	ra := map[string]string{"Retry-After": "999999"}
	s, srv := serve(t,
		problemStep(t, 429, "problem_429.json", ra),
		problemStep(t, 429, "problem_429.json", ra),
	)
	c, rec := newTestClient(t, srv.URL, WithMaxAttempts(2))
	_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
	require.True(t, IsRateLimited(err))
	e, _ := AsError(err)
	require.Equal(t, 999999*time.Second, e.RetryAfter, "the error reports the server's uncapped wish")
	require.Equal(t, "req-429", e.RequestID)
	require.EqualValues(t, 2, s.hits.Load())
	require.Len(t, rec.recorded(), 1)
}

func TestWaitPastDeadlineReturnsAtOnce(t *testing.T) {
	t.Parallel()
	s, srv := serve(t, problemStep(t, 429, "problem_429.json", map[string]string{"Retry-After": "10"}))
	c, rec := newTestClient(t, srv.URL)
	c.now = time.Now // the deadline below is on the real clock

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.Lookup(ctx, "8.8.8.8", nil)
	require.ErrorContains(t, err, "would pass the context deadline")
	require.True(t, IsRateLimited(err), "the caller still sees the *Error")
	require.Empty(t, rec.recorded(), "must not start waiting")
	require.EqualValues(t, 1, s.hits.Load())
	require.NoError(t, ctx.Err(), "returned before the deadline")
}

func TestCancelDuringWaitKeepsBothErrors(t *testing.T) {
	t.Parallel()
	_, srv := serve(t, problemStep(t, 429, "problem_429.json", map[string]string{"Retry-After": "1"}))
	c, _ := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }

	_, err := c.Lookup(ctx, "8.8.8.8", nil)
	require.True(t, IsRateLimited(err))
	require.ErrorIs(t, err, context.Canceled)
}

func TestNoRetryOnOtherStatuses(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 405, 413, 500, 502, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			s, srv := serve(t, step{status: status, header: map[string]string{"Retry-After": "1"}}, okStep(t, "lookup_mixed.json"))
			c, rec := newTestClient(t, srv.URL)
			_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
			e, ok := AsError(err)
			require.True(t, ok)
			require.Equal(t, status, e.Status)
			require.EqualValues(t, 1, s.hits.Load())
			require.Empty(t, rec.recorded())
		})
	}
}

func TestBackoffIsExponentialWithBoundedJitter(t *testing.T) {
	t.Parallel()
	c, err := New("https://intelgate.example.com", testToken, WithBackoff(100*time.Millisecond, time.Second), WithMaxWait(700*time.Millisecond))
	require.NoError(t, err)
	ceilings := []time.Duration{100, 200, 400, 700, 700, 700}
	for i := range ceilings {
		ceilings[i] *= time.Millisecond
	}
	for n, ceiling := range ceilings {
		seen := map[time.Duration]bool{}
		for range 500 {
			w := c.backoff(n + 1)
			require.GreaterOrEqual(t, w, time.Duration(0))
			require.Less(t, w, ceiling, "retry %d", n+1)
			seen[w] = true
		}
		require.Greater(t, len(seen), 100, "retry %d: waits must be spread, not fixed", n+1)
	}
	// Large attempt numbers must not overflow into negative waits.
	require.GreaterOrEqual(t, c.backoff(200), time.Duration(0))
}

func TestBackoffUsedWithoutRetryAfter(t *testing.T) {
	t.Parallel()
	s, srv := serve(t, step{status: 503}, step{status: 429}, okStep(t, "lookup_mixed.json"))
	c, rec := newTestClient(t, srv.URL, WithBackoff(100*time.Millisecond, time.Second))
	_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, s.hits.Load())
	require.Equal(t, []time.Duration{100*time.Millisecond - 1, 200*time.Millisecond - 1}, rec.recorded())
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c, rec := newTestClient(t, "http://"+addr)
	_, err = c.Lookup(context.Background(), "8.8.8.8", nil)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.Len(t, rec.recorded(), DefaultMaxAttempts-1)
	require.NotContains(t, err.Error(), testToken)
}

// net/http quotes the whole request URL in a transport error; the query
// holds the indicator, so the SDK's errors name only scheme://host/path and
// keep the cause for errors.Is/As.
func TestTransportErrorsOmitTheQuery(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c, _ := newTestClient(t, "http://"+addr)
	const indicator = "secret-host.corp.example"
	_, lookupErr := c.Lookup(context.Background(), indicator, &LookupOptions{Type: "domain", Providers: []string{"socialeye"}})
	_, resolveErr := c.Resolve(context.Background(), indicator, "domain")
	for path, err := range map[string]error{"/v1/lookup": lookupErr, "/v1/resolve": resolveErr} {
		require.ErrorIs(t, err, syscall.ECONNREFUSED, path)
		var ue *url.Error
		require.ErrorAs(t, err, &ue, path)
		require.Equal(t, "http://"+addr+path, ue.URL)
		msg := err.Error()
		require.Contains(t, msg, `"http://`+addr+path+`"`)
		for _, leak := range []string{indicator, "secret-host", "?", "indicator=", "query=", "socialeye"} {
			require.NotContains(t, msg, leak, path)
		}
	}
}

func TestWithoutQuery(t *testing.T) {
	t.Parallel()
	requested, err := url.Parse("https://gw.example:8443/v1/lookup?indicator=1.2.3.4#x")
	require.NoError(t, err)
	plain := errors.New("not a url.Error")
	require.Equal(t, plain, withoutQuery(plain, requested))
	got := withoutQuery(&url.Error{Op: "Get", URL: requested.String(), Err: io.EOF}, requested)
	require.EqualError(t, got, `Get "https://gw.example:8443/v1/lookup": EOF`)
	require.ErrorIs(t, got, io.EOF)

	// After a same-origin redirect net/http names the redirect's target,
	// whose path may hold the indicator: the requested URL is reported.
	got = withoutQuery(&url.Error{Op: "Get", URL: "https://gw.example:8443/echo/1.2.3.4", Err: io.EOF}, requested)
	require.EqualError(t, got, `Get "https://gw.example:8443/v1/lookup": EOF`)

	// An unparseable Location is quoted by net/http in the cause.
	got = withoutQuery(&url.Error{Op: "Get", URL: requested.String(),
		Err: errors.New(`failed to parse Location header "http://[::1%zz/?indicator=1.2.3.4": invalid URL escape`)}, requested)
	require.NotContains(t, got.Error(), "1.2.3.4")
	require.Contains(t, got.Error(), "unusable redirect")
}

// resetListener resets the first n connections after reading the request
// head, as a crashing or overloaded server would, and passes later ones on.
type resetListener struct {
	net.Listener
	remaining atomic.Int32
}

func (l *resetListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.remaining.Add(-1) < 0 {
			return conn, nil
		}
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
		_ = conn.Close()
	}
}

func TestConnectionResetIsRetried(t *testing.T) {
	t.Parallel()
	s := &script{t: t, steps: []step{okStep(t, "lookup_mixed.json")}}
	srv := httptest.NewUnstartedServer(s)
	rl := &resetListener{Listener: srv.Listener}
	rl.remaining.Store(1)
	srv.Listener = rl
	srv.Start()
	t.Cleanup(srv.Close)

	c, rec := newTestClient(t, srv.URL)
	res, err := c.Lookup(context.Background(), "8.8.8.8", nil)
	require.NoError(t, err)
	require.Len(t, res.Results, 3)
	require.Len(t, rec.recorded(), 1)
	require.EqualValues(t, 1, s.hits.Load())
}

func TestTransientClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{&net.DNSError{Err: "server misbehaving", IsTemporary: true}, true},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{errors.New("x509: certificate signed by unknown authority"), false},
		{context.DeadlineExceeded, false},
		{errCrossOriginRedirect, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, transient(tt.err), "%v", tt.err)
	}
}
