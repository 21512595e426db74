package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/lookup"
)

// seenLog is a SeenRecorder that remembers what it was told.
type seenLog struct {
	mu      sync.Mutex
	clients []string
}

func (s *seenLog) TouchClient(_ context.Context, client, _ string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients = append(s.clients, client)
	return nil
}

func (s *seenLog) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Last-seen times are written while Run runs, and Run writes what is still
// queued and returns when its context ends: no goroutine outlives it.
func TestLastSeenIsWrittenByRunAndRunStops(t *testing.T) {
	t.Parallel()
	rec := &seenLog{}
	g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(t, lookup.Options{}), Seen: rec})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()

	req := httptest.NewRequest(http.MethodGet, "/v1/quota", nil)
	req.RemoteAddr = "192.0.2.1:4000"
	req.Header.Set("Authorization", "Bearer "+testToken)
	g.Handler().ServeHTTP(httptest.NewRecorder(), req)
	require.Eventually(t, func() bool { return rec.count() == 1 }, 10*time.Second, time.Millisecond)

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
