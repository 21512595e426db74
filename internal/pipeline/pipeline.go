// Package pipeline runs one provider lookup through the resilience chain:
// coalesce identical in-flight lookups, then a retry loop around circuit
// breaker → governor (key pool, rate, quota, shared pause) →
// provider/transport. The breaker comes before the governor (DESIGN.md lists
// them the other way round) so that an open breaker fails fast without
// waiting for, or spending, rate and quota. Each layer is its own package;
// this file is where they meet, so the whole chain reads top to bottom.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/retryafter"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Governor is what the pipeline needs of *govern.Governor.
type Governor interface {
	Acquire(ctx context.Context, provider, env string) (*govern.Lease, error)
	Refund(ctx context.Context, l *govern.Lease)
	Pause(ctx context.Context, l *govern.Lease, d time.Duration) error
	Revoke(ctx context.Context, l *govern.Lease) error
}

// Options assemble a Pipeline for one provider.
type Options struct {
	Provider provider.Provider
	Governor Governor
	Breaker  *resilience.Breaker
	Retry    resilience.Policy
	Budget   *resilience.Budget
	// MaxPause caps any wait an upstream asks for (retry.max_wait): a
	// hostile or buggy Retry-After must not stop a key for days.
	MaxPause time.Duration
	// Keys is the number of upstream keys: how many times a refused key
	// may fail over to the next one within one lookup.
	Keys int
	// Rate is the provider's configured rate (zero when unlimited). When
	// the gateway paces a key itself, an upstream's "remaining 0" on a
	// success, with a reset within the time the bucket takes to fill, is
	// the expected steady state at that pace: its proactive pause is
	// capped at one emission interval. A 429 is still honoured in full.
	Rate  govern.Limit
	Clock govern.Clock
	Log   *slog.Logger
}

// Pipeline is one provider's call chain.
type Pipeline struct {
	o         Options
	coalescer *resilience.Coalescer[provider.Result]
}

// New builds a Pipeline; Provider, Governor and Breaker are required.
func New(o Options) (*Pipeline, error) {
	if o.Provider == nil || o.Governor == nil || o.Breaker == nil {
		return nil, errors.New("pipeline: Provider, Governor and Breaker are required")
	}
	if o.Retry.MaxAttempts < 1 {
		o.Retry.MaxAttempts = 1
	}
	if o.Budget == nil {
		o.Budget = resilience.NewBudget(0.1, 1, nil)
	}
	if o.Clock == nil {
		o.Clock = govern.SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{o: o, coalescer: resilience.NewCoalescer[provider.Result]()}, nil
}

// Lookup answers req for a client of environment env. Identical concurrent
// lookups (same provider, key environment, type, value and upstream type)
// share one upstream call; each caller still waits only until its own
// deadline. shared reports that the answer came from another's call.
func (p *Pipeline) Lookup(ctx context.Context, env string, req provider.Request) (res provider.Result, shared bool, err error) {
	return p.coalescer.Do(ctx, coalesceKey(env, req), func(ctx context.Context) (provider.Result, error) {
		return p.attempts(ctx, env, req)
	})
}

// coalesceKey identifies lookups that may share one upstream call: same key
// environment (so the same keys), type, value and upstream type. The
// pipeline is per provider, which completes the scope.
func coalesceKey(env string, req provider.Request) string {
	return env + "\x00" + string(req.Indicator.Type) + "\x00" + req.Indicator.Value + "\x00" + req.UpstreamType
}

// attempts is the retry loop. A retry happens only for failures where one
// can help (resilience.Retryable), within max_attempts, the retry budget
// and the caller's deadline. A key the upstream refuses is revoked and the
// next key tried at once: that is failover, not a retry.
func (p *Pipeline) attempts(ctx context.Context, env string, req provider.Request) (provider.Result, error) {
	p.o.Budget.Deposit()
	failovers := 0
	for attempt := 1; ; {
		res, lease, err := p.once(ctx, env, req)
		if err == nil {
			return res, nil
		}
		if lease == nil { // refused before any upstream call: breaker, governor, unsafe input
			return provider.Result{}, err
		}
		var ue *upstream.Error
		isUpstream := errors.As(err, &ue)
		if isUpstream && ue.Kind == upstream.KindAuth {
			// Fail over only once the refused key is out of rotation;
			// otherwise the next lease could hand out the same key again.
			if p.revoke(ctx, lease, ue) && failovers < p.o.Keys {
				failovers++
				continue
			}
			return provider.Result{}, err
		}
		throttled := isUpstream && (ue.Kind == upstream.KindRateLimited || (ue.Status == 503 && ue.RetryAfter > 0))
		if throttled {
			d := p.pauseFor(ue, attempt)
			p.o.Log.Info("upstream asked to slow down; key paused for every replica", "provider", lease.Provider,
				"key_id", lease.KeyID, "upstream_status", ue.Status, "pause", d.String())
			p.pause(ctx, lease, d)
		}
		if ctx.Err() != nil || !resilience.Retryable(err) || attempt >= p.o.Retry.MaxAttempts || !p.o.Budget.Withdraw() {
			return provider.Result{}, p.capped(err)
		}
		attempt++
		if !throttled && !p.backoff(ctx, attempt-1) {
			return provider.Result{}, p.capped(err)
		}
		// A throttled key is paused for every replica; the next Acquire
		// waits for it (or another key) within max_wait and the deadline,
		// or answers 429 with an honest Retry-After.
	}
}

// once makes one attempt: breaker first (an open breaker fails fast and
// spends no rate or quota), then the governor, then the provider. It
// returns the lease when the attempt went (or tried to go) upstream, nil
// when it was refused before. The breaker always hears an outcome, even if
// the provider panics, so a half-open probe slot is never leaked.
func (p *Pipeline) once(ctx context.Context, env string, req provider.Request) (provider.Result, *govern.Lease, error) {
	done, err := p.o.Breaker.AllowOutcome()
	if err != nil {
		return provider.Result{}, nil, err
	}
	outcome := resilience.Ignored
	defer func() { done(outcome) }()
	lease, err := p.o.Governor.Acquire(ctx, p.o.Provider.Name(), env)
	if err != nil {
		return provider.Result{}, nil, err
	}
	res, err := p.o.Provider.Lookup(ctx, req, lease.Key)
	outcome = resilience.OutcomeOf(err)
	var ue *upstream.Error
	switch {
	case err == nil:
		p.proactivePause(ctx, lease, res.PauseFor)
		return res, lease, nil
	case errors.Is(err, provider.ErrUnsafeIndicator):
		p.refund(ctx, lease)
		return provider.Result{}, nil, err
	case errors.As(err, &ue) && ue.NotSent:
		p.refund(ctx, lease) // quota is spent only on calls that left
	}
	return provider.Result{}, lease, err
}

// proactivePause acts on a success that says the key is spent ("remaining
// 0, reset in d"). A reset within the key's own bucket time is the steady
// state at the configured pace: pause one emission interval. A longer one
// (a quota window, or no configured rate) is honoured in full.
func (p *Pipeline) proactivePause(ctx context.Context, l *govern.Lease, d time.Duration) {
	if d <= 0 {
		return
	}
	if r := p.o.Rate; !r.Unlimited() {
		window := r.Interval() * time.Duration(max(r.Burst, 1)) // time to fill the bucket
		if d <= window.Truncate(time.Second)+time.Second {
			d = min(d, r.Interval())
		}
	}
	p.pause(ctx, l, retryafter.Cap(d, p.o.MaxPause))
}

// pauseFor is how long to pause a key the upstream throttled: its own
// estimate when it gave one, else a backoff of at least a second, capped.
func (p *Pipeline) pauseFor(ue *upstream.Error, attempt int) time.Duration {
	d := ue.RetryAfter
	if d <= 0 {
		d = max(time.Second, p.o.Retry.Backoff(attempt))
	}
	return retryafter.Cap(d, p.o.MaxPause)
}

// pause stops every replica from using l's key for d (already capped).
func (p *Pipeline) pause(ctx context.Context, l *govern.Lease, d time.Duration) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := p.o.Governor.Pause(ctx, l, d); err != nil {
		p.o.Log.Warn("pausing upstream key", "provider", l.Provider, "key_id", l.KeyID, "error", err)
	}
}

func (p *Pipeline) revoke(ctx context.Context, l *govern.Lease, ue *upstream.Error) bool {
	p.o.Log.Error("security event: upstream rejected the gateway's key; taking it out of rotation",
		"event", "upstream_auth_rejected", "provider", l.Provider, "key_id", l.KeyID, "upstream_status", ue.Status)
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := p.o.Governor.Revoke(ctx, l); err != nil {
		p.o.Log.Warn("revoking upstream key", "provider", l.Provider, "key_id", l.KeyID, "error", err)
		return false
	}
	return true
}

func (p *Pipeline) refund(ctx context.Context, l *govern.Lease) {
	ctx, cancel := detached(ctx)
	defer cancel()
	p.o.Governor.Refund(ctx, l)
}

// detached is for bookkeeping the upstream's answer obliges us to do —
// pause, revoke, refund — even if the caller has just gone: a 429 must
// pause the key for everyone whoever is still listening.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
}

// backoff waits the retry policy's full-jitter delay before retry number
// attempt; it reports false when the wait would outlast the caller.
func (p *Pipeline) backoff(ctx context.Context, attempt int) bool {
	d := p.o.Retry.Backoff(attempt)
	if dl, ok := ctx.Deadline(); ok && !p.o.Clock.Now().Add(d).Before(dl) {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.o.Clock.After(d):
		return true
	}
}

// capped bounds the Retry-After an upstream error carries to the client.
func (p *Pipeline) capped(err error) error {
	var ue *upstream.Error
	if p.o.MaxPause > 0 && errors.As(err, &ue) && ue.RetryAfter > p.o.MaxPause {
		c := *ue
		c.RetryAfter = p.o.MaxPause
		return &c
	}
	return err
}
