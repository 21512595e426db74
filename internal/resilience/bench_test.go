package resilience

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBreakerAllowOutcome is a closed breaker's share of one upstream
// attempt: the permission and the reported outcome.
func BenchmarkBreakerAllowOutcome(b *testing.B) {
	br := NewBreaker("p", BreakerSettings{})
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.AllowOutcome()
		if err != nil {
			b.Fatal(err)
		}
		done(Success)
	}
}

// BenchmarkCoalescerDo is one caller's run through the coalescer, alone
// on its key: the flight, its detached context and the goroutine.
func BenchmarkCoalescerDo(b *testing.B) {
	c := NewCoalescer[int]()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Do(ctx, "k", fn); err != nil {
			b.Fatal(err)
		}
	}
}
