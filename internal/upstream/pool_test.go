package upstream

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// MaxConnections bounds the connections open to an upstream: a call beyond
// it waits for one to be free and reuses it, rather than dialling and
// handshaking TLS anew.
func TestMaxConnectionsBoundsTheUpstreamPool(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.leaf}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := newClient(t, Options{CAFile: p.caFile, MaxConnections: 2, Timeout: 30 * time.Second})

	const calls = 3
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
			if err == nil {
				_, err = c.Do(context.Background(), req, Validation{})
			}
			errs <- err
		})
	}
	<-entered
	<-entered // two calls hold both connections; the third waits for one
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(2), conns.Load(), "the third call reused a connection instead of opening a third")
}
