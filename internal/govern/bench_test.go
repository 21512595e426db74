package govern_test

import (
	"context"
	"testing"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
)

// BenchmarkAcquireRefund is the hot path: a lease on the first of two keys,
// given back. Run with -benchmem to see what a pool swap costs per call
// (nothing: the pool is one atomic load).
func BenchmarkAcquireRefund(b *testing.B) {
	clock := newAutoClock(t0)
	g, err := govern.New(govern.Options{State: memory.New(memory.Options{Clock: clock}), Clock: clock},
		[]govern.Policy{{Provider: "se", Keys: keys("k1", "k2"), Day: 1 << 40}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l, err := g.Acquire(ctx, "se", "prod")
		if err != nil {
			b.Fatal(err)
		}
		g.Refund(ctx, l)
	}
}
