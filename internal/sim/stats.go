package sim

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Stats are counters for tests and benchmarks. They cover /v1/resolve only;
// the /_sim control endpoints are not counted.
type Stats struct {
	Requests int            `json:"requests"` // every /v1/resolve request, whatever its outcome
	ByQuery  map[string]int `json:"by_query"` // requests per query parameter (non-empty only; the first MaxQueries distinct)
	// UntrackedQueries counts requests for queries beyond the first
	// MaxQueries distinct ones, which ByQuery does not hold.
	UntrackedQueries int         `json:"untracked_queries"`
	ByStatus         map[int]int `json:"by_status"`        // responses per HTTP status; resets and abandoned requests have none
	RateLimited      int         `json:"rate_limited"`     // 429s sent
	PeakConcurrency  int         `json:"peak_concurrency"` // most requests in flight at once
	PeakPerSecond    int         `json:"peak_per_second"`  // most requests accepted in any wall-clock second
	InFlight         int         `json:"in_flight"`        // requests being handled now
	Resets           int         `json:"resets"`           // connections reset by the reset fault
	// Arrivals are the arrival times of the first MaxArrivals /v1/resolve
	// requests since the last reset, in arrival order: what a test needs to
	// check a sender's pacing from the receiving end.
	Arrivals []time.Time `json:"-"`
}

// MaxQueries bounds Stats.ByQuery: a benchmark of millions of distinct
// queries must not grow the simulator without end (1.5M once took 585 MB).
const MaxQueries = 100000

// MaxArrivals bounds Stats.Arrivals, so a long-running simulator does not
// grow without end.
const MaxArrivals = 10000

// stats is the guarded live form of Stats.
type stats struct {
	mu      sync.Mutex
	s       Stats
	perSec  map[int64]int // accepted requests per Unix second, recent seconds only
	lastSec int64         // newest second seen
}

func (st *stats) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	// Keep requests already in flight: they will still call done().
	st.s = Stats{ByQuery: map[string]int{}, ByStatus: map[int]int{}, InFlight: st.s.InFlight}
	st.perSec = map[int64]int{}
}

// begin records an arriving request and returns the function that marks it
// finished.
func (st *stats) begin(query string, now time.Time) (done func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Requests++
	if len(st.s.Arrivals) < MaxArrivals {
		st.s.Arrivals = append(st.s.Arrivals, now)
	}
	if query != "" {
		if _, ok := st.s.ByQuery[query]; ok || len(st.s.ByQuery) < MaxQueries {
			st.s.ByQuery[query]++
		} else {
			st.s.UntrackedQueries++
		}
	}
	st.s.InFlight++
	st.s.PeakConcurrency = max(st.s.PeakConcurrency, st.s.InFlight)
	return func() {
		st.mu.Lock()
		st.s.InFlight--
		st.mu.Unlock()
	}
}

// accepted records a request that passed the rate limiter at now. The
// window is the calendar second of the simulator's clock, which is what a
// "never more than R per second" acceptance check measures. Counts are kept
// per second for a few seconds because concurrent requests may report their
// timestamps slightly out of order.
func (st *stats) accepted(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sec := now.Unix()
	st.perSec[sec]++
	st.s.PeakPerSecond = max(st.s.PeakPerSecond, st.perSec[sec])
	if sec > st.lastSec {
		st.lastSec = sec
		maps.DeleteFunc(st.perSec, func(k int64, _ int) bool { return k < sec-5 })
	}
}

func (st *stats) status(code int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.ByStatus[code]++
	if code == 429 {
		st.s.RateLimited++
	}
}

func (st *stats) connReset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Resets++
}

func (st *stats) snapshot() Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.s
	out.ByQuery = maps.Clone(st.s.ByQuery)
	out.ByStatus = maps.Clone(st.s.ByStatus)
	out.Arrivals = slices.Clone(st.s.Arrivals)
	return out
}
