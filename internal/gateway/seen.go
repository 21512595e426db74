package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// seenThrottle records client last-seen times in the store at most once per
// interval per client, off the request path: a durable write per request
// would make SQLite the gateway's bottleneck for a fact that needs minute
// precision at best.
type seenThrottle struct {
	rec      SeenRecorder
	interval time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	last map[string]time.Time
}

func newSeenThrottle(rec SeenRecorder, interval time.Duration, log *slog.Logger) *seenThrottle {
	return &seenThrottle{rec: rec, interval: interval, log: log, last: map[string]time.Time{}}
}

func (s *seenThrottle) touch(client, addr string, now time.Time) {
	s.mu.Lock()
	if t, ok := s.last[client]; ok && now.Sub(t) < s.interval {
		s.mu.Unlock()
		return
	}
	s.last[client] = now
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.rec.TouchClient(ctx, client, addr, now); err != nil {
		s.log.Warn("recording client last-seen", "client", client, "error", err)
	}
}
