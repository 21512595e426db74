package govern

import (
	"context"
	"fmt"
	"math"
)

// bulkLimits are what bulk work may use of a key: the policy's rate and
// quotas less the interactive reserve. They name the same bucket and the
// same counters as the policy's own limits, only with a smaller capacity,
// so one atomic check of the shared state (a GCRA script, a quota
// transaction) decides both kinds of caller and replicas together keep the
// reserve.
type bulkLimits struct {
	rate       Limit
	day, month int64
	reserve    int // burst units kept for interactive callers
}

// bulkLimitsOf takes share of p's burst and quotas off what bulk work may
// use (see reserve).
func bulkLimitsOf(p Policy, share float64) bulkLimits {
	b := bulkLimits{rate: p.Rate, day: p.Day, month: p.Month}
	if !p.Rate.Unlimited() {
		burst := int64(max(p.Rate.Burst, 1))
		b.reserve = int(reserve(share, burst))
		b.rate.Burst = int(burst) - b.reserve
	}
	b.day -= reserve(share, p.Day)
	b.month -= reserve(share, p.Month)
	return b
}

// reserve is how many of capacity units share keeps from bulk work: share
// of them rounded up, so interactive callers get at least their share,
// but never all of them — one unit always stays usable by bulk, so a job
// on a tiny limit (a burst of 1, a quota of 1 a day) still progresses
// instead of snoozing for ever. An unlimited capacity (0) reserves nothing.
func reserve(share float64, capacity int64) int64 {
	if share <= 0 || capacity <= 1 {
		return 0
	}
	// The epsilon keeps 0.2·10 at 2 whatever the float rounding.
	r := int64(math.Ceil(share*float64(capacity) - 1e-9))
	return min(max(r, 0), capacity-1)
}

// warnNoRateReserve tells the operator when p's burst is too small to keep
// any of it for interactive callers: bulk work and interactive lookups then
// share the key's one unit, and an interactive lookup may wait up to one
// emission interval behind a bulk call.
func (g *Governor) warnNoRateReserve(p *policyState, share float64) {
	if share > 0 && !p.Rate.Unlimited() && p.bulk.reserve == 0 {
		g.log.Warn("the provider's burst is too small to reserve rate for interactive lookups; bulk jobs share its one unit (quotas are still reserved)",
			"provider", p.Provider, "burst", max(p.Rate.Burst, 1), "interactive_share", share)
	}
}

// AcquireBulk is Acquire for bulk work (an item of a bulk job): a lease on
// a key of environment env, taken only if that leaves the interactive
// reserve — Options.InteractiveShare of the key's burst, and of its day and
// month quotas — for interactive callers. It never waits and never books a
// unit ahead: when no key has capacity for bulk now, it answers at once
// with a *LimitedError whose RetryAfter is the governor's estimate of when
// one may (a key's next bulk unit, its pause's end, its quota window's
// reset), so the queue can put the item aside until then.
//
// The reserve is capacity, not a cap on bulk's sustained rate: with no
// interactive traffic bulk work may spend every unit the key earns, while
// the reserve's units stay ready for an interactive lookup that arrives;
// once it spends them, they refill before bulk work takes another. So an
// interactive lookup never waits behind bulk work while its demand stays
// within the reserve, and a waiting interactive caller's booking (the
// bucket in debt) stops bulk work until it is served. A quota's reserve is
// the last share of each window: bulk work stops when the window's count
// reaches its capacity less the reserve, whoever spent the rest.
//
// Bulk work is never sent unpaced: when the shared state is unavailable it
// gets the error even with FailOpen.
func (g *Governor) AcquireBulk(ctx context.Context, provider, env string) (*Lease, error) {
	p, ok := g.policies[provider]
	if !ok {
		return nil, fmt.Errorf("acquiring %q: %w", provider, ErrUnknownProvider)
	}
	lease, _, wait, reason, err := g.tryKeys(ctx, p, env, 0, true)
	if err != nil || lease != nil {
		return lease, err
	}
	return nil, &LimitedError{Scope: "provider", Name: provider, Reason: reason, RetryAfter: wait}
}
