package alert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
)

// stuckSink takes a notification and holds it until released or its
// context ends: a receiver that accepts connections and never answers.
type stuckSink struct {
	entered chan struct{}
	release chan struct{}
}

func newStuckSink() *stuckSink {
	return &stuckSink{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (s *stuckSink) Send(ctx context.Context, _ alert.Notification) error {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A sink that is down never slows the inputs: its queue fills, what does
// not fit is dropped and counted, one log line says so, and the other
// sinks (the log) still get everything.
func TestDownSinkDoesNotSlowInputs(t *testing.T) {
	t.Parallel()
	stuck := newStuckSink()
	h := newHarness(t, func(o *alert.Options) {
		o.Sinks = []alert.SinkSpec{{Name: "down", Sink: stuck, Queue: 2, MaxAttempts: 1, Timeout: time.Hour}}
		o.Rules.EvaluateEvery = time.Hour
	})
	runEngine(t, h.e)
	revoke(h, "prod-1")
	<-stuck.entered // the worker holds the first notification

	// The hot path: nothing here waits for the sink, so the loop ends.
	for i := range 10 {
		h.e.AuthFailed(ipv4(i<<8), alert.AuthSourceNotAllowed, "siem") // 10 new alerts
	}
	for i := range 10_000 {
		h.e.AuthFailed(ipv4(i), alert.AuthUnknownToken, "")
		h.e.Request("soar", addr("10.0.0.5"), uint64(i), "ipv4", []string{"socialeye"})
	}
	h.evaluate()
	// Every live alert fired once (the clock stood still: no reminders).
	total := len(h.e.Live())
	require.GreaterOrEqual(t, total, 11)
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["log/sent"] }) == total })
	// 1 in flight + 2 queued; the rest were dropped.
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["down/dropped"] }) == total-3 })
	require.Equal(t, 1, strings.Count(h.logs.String(), "alert notifications dropped: its queue is full"), "logged once per interval")

	close(stuck.release)
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["down/sent"] }) == 3 })
}

// Run returns once its context ends, after a drain bounded by
// ShutdownTimeout: an in-flight delivery to a stuck sink is abandoned and
// what was queued behind it is dropped, counted.
func TestRunShutdownIsBounded(t *testing.T) {
	t.Parallel()
	stuck := newStuckSink()
	h := newHarness(t, func(o *alert.Options) {
		o.Sinks = []alert.SinkSpec{{Name: "down", Sink: stuck, Queue: 10, MaxAttempts: 1, Timeout: time.Hour}}
		o.Rules.EvaluateEvery = time.Hour
		o.ShutdownTimeout = 50 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Run(ctx) }()
	revoke(h, "prod-1")
	<-stuck.entered
	revoke(h, "prod-2")
	h.e.Observe(context.Background(), keyRevoked("vt", "k1"))
	h.evaluate()
	require.Error(t, h.e.Run(context.Background()), "one Run at a time")
	// The healthy log sink's deliveries are in before the stop: whether
	// it would also drain within the 50ms grace depends on how busy the
	// machine is, and what this test holds is the stuck sink's bound.
	waitFor(t, func() bool { return h.meter.get(func(m *meter) int { return m.notified["log/sent"] }) == 3 })
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	require.Equal(t, 3, h.meter.get(func(m *meter) int { return m.notified["down/dropped"] }))
	require.Equal(t, 3, h.meter.get(func(m *meter) int { return m.notified["log/sent"] }))

	// After Run, inputs still never block, and nothing is dispatched.
	revoke(h, "prod-1")
	h.e.AuthFailed(addr("203.0.113.1"), alert.AuthSourceNotAllowed, "siem")
	h.evaluate()
	require.Equal(t, 4, h.meter.get(func(m *meter) int { return m.notified["down/dropped"] }))
}
