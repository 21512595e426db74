package resilience

import (
	"sync"

	"github.com/intelgate/intelgate/internal/clock"
)

// budgetBuckets one-second buckets make the budget's ~10 s sliding window:
// long enough to smooth a burst, short enough that a recovered upstream
// gets its retries back quickly.
const budgetBuckets = 10

// Budget caps retries as a share of first attempts, the way Finagle's
// RetryBudget does: every first attempt deposits ratio of a retry, every
// retry withdraws one, over a sliding ~10 s window, plus a small floor of
// minPerSecond retries so a quiet service can still retry the odd failure.
//
// Why: retries per call are already bounded by MaxAttempts, but in an
// outage every call fails, so MaxAttempts 3 would triple the load on an
// upstream that is already down. With a budget, a 100% failure outage costs
// at most ratio (plus the floor) extra. Safe for concurrent use.
type Budget struct {
	ratio float64
	floor float64 // retries allowed per window regardless of traffic
	clock clock.Clock

	mu      sync.Mutex
	buckets [budgetBuckets]budgetBucket
}

type budgetBucket struct {
	second      int64 // Unix second this bucket counts; stale when outside the window
	deposits    int64
	withdrawals int64
}

// NewBudget builds a budget allowing retries of up to ratio × first
// attempts (0.1 → 10%) plus minPerSecond retries per second, over a ~10 s
// window of clk's time (nil: the system clock). Negative values count as 0.
func NewBudget(ratio, minPerSecond float64, clk clock.Clock) *Budget {
	return &Budget{
		ratio: max(ratio, 0),
		floor: max(minPerSecond, 0) * budgetBuckets,
		clock: clock.Or(clk),
	}
}

// Deposit records a first attempt: it earns ratio of a retry.
func (b *Budget) Deposit() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.current().deposits++
}

// Withdraw asks for one retry. It returns false when retries in the window
// would exceed ratio × first attempts + the floor; the caller then returns
// the last failure instead of retrying.
func (b *Budget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.current()
	var deposits, withdrawals int64
	for i := range b.buckets {
		if b.live(&b.buckets[i], cur.second) {
			deposits += b.buckets[i].deposits
			withdrawals += b.buckets[i].withdrawals
		}
	}
	if float64(withdrawals+1) > b.ratio*float64(deposits)+b.floor {
		return false
	}
	cur.withdrawals++
	return true
}

// current returns the bucket for now, clearing it if it last counted an
// older second.
func (b *Budget) current() *budgetBucket {
	sec := b.clock.Now().Unix()
	bk := &b.buckets[mod(sec, budgetBuckets)]
	if bk.second != sec {
		*bk = budgetBucket{second: sec}
	}
	return bk
}

func (b *Budget) live(bk *budgetBucket, now int64) bool {
	return bk.second <= now && now-bk.second < budgetBuckets
}

func mod(a, n int64) int64 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}
