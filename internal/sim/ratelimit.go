package sim

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per API key. It is our own rather than
// x/time/rate because the answer must be computed atomically with the
// decision: "allowed, N left, full again in S seconds" from one state, so
// the X-RateLimit-* headers never contradict the status code under
// concurrency.
type limiter struct {
	rate  float64 // tokens per second
	burst float64 // bucket capacity

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// decision is the outcome of taking one token at a moment.
type decision struct {
	allowed    bool
	limit      int           // bucket capacity
	remaining  int           // whole tokens left after this request
	reset      time.Duration // until the bucket is full again
	retryAfter time.Duration // until one token is available (denied only)
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// take tries to spend one token of key's bucket at now.
func (l *limiter) take(key string, now time.Time) decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	d := decision{limit: int(l.burst)}
	if b.tokens >= 1 {
		b.tokens--
		d.allowed = true
	} else {
		d.retryAfter = l.duration(1 - b.tokens)
	}
	d.remaining = int(math.Floor(b.tokens))
	d.reset = l.duration(l.burst - b.tokens)
	return d
}

// duration is how long the bucket needs to gain n tokens.
func (l *limiter) duration(n float64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(n / l.rate * float64(time.Second))
}

func (l *limiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buckets = map[string]*bucket{}
}

// ceilSeconds rounds d up to whole seconds, as HTTP headers carry integers;
// rounding down would invite a client to come back too early.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
