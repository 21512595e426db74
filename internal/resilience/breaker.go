package resilience

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/intelgate/intelgate/internal/clock"
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
	// Clock measures OpenFor and RetryAfter; nil is the system clock.
	// gobreaker v2 takes no clock, so the rolling Window still ages on the
	// wall clock (see Breaker).
	Clock clock.Clock
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
	s.Clock = clock.Or(s.Clock)
	return s
}

// Breaker is a circuit breaker for one provider, built on gobreaker's
// two-step breaker: Allow before an attempt, report its outcome after, so
// every retry attempt counts on its own. It is in-process on purpose:
// gobreaker's distributed breaker serialises calls under a cluster lock,
// which is the wrong price on the request path; each replica judges the
// upstream from its own traffic. Safe for concurrent use.
//
// Time. gobreaker (v2.4.0) reads time.Now itself and takes no clock, so
// the open period is the Breaker's own, on BreakerSettings.Clock: gobreaker
// is told to stay open for a nanosecond only, and the Breaker keeps it shut
// — refusing calls without asking it, and reporting StateOpen — until
// OpenFor has passed on the clock. gobreaker still decides what needs no
// clock: when to trip, the generations that drop stale outcomes, and the
// half-open probe slots. What it still reads from the wall clock is its
// rolling Window: outcomes leave the window by wall time whatever the
// Clock says.
type Breaker struct {
	name     string
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	clock    clock.Clock
	openFor  time.Duration
	onChange func(from, to string)

	mu sync.Mutex
	// openUntil is when the open period ends on b.clock: before it the
	// breaker is open whatever gobreaker's own state says.
	openUntil time.Time
	// announce is set when gobreaker left the open state before openUntil
	// (a stale outcome reported during the open period makes it look at
	// its wall clock); open→half-open is then announced when the open
	// period really ends, not when gobreaker moved.
	announce bool
}

// gobreakerTimeout is gobreaker's own open period: as short as it allows,
// because the Breaker's clock, not gobreaker's, decides when probing starts.
const gobreakerTimeout = time.Nanosecond

// NewBreaker builds the breaker for the provider called name.
func NewBreaker(name string, s BreakerSettings) *Breaker {
	s = s.withDefaults()
	b := &Breaker{name: name, clock: s.Clock, openFor: s.OpenFor, onChange: s.OnStateChange}
	bucket := s.Window / windowBuckets
	ratio, minRequests := s.FailureRatio, uint32(min(s.MinRequests, int(^uint32(0)>>1)))
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  uint32(min(s.HalfOpenRequests, int(^uint32(0)>>1))),
		Interval:     s.Window,
		BucketPeriod: bucket, // ≤ 0 (a tiny window) falls back to a fixed window
		Timeout:      gobreakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			// Requests also counts calls still in flight; judge only
			// those that finished.
			done := c.TotalSuccesses + c.TotalFailures
			return done >= minRequests && float64(c.TotalFailures) >= ratio*float64(done)
		},
		IsExcluded:    func(err error) bool { return errors.Is(err, errIgnored) },
		OnStateChange: func(_ string, from, to gobreaker.State) { b.changed(from, to) },
	})
	return b
}

// changed runs under gobreaker's lock on each of its transitions.
func (b *Breaker) changed(from, to gobreaker.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case to == gobreaker.StateOpen:
		b.openUntil = b.clock.Now().Add(b.openFor)
		b.announce = false
	case from == gobreaker.StateOpen && b.gated():
		b.announce = true // said when the open period ends (opened)
		return
	}
	b.notify(stateName(from), stateName(to))
}

// gated reports whether the open period is running. Callers hold b.mu.
func (b *Breaker) gated() bool { return b.clock.Now().Before(b.openUntil) }

// opened reports whether the open period is over, announcing a transition
// gobreaker made early. While it is not, the caller must leave gobreaker
// alone: asking it would move it to half-open by its wall clock.
func (b *Breaker) opened() (over bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gated() {
		return false, min(b.openUntil.Sub(b.clock.Now()), b.openFor)
	}
	if b.announce {
		b.announce = false
		b.notify(StateOpen, StateHalfOpen)
	}
	return true, 0
}

func (b *Breaker) notify(from, to string) {
	if b.onChange != nil {
		b.onChange(from, to)
	}
}

// Name returns the breaker's (provider's) name.
func (b *Breaker) Name() string { return b.name }

// State returns StateClosed, StateOpen or StateHalfOpen. Reading it may
// itself move an open breaker whose OpenFor has passed to half-open.
func (b *Breaker) State() string {
	if over, _ := b.opened(); !over {
		return StateOpen
	}
	return stateName(b.cb.State())
}

// AllowOutcome asks whether an attempt may go upstream. On success it
// returns done, which must be called exactly once with the attempt's
// outcome (later calls are ignored); otherwise an *OpenError matching
// ErrOpen. The outcome is three-way (see OutcomeOf), so a caller that went
// away or a request that never reached the upstream neither trips the
// breaker nor holds a half-open probe slot.
func (b *Breaker) AllowOutcome() (done func(Outcome), err error) {
	if over, wait := b.opened(); !over {
		return nil, &OpenError{Name: b.name, RetryAfter: wait}
	}
	report, err := b.cb.Allow()
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, &OpenError{Name: b.name, HalfOpen: true, RetryAfter: time.Second}
	}
	if err != nil {
		// Open by gobreaker's clock within its nanosecond, or tripped
		// since opened() looked: the open period, if any, says how long.
		_, wait := b.opened()
		return nil, &OpenError{Name: b.name, RetryAfter: wait}
	}
	var once sync.Once
	return func(o Outcome) {
		once.Do(func() { report(o.asError()) })
	}, nil
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
