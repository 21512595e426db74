package resilience

import (
	"context"
	"errors"

	"github.com/intelgate/intelgate/internal/upstream"
)

// Outcome is what one attempt tells the breaker about the upstream's health.
type Outcome int

const (
	// Success: the upstream answered coherently.
	Success Outcome = iota
	// Failure: the upstream is unreachable, slow or answering nonsense.
	Failure
	// Ignored: the attempt says nothing about the upstream (the caller went
	// away, the request never left, the upstream is only throttling). It is
	// neither counted nor holds a half-open probe slot.
	Ignored
)

var (
	errFailed  = errors.New("attempt failed")
	errIgnored = errors.New("attempt outcome ignored")
)

func (o Outcome) asError() error {
	switch o {
	case Success:
		return nil
	case Ignored:
		return errIgnored
	default:
		return errFailed
	}
}

// OutcomeOf classifies an attempt's error for the breaker.
//
// Answers that prove the upstream is up count as successes even when they
// are errors for the caller: not_found, auth (a revoked key is the key
// pool's business, not a reason to stop using the provider) and other 4xx
// rejections. A 429 is Ignored: the upstream is healthy and only throttling,
// which the governor's pause handles; opening the breaker would stop calls
// on keys that still have quota. A caller's cancellation is Ignored, but a
// caller's expired deadline is a Failure: an upstream that hangs must trip
// the breaker even when callers give up before our own timeout.
// Errors that are not *upstream.Error never reached the upstream: Ignored.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, context.Canceled) {
		return Ignored
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		if errors.Is(err, context.DeadlineExceeded) {
			return Failure
		}
		return Ignored
	}
	switch ue.Kind {
	case upstream.KindNotFound, upstream.KindAuth, upstream.KindRejected:
		return Success
	case upstream.KindRateLimited:
		return Ignored
	default: // connect, timeout, tls, upstream 5xx, too_large, content_type, malformed, schema
		return Failure
	}
}
