package resilience

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
)

func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, time.November, 27, 9, 0, 0, 0, time.UTC))
}

// TestBudgetOutage: every call fails and wants MaxAttempts-1 = 2 retries;
// over 100 s at 20 calls/s the budget lets through no more than 10% of the
// first attempts plus the floor — instead of the 200% MaxAttempts alone
// would add — and not much less either.
func TestBudgetOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		ratio, floor float64
		perSecond    int
	}{
		{"10% with floor", 0.1, 0.5, 20},
		{"10% without floor", 0.1, 0, 20},
		{"20%", 0.2, 0, 50},
		{"quiet traffic", 0.1, 0.2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			b := NewBudget(tc.ratio, tc.floor, clock)
			const seconds = 100
			step := time.Second / time.Duration(tc.perSecond)
			first, retries := 0, 0
			for range seconds * tc.perSecond {
				b.Deposit()
				first++
				for range 2 { // MaxAttempts 3: up to two retries
					if b.Withdraw() {
						retries++
					}
				}
				clock.Advance(step)
			}
			// The window is 10 s; the floor holds per window, and the
			// first window may be spent before it fills.
			limit := tc.ratio*float64(first) + tc.floor*(seconds+budgetBuckets)
			require.LessOrEqual(t, float64(retries), limit, "retries %d for %d calls", retries, first)
			require.GreaterOrEqual(t, float64(retries), 0.9*tc.ratio*float64(first), "the budget is not simply refusing")
		})
	}
}

// TestBudgetFloorLetsQuietServiceRetry: with no traffic at all, the floor
// still allows minPerSecond retries per second over the window.
func TestBudgetFloorLetsQuietServiceRetry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := NewBudget(0.1, 0.1, clock) // one retry per 10 s
	require.True(t, b.Withdraw())
	require.False(t, b.Withdraw(), "floor spent for this window")
	clock.Advance(9 * time.Second)
	require.False(t, b.Withdraw(), "still inside the window")
	clock.Advance(time.Second)
	require.True(t, b.Withdraw(), "the spent retry left the window")
}

// TestBudgetWindowSlides: deposits earned before the window do not
// pay for retries now, and withdrawals age out too.
func TestBudgetWindowSlides(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := NewBudget(0.5, 0, clock)
	for range 4 {
		b.Deposit()
	}
	require.True(t, b.Withdraw())
	require.True(t, b.Withdraw())
	require.False(t, b.Withdraw(), "4 first attempts × 0.5 = 2 retries")

	clock.Advance(budgetBuckets * time.Second)
	require.False(t, b.Withdraw(), "old deposits no longer count")
	b.Deposit()
	b.Deposit()
	require.True(t, b.Withdraw(), "old withdrawals no longer count either")
}

func TestBudgetZeroAndNegative(t *testing.T) {
	t.Parallel()
	b := NewBudget(-1, -1, nil)
	for range 100 {
		b.Deposit()
	}
	require.False(t, b.Withdraw(), "no ratio, no floor: never retry")
}

func TestBudgetConcurrent(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := NewBudget(0.1, 0, clock)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 8 {
		wg.Go(func() {
			for range 125 {
				b.Deposit()
				if b.Withdraw() {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, allowed, 100)
	require.GreaterOrEqual(t, allowed, 98, "the budget keeps up with deposits")
}
