package govern_test

import (
	"context"
	"testing"
	"time"

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

// BenchmarkAcquireBulkRefused is the path a draining bulk job takes most:
// no capacity beyond the interactive reserve, refused at once (one rate
// check per key, no wait, no booking).
func BenchmarkAcquireBulkRefused(b *testing.B) {
	clock := newAutoClock(t0)
	g, err := govern.New(govern.Options{State: memory.New(memory.Options{Clock: clock}), Clock: clock, InteractiveShare: 0.2},
		[]govern.Policy{{Provider: "se", Keys: keys("k1", "k2"), Rate: govern.Limit{Rate: 1, Period: time.Hour, Burst: 10}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range 16 { // both keys' bulk share
		if _, err := g.AcquireBulk(ctx, "se", "prod"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.AcquireBulk(ctx, "se", "prod"); err == nil {
			b.Fatal("bulk took the reserve")
		}
	}
}
