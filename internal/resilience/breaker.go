package resilience

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Breaker defaults, the same as the config package's, so a zero
// BreakerSettings is a sensible breaker rather than one that never trips.
const (
	DefaultFailureRatio     = 0.5
	DefaultMinRequests      = 20
	DefaultWindow           = 60 * time.Second
	DefaultOpenFor          = 30 * time.Second
	DefaultHalfOpenRequests = 1
)

// windowBuckets is how many buckets the rolling window has: old outcomes
// leave the window a tenth of it at a time rather than all at once, so the
// breaker never forgets an outage at a window boundary.
const windowBuckets = 10

// Breaker states as State reports them (and OnStateChange receives them).
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// ErrOpen is matched (errors.Is) by the error Allow returns when the breaker
// refuses a call. The concrete error is an *OpenError.
var ErrOpen = errors.New("circuit breaker is open")

// OpenError is why a call was refused and when to try again.
type OpenError struct {
	Name string // the breaker (provider) name
	// HalfOpen is true when the breaker is probing and all probe slots are
	// taken, rather than fully open.
	HalfOpen bool
	// RetryAfter is how long until the breaker lets a probe through: the
	// rest of OpenFor when open, and one second when half-open (a probe's
	// outcome is due within about a request's time). Never negative.
	RetryAfter time.Duration
}

func (e *OpenError) Error() string {
	if e.HalfOpen {
		return fmt.Sprintf("circuit breaker %q is half-open and probing; retry in %s", e.Name, e.RetryAfter)
	}
	return fmt.Sprintf("circuit breaker %q is open; retry in %s", e.Name, e.RetryAfter)
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// BreakerSettings configure a Breaker. Zero or negative fields take the
// Default… values.
type BreakerSettings struct {
	// FailureRatio trips the breaker when failures ÷ completed calls in the
	// window reach it (and MinRequests calls completed). In (0, 1].
	FailureRatio float64
	// MinRequests is how many calls must complete in the window before the
	// ratio counts: two failures out of three say little.
	MinRequests int
	// Window is the rolling window outcomes are counted over.
	Window time.Duration
	// OpenFor is how long the breaker stays open before probing.
	OpenFor time.Duration
	// HalfOpenRequests is how many probes the breaker lets through while
	// half-open (gobreaker counts them per half-open period, so it bounds
	// concurrency too); that many successes close the breaker, one failure
	// reopens it, and an Ignored probe gives its slot back.
	HalfOpenRequests int
	// OnStateChange, when set, is called on every transition with the
	// State… names, for logging and metrics. It runs while the breaker's
	// state is locked: keep it quick and do not call the Breaker from it.
	OnStateChange func(from, to string)
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if !(s.FailureRatio > 0) || s.FailureRatio > 1 {
		s.FailureRatio = DefaultFailureRatio
	}
	if s.MinRequests <= 0 {
		s.MinRequests = DefaultMinRequests
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.OpenFor <= 0 {
		s.OpenFor = DefaultOpenFor
	}
	if s.HalfOpenRequests <= 0 {
		s.HalfOpenRequests = DefaultHalfOpenRequests
	}
	return s
}

// Breaker is a circuit breaker for one provider, built on gobreaker's
// two-step breaker: Allow before an attempt, report its outcome after, so
// every retry attempt counts on its own. It is in-process on purpose:
// gobreaker's distributed breaker serialises calls under a cluster lock,
// which is the wrong price on the request path; each replica judges the
// upstream from its own traffic. Safe for concurrent use.
type Breaker struct {
	name string
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
	// openFor, with openedAt, gives RetryAfter. gobreaker reads time.Now
	// itself and takes no clock, so this uses the wall clock too.
	openFor time.Duration

	mu       sync.Mutex
	openedAt time.Time // when the breaker last opened
}

// NewBreaker builds the breaker for the provider called name.
func NewBreaker(name string, s BreakerSettings) *Breaker {
	s = s.withDefaults()
	b := &Breaker{name: name, openFor: s.OpenFor}
	bucket := s.Window / windowBuckets
	ratio, minRequests := s.FailureRatio, uint32(min(s.MinRequests, int(^uint32(0)>>1)))
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  uint32(min(s.HalfOpenRequests, int(^uint32(0)>>1))),
		Interval:     s.Window,
		BucketPeriod: bucket, // ≤ 0 (a tiny window) falls back to a fixed window
		Timeout:      s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			// Requests also counts calls still in flight; judge only
			// those that finished.
			done := c.TotalSuccesses + c.TotalFailures
			return done >= minRequests && float64(c.TotalFailures) >= ratio*float64(done)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errIgnored) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.mu.Lock()
				b.openedAt = time.Now()
				b.mu.Unlock()
			}
			if s.OnStateChange != nil {
				s.OnStateChange(stateName(from), stateName(to))
			}
		},
	})
	return b
}

// Name returns the breaker's (provider's) name.
func (b *Breaker) Name() string { return b.name }

// State returns StateClosed, StateOpen or StateHalfOpen. Reading it may
// itself move an open breaker whose OpenFor has passed to half-open.
func (b *Breaker) State() string { return stateName(b.cb.State()) }

// AllowOutcome asks whether an attempt may go upstream. On success it
// returns done, which must be called exactly once with the attempt's
// outcome (later calls are ignored); otherwise an *OpenError matching
// ErrOpen. The outcome is three-way (see OutcomeOf), so a caller that went
// away or a request that never reached the upstream neither trips the
// breaker nor holds a half-open probe slot.
func (b *Breaker) AllowOutcome() (done func(Outcome), err error) {
	report, err := b.cb.Allow()
	if err != nil {
		return nil, b.openError(err)
	}
	var once sync.Once
	return func(o Outcome) {
		once.Do(func() { report(o.asError()) })
	}, nil
}

func (b *Breaker) openError(err error) error {
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		return &OpenError{Name: b.name, HalfOpen: true, RetryAfter: time.Second}
	}
	b.mu.Lock()
	wait := b.openedAt.Add(b.openFor).Sub(time.Now())
	b.mu.Unlock()
	return &OpenError{Name: b.name, RetryAfter: min(max(wait, 0), b.openFor)}
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	default:
		return StateClosed
	}
}
