// Package observetest records what an observe.Observer hears, for tests
// that assert the steps of a lookup.
package observetest

import (
	"context"
	"sync"

	"github.com/intelgate/intelgate/internal/observe"
)

// Recorder keeps every event, in order; safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []observe.Event
}

var _ observe.Observer = (*Recorder)(nil)

// Observe records e.
func (r *Recorder) Observe(_ context.Context, e observe.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []observe.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observe.Event(nil), r.events...)
}

// Steps returns each recorded event's step name, in order.
func (r *Recorder) Steps() []string {
	var out []string
	for _, e := range r.Events() {
		out = append(out, e.Step())
	}
	return out
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = nil
}

// Of returns the recorded events of type T, in order.
func Of[T observe.Event](r *Recorder) []T {
	var out []T
	for _, e := range r.Events() {
		if t, ok := e.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
