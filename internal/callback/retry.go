package callback

import (
	"context"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/backoff"
	"github.com/intelgate/intelgate/internal/retryafter"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// Result is a delivery: every attempt made, in order.
type Result struct {
	Attempts []Record
}

// Delivered reports whether the last attempt delivered.
func (r Result) Delivered() bool {
	return len(r.Attempts) > 0 && r.Attempts[len(r.Attempts)-1].Outcome == Delivered
}

// DeliverWithRetries delivers with Options.Retry's schedule: attempts
// until one is delivered, one fails permanently, MaxAttempts are made or
// ctx ends. Every attempt carries the same webhook-id and a fresh
// timestamp and signature. Between attempts it waits, on the Clock, a
// full-jitter backoff (internal/backoff, the law every retry in intelgate
// follows), or the receiver's Retry-After when that is longer, capped at
// MaxRetryAfter: a receiver may slow us down, not park the delivery. The
// error is nil exactly when the delivery succeeded.
func (d *Deliverer) DeliverWithRetries(ctx context.Context, target string, policy Policy, key webhooksig.Key, id string, body []byte) (Result, error) {
	var res Result
	rp := d.o.Retry
	for n := 1; ; n++ {
		rec, err := d.attempt(ctx, n, target, policy, key, id, body)
		res.Attempts = append(res.Attempts, rec)
		if err == nil {
			return res, nil
		}
		if rec.Outcome != Retryable || n >= rp.MaxAttempts {
			return res, fmt.Errorf("callback not delivered after %d attempt(s): %w", n, err)
		}
		select {
		case <-d.o.Clock.After(d.wait(n, rec.RetryAfter)):
		case <-ctx.Done():
			return res, fmt.Errorf("callback delivery canceled after %d attempt(s): %w", n, context.Cause(ctx))
		}
	}
}

// wait is the pause before retry n (1 for the first).
func (d *Deliverer) wait(n int, retryAfter time.Duration) time.Duration {
	rp := d.o.Retry
	w := backoff.Jitter(backoff.Ceiling(rp.Base, rp.Max, n), d.o.Rand())
	return max(w, retryafter.Cap(retryAfter, rp.MaxRetryAfter))
}
