package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is what a closed-loop load run observed from the client side.
type outcome struct {
	elapsed   time.Duration
	latencies []time.Duration // one per request, in completion order
	statuses  map[int]int     // HTTP status per request; 0: transport error
}

// runLoad sends n requests from `workers` concurrent clients, each taking
// the next index as soon as its previous request is answered (a closed
// loop, like applications waiting on their lookups). do(i) sends request i.
func runLoad(ctx context.Context, workers, n int, do func(ctx context.Context, i int) error) outcome {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		wg    sync.WaitGroup
		lat   = make([]time.Duration, 0, n)
		codes = map[int]int{}
	)
	start := time.Now()
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := do(ctx, i)
				d := time.Since(t0)
				code := 200
				if err != nil {
					code = statusOf(err)
				}
				mu.Lock()
				lat = append(lat, d)
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return outcome{elapsed: time.Since(start), latencies: lat, statuses: codes}
}

// failed counts requests that did not end in 200.
func (o outcome) failed() int {
	n := 0
	for code, c := range o.statuses {
		if code != 200 {
			n += c
		}
	}
	return n
}

// percentile is the nearest-rank percentile p (0 < p ≤ 100) of ds; it does
// not modify ds. Nearest rank, not interpolation: every reported latency is
// one a real request had.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// ms is d in milliseconds, the unit the benchmark metrics use.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// wait blocks for d, or until ctx ends (then it reports false).
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
