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
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/retryafter"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Governor is what the pipeline needs of *govern.Governor.
type Governor interface {
	Acquire(ctx context.Context, provider, env string) (*govern.Lease, error)
	AcquireBulk(ctx context.Context, provider, env string) (*govern.Lease, error)
	Refund(ctx context.Context, l *govern.Lease)
	Pause(ctx context.Context, l *govern.Lease, d time.Duration) error
	RevokeLease(ctx context.Context, l *govern.Lease) error
	RestoreLease(ctx context.Context, l *govern.Lease) error
	InPool(l *govern.Lease) bool
	Revoked(ctx context.Context, provider, keyID string) (bool, error)
	RevokedByOperator(ctx context.Context, provider, keyID string) (bool, error)
	ClaimCheck(ctx context.Context, provider, keyID string, every time.Duration) (bool, error)
	AcquireKey(ctx context.Context, provider, keyID string) (*govern.Lease, error)
	Keys(provider string) []govern.Key
}

// RequestChecker is a provider that can tell, without sending anything,
// that it cannot place a request (an indicator that would leave its path
// segment): provider.ErrUnsafeIndicator.
type RequestChecker interface {
	CheckRequest(req provider.Request) error
}

// AuthChecker confirms whether a key is valid with a fixed request nobody
// but the operator chose (provider auth_check). nil error: accepted.
type AuthChecker interface {
	CheckAuth(ctx context.Context, key secret.Value) error
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
	// Rate is the provider's configured rate (zero when unlimited). When
	// the gateway paces a key itself, an upstream's "remaining 0" on a
	// success, with a reset within the time the bucket takes to fill, is
	// the expected steady state at that pace: its proactive pause is
	// capped at one emission interval. A 429 is still honoured in full.
	Rate govern.Limit
	// RevokeOn are the statuses that make a lookup's key suspect (default
	// [401]); CheckRevokeOn those that revoke it when the auth check
	// answers them (default [401, 403]).
	RevokeOn, CheckRevokeOn []int
	// Check confirms a suspect key. nil: the provider has no auth_check,
	// and a refused key is reported but never taken out of rotation.
	Check AuthChecker
	// CheckEvery bounds auth checks to one per key per interval across
	// every replica (default 1m).
	CheckEvery time.Duration
	// Leaks holds every secret of the provider's key pool: an answer that
	// contains one, in any spelling, is refused before anyone sees it.
	// nil checks nothing (tests of other layers). SetLeaks replaces it
	// when the pool changes.
	Leaks *leak.Detector
	// Observer hears each governor wait and upstream attempt; nil: none.
	Observer observe.Observer
	Clock    clock.Clock
	Log      *slog.Logger
}

// Pipeline is one provider's call chain.
type Pipeline struct {
	o         Options
	coalescer *resilience.Coalescer[Outcome]
	placer    RequestChecker // the provider, when it can refuse a request before sending
	detector  atomic.Pointer[leak.Detector]
	leaks     atomic.Int64
	// preferPrevious: key id → overlapPreference, for keys whose new
	// secret the upstream refused within rotation.overlap (overlap.go).
	preferPrevious sync.Map
}

// New builds a Pipeline; Provider, Governor and Breaker are required.
func New(o Options) (*Pipeline, error) {
	if o.Provider == nil || o.Governor == nil || o.Breaker == nil {
		return nil, errors.New("pipeline: Provider, Governor and Breaker are required")
	}
	if o.Retry.MaxAttempts < 1 {
		o.Retry.MaxAttempts = 1
	}
	o.Clock = clock.Or(o.Clock)
	if o.Budget == nil {
		o.Budget = resilience.NewBudget(0.1, 1, o.Clock)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RevokeOn == nil {
		o.RevokeOn = []int{http.StatusUnauthorized}
	}
	if o.CheckRevokeOn == nil {
		o.CheckRevokeOn = []int{http.StatusUnauthorized, http.StatusForbidden}
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = time.Minute
	}
	placer, _ := o.Provider.(RequestChecker)
	p := &Pipeline{o: o, coalescer: resilience.NewCoalescer[Outcome](), placer: placer}
	p.detector.Store(o.Leaks)
	return p, nil
}

// SetLeaks replaces the credential detector: before a key pool swap, with
// every secret of the new pool (and the old ones, which must never be shown
// either). Calls in flight finish with the detector they started with or
// the new one; both hold their key.
func (p *Pipeline) SetLeaks(d *leak.Detector) { p.detector.Store(d) }

// Outcome is what one lookup learnt besides its answer: the facts audit,
// metrics and the caller's result need, which would otherwise die inside
// a lease or a context. A failed lookup still has one.
type Outcome struct {
	Result provider.Result
	// KeyID is the key of the last attempt that reached the governor; ""
	// when the lookup was refused before (breaker, pacing, unsafe input).
	KeyID string
	// Attempts counts calls that went (or tried to go) upstream,
	// failovers included; 0 when Shared.
	Attempts int
	// Shared: the answer came from another caller's call (coalesced); the
	// key id and upstream status are that call's, and Attempts and Units
	// are 0 (counted once, for its caller).
	Shared bool
	// UpstreamStatus is the last attempt's HTTP status; 0 when none came.
	UpstreamStatus int
	// Latency is how long this caller waited in the pipeline.
	Latency time.Duration
	// Units are the rate/quota units the lookup's attempts spent: those
	// that left. An auth check the lookup set off is reported apart
	// (observe.KeyChecked).
	Units int
	// bulkRefused: the call ran at Bulk priority and its last attempt was
	// refused by the governor, which an interactive caller sharing it
	// might not have been (priority.go).
	bulkRefused bool
}

// Lookup answers req for an interactive client of environment env: it is
// LookupAt with priority Interactive. Identical concurrent lookups (same
// provider, key environment, type, value and upstream type) share one
// upstream call; each caller still waits only until its own deadline, and
// gets the shared call's Outcome with Shared set.
func (p *Pipeline) Lookup(ctx context.Context, env string, req provider.Request) (Outcome, error) {
	return p.LookupAt(ctx, env, Interactive, req)
}

// Waiters is how many callers wait on the in-flight call req would join (0
// when none is in flight): what coalescing saves right now, and what tests
// wait for instead of sleeping.
func (p *Pipeline) Waiters(env string, req provider.Request) int {
	return p.coalescer.Waiters(coalesceKey(env, req))
}

// coalesceKey identifies lookups that may share one upstream call: same key
// environment (so the same keys), type, value and upstream type. The
// pipeline is per provider, which completes the scope.
func coalesceKey(env string, req provider.Request) string {
	return env + "\x00" + string(req.Indicator.Type) + "\x00" + req.Indicator.Value + "\x00" + req.UpstreamType
}

// attempts is the retry loop. A retry happens only for failures where one
// can help (resilience.Retryable), within max_attempts, the retry budget
// and the caller's deadline. A key the upstream refuses on a lookup is
// suspect; only when the auth check confirms it is it revoked and the next
// key tried at once: that is failover, not a retry.
func (p *Pipeline) attempts(ctx context.Context, env string, pri Priority, req provider.Request) (Outcome, error) {
	p.o.Budget.Deposit()
	var out Outcome
	failovers := 0
	for attempt := 1; ; {
		res, lease, err := p.once(ctx, env, pri, req, &out)
		if err == nil {
			out.Result = res
			return out, nil
		}
		if lease == nil { // refused before any upstream call: breaker, governor, unsafe input
			return out, err
		}
		var ue *upstream.Error
		isUpstream := errors.As(err, &ue)
		if isUpstream && ue.Kind == upstream.KindAuth {
			// Fail over only once the refused key is out of rotation;
			// otherwise the next lease could hand out the same key again.
			if slices.Contains(p.o.RevokeOn, ue.Status) && p.suspect(ctx, lease, ue, req.Client) && failovers < len(p.o.Governor.Keys(p.o.Provider.Name())) {
				failovers++
				continue
			}
			return out, err
		}
		throttled := isUpstream && (ue.Kind == upstream.KindRateLimited || (ue.Status == 503 && ue.RetryAfter > 0))
		if throttled {
			d := p.pauseFor(ue, attempt)
			p.o.Log.Info("upstream asked to slow down; key paused for every replica", "provider", lease.Provider,
				"key_id", lease.KeyID, "upstream_status", ue.Status, "pause", d.String())
			p.pause(ctx, lease, d)
		}
		if ctx.Err() != nil || !resilience.Retryable(err) || attempt >= p.o.Retry.MaxAttempts || !p.o.Budget.Withdraw() {
			return out, p.capped(err)
		}
		attempt++
		if !throttled && !p.backoff(ctx, attempt-1) {
			return out, p.capped(err)
		}
		// A throttled key is paused for every replica; the next Acquire
		// waits for it (or another key) within max_wait and the deadline,
		// or answers 429 with an honest Retry-After.
	}
}

// once makes one attempt: breaker first (an open breaker fails fast and
// spends no rate or quota), then the governor, then the provider. It
// returns the lease when the attempt went (or tried to go) upstream, nil
// when it was refused before, and adds what it learnt to out. The breaker
// always hears an outcome, even if the provider panics, so a half-open
// probe slot is never leaked.
func (p *Pipeline) once(ctx context.Context, env string, pri Priority, req provider.Request, out *Outcome) (provider.Result, *govern.Lease, error) {
	out.KeyID, out.UpstreamStatus, out.bulkRefused = "", 0, false // facts of this attempt, not an earlier one
	if p.placer != nil {
		// Before the breaker and the governor: an indicator the provider
		// cannot place costs no rate unit, no quota and no probe slot.
		if err := p.placer.CheckRequest(req); err != nil {
			return provider.Result{}, nil, err
		}
	}
	done, err := p.o.Breaker.AllowOutcome()
	if err != nil {
		return provider.Result{}, nil, err
	}
	outcome := resilience.Ignored
	defer func() { done(outcome) }()
	lease, err := p.acquire(ctx, env, pri)
	if err != nil {
		out.bulkRefused = pri == Bulk
		return provider.Result{}, nil, err
	}
	key, previous := lease.Key, p.usePrevious(lease)
	if previous {
		key = lease.Previous
	}
	res, err := p.callWith(ctx, req, lease, key, out)
	if errors.Is(err, provider.ErrUnsafeIndicator) {
		// Refused by the provider before anything was built: no attempt.
		p.refund(ctx, lease)
		return provider.Result{}, nil, err
	}
	outcome = resilience.OutcomeOf(err)
	if p.overlapRefused(lease, err) {
		if pres, perr, tried := p.withOther(ctx, req, lease, previous, out); tried {
			res, err = pres, perr
			outcome = resilience.OutcomeOf(err)
		}
	}
	if err == nil {
		p.proactivePause(ctx, lease, res.PauseFor)
		return res, lease, nil
	}
	return provider.Result{}, lease, err
}

// callWith makes one upstream call for l with secret key (its current
// secret, or its previous one within a rotation overlap), checks the
// answer for reflected credentials, and counts the attempt in out. A call
// that never left gives its unit back.
func (p *Pipeline) callWith(ctx context.Context, req provider.Request, l *govern.Lease, key secret.Value, out *Outcome) (provider.Result, error) {
	started := p.o.Clock.Now()
	res, err := p.o.Provider.Lookup(ctx, req, key)
	if errors.Is(err, provider.ErrUnsafeIndicator) {
		return provider.Result{}, err
	}
	if err == nil && p.detector.Load().Contains(res.Data) {
		err = p.leaked(l, req.Client)
	}
	var ue *upstream.Error
	isUpstream := errors.As(err, &ue)
	notSent := isUpstream && ue.NotSent
	out.KeyID = l.KeyID
	out.Attempts++
	out.UpstreamStatus = res.Status
	if isUpstream {
		out.UpstreamStatus = ue.Status
	}
	if !notSent {
		out.Units++
	}
	p.observeAttempt(ctx, l, out, err, p.o.Clock.Now().Sub(started), notSent)
	if notSent {
		p.refund(ctx, l) // quota is spent only on calls that left
	}
	return res, err
}

// acquire waits for a lease on a key of the environment — or, for Bulk,
// takes one only if the interactive reserve stays, without waiting — and
// tells the observer how long it waited and how that ended.
func (p *Pipeline) acquire(ctx context.Context, env string, pri Priority) (*govern.Lease, error) {
	get := p.o.Governor.Acquire
	if pri == Bulk {
		get = p.o.Governor.AcquireBulk
	}
	if p.o.Observer == nil {
		return get(ctx, p.o.Provider.Name(), env)
	}
	start := p.o.Clock.Now()
	lease, err := get(ctx, p.o.Provider.Name(), env)
	e := observe.GovernorWaited{Provider: p.o.Provider.Name(), Wait: p.o.Clock.Now().Sub(start), Outcome: acquireOutcome(err)}
	if lease != nil {
		e.KeyID = lease.KeyID
	}
	p.o.Observer.Observe(ctx, e)
	return lease, err
}

// acquireOutcome names how an Acquire ended, for observers.
func acquireOutcome(err error) string {
	var limited *govern.LimitedError
	switch {
	case err == nil:
		return "acquired"
	case errors.As(err, &limited):
		return limited.Reason
	case errors.Is(err, govern.ErrNoKeys):
		return "no_keys"
	case errors.Is(err, govern.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

func (p *Pipeline) observeAttempt(ctx context.Context, l *govern.Lease, out *Outcome, err error, latency time.Duration, notSent bool) {
	if p.o.Observer == nil {
		return
	}
	e := observe.Attempted{Provider: l.Provider, KeyID: l.KeyID, Attempt: out.Attempts,
		UpstreamStatus: out.UpstreamStatus, Latency: latency, NotSent: notSent}
	var ue *upstream.Error
	switch {
	case err == nil:
	case errors.As(err, &ue):
		e.Kind = string(ue.Kind)
	default:
		e.Kind = "internal"
	}
	p.o.Observer.Observe(ctx, e)
}

// leaked records an answer that reflected a key: a security event, since
// something between the gateway and the vendor echoes what it is sent.
func (p *Pipeline) leaked(l *govern.Lease, client string) error {
	p.leaks.Add(1)
	p.o.Log.Error("security event: upstream answer contained credential material; discarded, not cached",
		"event", "upstream_credential_reflected", "provider", l.Provider, "key_id", l.KeyID, "client", client)
	return &upstream.Error{Kind: upstream.KindCredentialLeak, Status: 200,
		Detail: "the upstream answer contained credential material; it was discarded"}
}

// Leaks is how many upstream answers were discarded for holding credential
// material since start (for metrics).
func (p *Pipeline) Leaks() int64 { return p.leaks.Load() }

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

// suspect handles a lookup's 401/403. The client chose the indicator, and
// a 403 is often about the resource (a plan-limited endpoint, a WAF rule),
// so the refusal alone never revokes: the auth check — a fixed request —
// decides, at most once per key per CheckEvery across replicas. It reports
// whether the key is now out of rotation (revoked by this check or by a
// concurrent one), so the lookup may fail over to the next key.
func (p *Pipeline) suspect(ctx context.Context, l *govern.Lease, ue *upstream.Error, client string) bool {
	log := p.o.Log.With("provider", l.Provider, "key_id", l.KeyID, "client", client)
	log.Warn("security event: upstream refused a lookup with the gateway's key; key is suspect",
		"event", "upstream_key_suspect", "upstream_status", ue.Status)
	if !p.o.Governor.InPool(l) {
		// Swapped out or rotated while this lookup ran: the refusal says
		// nothing about the current pool, whose keys the next lease uses.
		log.Info("the refused key left the pool while the lookup ran; failing over", "event", "upstream_key_swapped_out")
		return true
	}
	if p.o.Check == nil {
		log.Warn("provider has no auth_check: the key stays in rotation; check it by hand",
			"event", "upstream_key_unconfirmed")
		return false
	}
	bctx, cancel := detached(ctx)
	claimed, err := p.o.Governor.ClaimCheck(bctx, l.Provider, l.KeyID, p.o.CheckEvery)
	cancel()
	if err != nil {
		log.Warn("claiming the auth check", "error", err)
		return false
	}
	if !claimed { // checked within the interval, here or on another replica
		return p.revoked(ctx, l)
	}
	verdict, checked, err := p.check(ctx, l.Provider, l.KeyID, "suspect")
	switch verdict {
	case checkRefused:
		log.Error("security event: auth check confirmed the upstream refuses the key; taking it out of rotation",
			"event", "upstream_key_revoked", "check_status", statusOf(err))
		bctx, cancel := detached(ctx)
		defer cancel()
		// The secret the check was refused with: if the key was rotated
		// meanwhile, the new secret is not revoked on the old one's evidence.
		if err := p.o.Governor.RevokeLease(bctx, checked); err != nil {
			log.Warn("revoking upstream key", "error", err)
			return false
		}
		p.observe(ctx, observe.KeyRevoked{Provider: l.Provider, KeyID: l.KeyID})
		return true
	case checkPassed:
		log.Warn("auth check accepted the key: the refusal was about this request; key stays in rotation",
			"event", "upstream_key_cleared")
	default:
		log.Warn("auth check was inconclusive; key stays in rotation", "event", "upstream_key_check_failed",
			"error", err)
	}
	return false
}

// revoked reports whether l's key is out of rotation now: revoked, or no
// longer in the pool at all (swapped out while the lookup ran).
func (p *Pipeline) revoked(ctx context.Context, l *govern.Lease) bool {
	ctx, cancel := detached(ctx)
	defer cancel()
	r, err := p.o.Governor.Revoked(ctx, l.Provider, l.KeyID)
	return errors.Is(err, govern.ErrUnknownKey) || (err == nil && r)
}

// checkVerdict is what an auth check said about a key.
type checkVerdict int

const (
	checkInconclusive checkVerdict = iota // network, 5xx, 429, timeout: no answer about the key
	checkPassed                           // the fixed request was served
	checkRefused                          // refused with one of CheckRevokeOn
)

func (v checkVerdict) String() string {
	switch v {
	case checkPassed:
		return "passed"
	case checkRefused:
		return "refused"
	}
	return "inconclusive"
}

// checkTimeout bounds an auth check beyond the transport's own timeout.
const checkTimeout = time.Minute

// check runs the auth check with the key keyID. It runs on a context of
// its own: the caller whose lookup was refused may leave, and a check cut
// short would leave a dead key unconfirmed for the whole claim interval.
// It takes a unit of the key's rate and quota like any call, since the
// vendor counts it; a key without capacity (or paused) is not checked now.
//
// It returns the lease the check ran on: the exact secret it judged.
// reason ("suspect" or "recheck") is for the observer.
func (p *Pipeline) check(ctx context.Context, provider, keyID, reason string) (checkVerdict, *govern.Lease, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	lease, err := p.o.Governor.AcquireKey(ctx, provider, keyID)
	if err != nil {
		p.observe(ctx, observe.KeyChecked{Provider: provider, KeyID: keyID, Reason: reason, Verdict: checkInconclusive.String()})
		return checkInconclusive, nil, err
	}
	err = p.o.Check.CheckAuth(ctx, lease.Key)
	var ue *upstream.Error
	isUpstream := errors.As(err, &ue)
	verdict := checkInconclusive
	switch {
	case err == nil:
		verdict = checkPassed
	case isUpstream && ue.NotSent:
		p.refund(ctx, lease)
	case isUpstream && ue.Kind == upstream.KindAuth && slices.Contains(p.o.CheckRevokeOn, ue.Status):
		verdict = checkRefused
	}
	p.observe(ctx, observe.KeyChecked{Provider: provider, KeyID: keyID, Reason: reason, Verdict: verdict.String(),
		UpstreamStatus: statusOf(err), Sent: !(isUpstream && ue.NotSent)})
	return verdict, lease, err
}

// observe tells the observer e, if there is one.
func (p *Pipeline) observe(ctx context.Context, e observe.Event) {
	if p.o.Observer != nil {
		p.o.Observer.Observe(ctx, e)
	}
}

func statusOf(err error) int {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return ue.Status
	}
	return 0
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
