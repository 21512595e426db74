package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testToken = "igt_c2VjcmV0LXRva2VuLXRoYXQtbXVzdC1uZXZlci1sZWFr"

// fixedNow is the injected clock for tests that parse HTTP-date Retry-After.
var fixedNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// step is one scripted gateway answer.
type step struct {
	status      int
	contentType string
	header      map[string]string
	body        string
}

// script serves steps in order, one per request, and counts requests.
// A request beyond the script fails the test.
type script struct {
	t     *testing.T
	steps []step
	hits  atomic.Int32
	mu    sync.Mutex
	auth  []string // Authorization header of every request
	query []string // raw query of every request
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.hits.Add(1))
	s.mu.Lock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.query = append(s.query, r.URL.RawQuery)
	s.mu.Unlock()
	if n > len(s.steps) {
		s.t.Errorf("unexpected request %d to %s", n, r.URL)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	st := s.steps[n-1]
	if st.contentType != "" {
		w.Header().Set("Content-Type", st.contentType)
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(st.status)
	_, _ = w.Write([]byte(st.body))
}

func serve(t *testing.T, steps ...step) (*script, *httptest.Server) {
	t.Helper()
	s := &script{t: t, steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// sleepRecorder replaces real waiting: it records each wait and returns at
// once, so retry tests take no wall time.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func (r *sleepRecorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// newTestClient builds a client for baseURL with recorded sleeps, a fixed
// clock and a jitter source that always picks the top of the range, so
// waits are exact.
func newTestClient(t *testing.T, baseURL string, opts ...Option) (*Client, *sleepRecorder) {
	t.Helper()
	c, err := New(baseURL, testToken, opts...)
	require.NoError(t, err)
	rec := &sleepRecorder{}
	c.sleep = rec.sleep
	c.now = func() time.Time { return fixedNow }
	c.rand = func() float64 { return 1 } // the longest wait: just under the ceiling
	return c, rec
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func problemStep(t *testing.T, status int, name string, header map[string]string) step {
	return step{status: status, contentType: "application/problem+json", header: header, body: fixture(t, name)}
}

func okStep(t *testing.T, name string) step {
	return step{status: http.StatusOK, contentType: "application/json", header: map[string]string{"X-Request-Id": "req-ok"}, body: fixture(t, name)}
}
