package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// seenThrottle records client last-seen times in the store at most once per
// interval per client, on a background goroutine (run, for as long as
// Gateway.Run runs): a durable write per
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
	return &seenThrottle{rec: rec, interval: interval, log: log, last: map[string]time.Time{},
		queue: make(chan seenEvent, 256)}
}

// run writes queued touches until ctx ends, then writes what is still
// queued (bounded by the queue's size) and returns: Gateway.Run gives it
// the serving lifetime, so it leaves no goroutine behind.
func (s *seenThrottle) run(ctx context.Context) {
	for {
		select {
		case ev := <-s.queue:
			s.write(ev)
		case <-ctx.Done():
			for {
				select {
				case ev := <-s.queue:
					s.write(ev)
				default:
					return
				}
			}
		}
	}
}

func (s *seenThrottle) write(ev seenEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.rec.TouchClient(ctx, ev.client, ev.addr, ev.at); err != nil {
		s.log.Warn("recording client last-seen", "client", ev.client, "error", err)
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
