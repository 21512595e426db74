package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// seenThrottle records client last-seen times in the store at most once per
// interval per client, on a background goroutine: a durable write per
// request would make SQLite the gateway's bottleneck for a fact that needs
// minute precision at best. When the queue is full a touch is dropped; the
// next one after the interval records it.
type seenThrottle struct {
	rec      SeenRecorder
	interval time.Duration
	log      *slog.Logger
	queue    chan seenEvent

	mu   sync.Mutex
	last map[string]time.Time
}

type seenEvent struct {
	client, addr string
	at           time.Time
}

func newSeenThrottle(rec SeenRecorder, interval time.Duration, log *slog.Logger) *seenThrottle {
	s := &seenThrottle{rec: rec, interval: interval, log: log, last: map[string]time.Time{},
		queue: make(chan seenEvent, 256)}
	go s.run()
	return s
}

// run writes queued touches. It lives as long as the process: the
// Gateway has no Close, and the queue holds only small values.
func (s *seenThrottle) run() {
	for ev := range s.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.rec.TouchClient(ctx, ev.client, ev.addr, ev.at); err != nil {
			s.log.Warn("recording client last-seen", "client", ev.client, "error", err)
		}
		cancel()
	}
}

func (s *seenThrottle) touch(client, addr string, now time.Time) {
	s.mu.Lock()
	if t, ok := s.last[client]; ok && now.Sub(t) < s.interval {
		s.mu.Unlock()
		return
	}
	s.last[client] = now
	s.mu.Unlock()
	select {
	case s.queue <- seenEvent{client, addr, now}:
	default:
		s.mu.Lock()
		delete(s.last, client) // not recorded: let the next request try
		s.mu.Unlock()
	}
}
