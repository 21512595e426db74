package cache

import (
	"context"
	"sync"
	"testing"
	"time"
)

// hookTier is a map tier whose Get and Purge can be held at a point.
type hookTier struct {
	mu             sync.Mutex
	m              map[Key]Entry
	onGet, onPurge func()
}

func (t *hookTier) Get(_ context.Context, k Key) (Entry, bool, error) {
	t.mu.Lock()
	e, ok := t.m[k]
	hook := t.onGet
	t.mu.Unlock()
	if hook != nil {
		hook()
	}
	return e, ok, nil
}

func (t *hookTier) Put(_ context.Context, k Key, e Entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[k] = e
	return nil
}

func (t *hookTier) Purge(_ context.Context, _ Scope) (int, error) {
	if t.onPurge != nil {
		t.onPurge()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.m)
	clear(t.m)
	return n, nil
}

// heldBus holds Publish until released.
type heldBus struct{ publishing, release chan struct{} }

func (b heldBus) Publish(context.Context, Scope) error {
	close(b.publishing)
	<-b.release
	return nil
}
func (heldBus) Subscribe(ctx context.Context, _ func(Scope)) error { <-ctx.Done(); return nil }

// TestPurgeWinsOverARacingRefill: a read that began while a purge was
// clearing, and saw the durable entry before it went, does not put it back
// into the hot tier after the purge (found by a hostile review: the hot
// tier then served the purged answer until its TTL).
func TestPurgeWinsOverARacingRefill(t *testing.T) {
	t.Parallel()
	k := Key{Provider: "p", Indicator: "x"}
	hot := &hookTier{m: map[Key]Entry{}}
	dur := &hookTier{m: map[Key]Entry{k: {Data: []byte("old"), FetchedAt: time.Now(), FreshUntil: time.Now().Add(time.Hour),
		Expires: time.Now().Add(time.Hour)}}}
	bus := heldBus{make(chan struct{}), make(chan struct{})}
	c, err := New(Options{Hot: hot, Durable: dur, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	purging, readDone := make(chan struct{}), make(chan struct{})
	dur.onPurge = func() { close(purging); <-readDone }
	dur.mu.Lock()
	dur.onGet = func() { close(readDone); <-bus.publishing }
	dur.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Purge(context.Background(), Scope{Provider: "p"}, "test", "admin")
	}()
	<-purging
	// Begins after the purge did; reads the durable entry before the
	// durable purge removes it, and refills only once the purge is over.
	c.Get(context.Background(), k)
	close(bus.release)
	<-done
	dur.mu.Lock()
	dur.onGet = nil
	dur.mu.Unlock()
	if e, ok := c.Get(context.Background(), k); ok {
		t.Fatalf("purged entry served after the purge returned: %q", e.Data)
	}
}
