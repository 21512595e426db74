package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/backoff"
	"github.com/intelgate/intelgate/internal/secret"
)

// Sink delivers one notification. Send must honour ctx (the engine
// bounds each attempt and its shutdown with it) and must be safe to call
// again for the same notification: a failed Send is retried.
type Sink interface {
	Send(ctx context.Context, n Notification) error
}

// SecretFunc returns a secret's current value, so a sink uses a refreshed
// secret without being rebuilt; ok is false when there is none.
type SecretFunc func() (v secret.Value, ok bool)

// StaticSecret is a SecretFunc that always returns v.
func StaticSecret(v secret.Value) SecretFunc {
	return func() (secret.Value, bool) { return v, !v.IsZero() }
}

// Permanent marks err as not worth retrying (the receiver refused the
// request as such, or the sink is misconfigured).
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// SinkSpec is a sink with its name, filters and delivery bounds.
type SinkSpec struct {
	// Name is the sink's name in the config, metrics and logs.
	Name string
	Sink Sink
	// MinSeverity and Rules filter what the sink receives (Rules empty:
	// every rule); SendResolved also sends resolutions.
	MinSeverity  Severity
	Rules        []string
	SendResolved bool
	// Queue bounds the notifications waiting (default 1000).
	Queue int
	// Timeout bounds one attempt (default 10s); MaxAttempts the attempts
	// of one notification (default 5). Retries wait a full-jitter
	// backoff from RetryBase (default 1s) doubling to RetryMax (default
	// 1m).
	Timeout     time.Duration
	MaxAttempts int
	RetryBase   time.Duration
	RetryMax    time.Duration
}

func (s SinkSpec) accepts(n Notification) bool {
	if n.Event == EventResolved && !s.SendResolved {
		return false
	}
	return n.Alert.Severity.AtLeast(s.MinSeverity) && (len(s.Rules) == 0 || slices.Contains(s.Rules, n.Alert.Rule))
}

// dropLogEvery is how often, at most, a sink's drops (and the engine's
// store failures and suppressions) are logged: every one is counted in
// the Meter at once, and in the log at this pace, with a count.
const dropLogEvery = time.Minute

// worker is one sink's queue and the goroutine that empties it.
type worker struct {
	spec  SinkSpec
	e     *Engine
	queue chan Notification

	mu          sync.Mutex
	lastDropLog time.Time
	dropsSince  int
}

func newWorker(s SinkSpec, e *Engine) (*worker, error) {
	if s.Name == "" || s.Sink == nil {
		return nil, errors.New("alert: every sink needs a Name and a Sink")
	}
	if s.MinSeverity == "" {
		s.MinSeverity = Info
	}
	if s.Queue <= 0 {
		s.Queue = 1000
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 5
	}
	if s.RetryBase <= 0 {
		s.RetryBase = time.Second
	}
	if s.RetryMax <= 0 {
		s.RetryMax = time.Minute
	}
	return &worker{spec: s, e: e, queue: make(chan Notification, s.Queue)}, nil
}

// offer queues n if the sink wants it, never waiting.
func (w *worker) offer(n Notification, now time.Time) {
	if !w.spec.accepts(n) {
		return
	}
	select {
	case w.queue <- n:
	default:
		w.dropped(now, "its queue is full (the receiver is slow or down)")
	}
}

// dropped counts one notification given up, and logs at most once per
// dropLogEvery how many went since the last line.
func (w *worker) dropped(now time.Time, why string) {
	w.e.meter.Notified(w.spec.Name, "dropped")
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropsSince++
	if now.Sub(w.lastDropLog) < dropLogEvery {
		return
	}
	w.e.log.Error("alert notifications dropped: "+why, "sink", w.spec.Name, "dropped", w.dropsSince, "queue", w.spec.Queue)
	w.lastDropLog, w.dropsSince = now, 0
}

// run delivers until the queue is closed and empty, or ctx ends (then
// what is left is dropped).
func (w *worker) run(ctx context.Context) {
	for n := range w.queue {
		if ctx.Err() != nil {
			w.dropped(w.e.clock.Now(), "the alert engine shut down before they were sent")
			continue
		}
		w.deliver(ctx, n)
	}
}

// deliver sends n, retrying failures with capped, jittered backoff.
func (w *worker) deliver(ctx context.Context, n Notification) {
	var last error
	for attempt := 1; attempt <= w.spec.MaxAttempts; attempt++ {
		if attempt > 1 {
			wait := backoff.Jitter(backoff.Ceiling(w.spec.RetryBase, w.spec.RetryMax, attempt-1), rand.Float64())
			select {
			case <-w.e.clock.After(wait):
			case <-ctx.Done():
				w.dropped(w.e.clock.Now(), "the alert engine shut down during retries")
				return
			}
		}
		actx, cancel := context.WithTimeout(ctx, w.spec.Timeout)
		last = w.spec.Sink.Send(actx, n)
		cancel()
		if last == nil {
			w.e.meter.Notified(w.spec.Name, "sent")
			return
		}
		w.e.meter.Notified(w.spec.Name, "failed")
		var p *permanentError
		if errors.As(last, &p) || ctx.Err() != nil {
			break
		}
	}
	w.dropped(w.e.clock.Now(), fmt.Sprintf("delivery failed (%s)", safeErr(last)))
}

// safeErr is an error for a log line. Sinks build their errors from
// statuses and their own words, never from a URL or a response body;
// this only bounds the length.
func safeErr(err error) string {
	if err == nil {
		return "unknown"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
