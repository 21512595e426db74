package govern

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/secret"
)

// Key is one upstream key of a provider.
type Key struct {
	ID          string
	Environment string
	Value       secret.Value
	// Previous is the secret this key held before its last rotation,
	// during rotation.overlap only (zero otherwise): a lookup the upstream
	// refuses with the new secret is tried once more with it, since a
	// vendor may activate a new key a little after the secret store
	// changed. The app clears it when the overlap ends.
	Previous secret.Value
}

// Policy is how one provider is paced. Limit and quotas apply to each key:
// a key is one account at the vendor, with its own rate and quota.
type Policy struct {
	Provider string
	// Keys is the provider's first key pool, in order of preference;
	// SwapKeys replaces it.
	Keys []Key
	Rate Limit
	// ConfiguredBurst is the burst as configured when Rate runs a smaller
	// one (the gateway's headroom below the vendor's limit); status reports
	// both so an operator can tell our margin from a misread config. 0
	// means Rate.Burst.
	ConfiguredBurst int
	Day             int64 // units per calendar day per key; 0 = unlimited
	Month           int64 // units per calendar month per key; 0 = unlimited
	Calendar        Calendar
	// MaxWait is how long Acquire may wait for capacity (bounded by the
	// caller's deadline) before it gives up with a *LimitedError.
	MaxWait time.Duration
}

// Options configure a Governor.
type Options struct {
	State State
	Clock clock.Clock // default: the system clock
	// FailOpen lets calls through unpaced when State is unavailable;
	// the default (false) refuses them, so a Redis outage can never
	// cost quota.
	FailOpen bool
	// RevokeFor is how long a revocation lasts unless renewed (every
	// refused re-check renews it) or ended by Restore (a passed re-check);
	// rotating the secret ends it at once, since revocation is keyed by
	// the secret's fingerprint. Default 24h: a revocation lapses only when
	// no replica has re-checked the key for that long.
	RevokeFor time.Duration
	// Fingerprint names a secret in the state's revocation keys, which
	// live in SQLite or Redis: the gateway passes a keyed HMAC (the key
	// derived from the data-at-rest key), so whoever reads that state
	// cannot test a guessed secret against it. Nil: an unkeyed SHA-256
	// (secret.Value.UnkeyedFingerprint), for tests and tools that hold no
	// data-at-rest key.
	Fingerprint func(secret.Value) string
	// InteractiveShare is the share of each key's rate capacity (its
	// burst) and of its day and month quotas that AcquireBulk leaves for
	// interactive callers (jobs.interactive_share, in [0, 1); 0 reserves
	// nothing). See AcquireBulk.
	InteractiveShare float64
	Log              *slog.Logger
}

// Governor hands out leases on upstream keys within every limit.
type Governor struct {
	state     State
	clock     clock.Clock
	failOpen  bool
	revokeFor time.Duration
	fp        func(secret.Value) string
	log       *slog.Logger
	policies  map[string]*policyState
	// clients is swapped whole by SwapClients (a config reload).
	clients atomic.Pointer[map[string]*ClientPolicy]
	failLog atomic.Int64 // unix seconds of the last fail-open warning
}

// LimitedError says no unit is available within the allowed wait.
type LimitedError struct {
	Scope      string // "provider" or "client"
	Name       string // provider or client name
	Reason     string // "rate", "day_quota", "month_quota", "paused"
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("%s %s: %s limit reached; retry after %s", e.Scope, e.Name, e.Reason, e.RetryAfter.Round(time.Millisecond))
}

var (
	// ErrNoKeys: every key of the environment is revoked, or none exists.
	ErrNoKeys = errors.New("no usable upstream key")
	// ErrUnknownProvider: no policy for the provider.
	ErrUnknownProvider = errors.New("unknown provider")
)

// New builds a Governor over provider and client policies. Each policy's
// Keys must be a valid pool (see SwapKeys).
func New(o Options, policies []Policy, clients []ClientPolicy) (*Governor, error) {
	if o.State == nil {
		return nil, errors.New("govern: State is required")
	}
	if !(o.InteractiveShare >= 0 && o.InteractiveShare < 1) {
		return nil, fmt.Errorf("govern: InteractiveShare must be at least 0 and below 1, not %v", o.InteractiveShare)
	}
	g := &Governor{state: o.State, clock: clock.Or(o.Clock), failOpen: o.FailOpen, revokeFor: o.RevokeFor,
		log: o.Log, policies: map[string]*policyState{}}
	if g.revokeFor <= 0 {
		g.revokeFor = 24 * time.Hour
	}
	g.fp = o.Fingerprint
	if g.fp == nil {
		g.fp = secret.Value.UnkeyedFingerprint
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range policies {
		if _, dup := g.policies[p.Provider]; dup {
			return nil, fmt.Errorf("govern: duplicate policy for provider %q", p.Provider)
		}
		pool, err := newKeyPool(p.Provider, p.Keys, g.fp)
		if err != nil {
			return nil, err
		}
		ps := &policyState{Policy: p, bulk: bulkLimitsOf(p, o.InteractiveShare)}
		ps.Keys = nil // the pool holds them, and only the pool may be read
		g.warnNoRateReserve(ps, o.InteractiveShare)
		ps.pool.Store(pool)
		g.policies[p.Provider] = ps
	}
	g.SwapClients(clients)
	return g, nil
}

// SwapClients replaces every client's own allowance at once (a config
// reload). Usage is kept: it is counted by client name in the shared
// state, so a client whose limit changes keeps what it spent today, and a
// new limit below that usage refuses it until the day turns. A client
// without a policy is not limited by the gateway.
func (g *Governor) SwapClients(clients []ClientPolicy) {
	m := make(map[string]*ClientPolicy, len(clients))
	for i := range clients {
		c := clients[i]
		m[c.Client] = &c
	}
	g.clients.Store(&m)
}

func (g *Governor) client(name string) (*ClientPolicy, bool) {
	c, ok := (*g.clients.Load())[name]
	return c, ok
}

// Lease is the right to make one upstream call with Key. It keeps its key
// when the pool is swapped: the call finishes on the secret it started
// with (see SwapKeys for what Refund and Pause then do).
type Lease struct {
	Provider string
	KeyID    string
	Key      secret.Value
	// Previous is the key's secret before its last rotation, within
	// rotation.overlap (see Key.Previous); zero otherwise.
	Previous secret.Value
	windows  []Window
	pace     bool // false when taken fail-open: nothing to refund
	// revoked is the key's revocation state key: it names the secret too,
	// so it tells a rotated key from the one the lease was taken on.
	revoked string
}

// newLease is a lease on k with the quota windows ws taken (none for pace
// false, a lease taken fail-open).
func newLease(p *policyState, k poolKey, ws []Window, pace bool) *Lease {
	return &Lease{Provider: p.Provider, KeyID: k.ID, Key: k.Value, Previous: k.Previous, windows: ws, pace: pace, revoked: k.revoked}
}

func rateKey(provider, keyID string) string  { return "r:p:" + provider + ":" + keyID }
func pauseKey(provider, keyID string) string { return "p:" + provider + ":" + keyID }

// quotaWindows are the calendar counters for limits day and month of the
// subject named by prefix at now, with the reason each one reports when full.
func quotaWindows(prefix string, day, month int64, cal Calendar, now time.Time) ([]Window, []string) {
	var ws []Window
	var reasons []string
	if day > 0 {
		id, _, end := cal.Day(now)
		ws = append(ws, Window{Key: prefix + ":d:" + id, Limit: day, Expires: end})
		reasons = append(reasons, "day_quota")
	}
	if month > 0 {
		id, _, end := cal.Month(now)
		ws = append(ws, Window{Key: prefix + ":m:" + id, Limit: month, Expires: end})
		reasons = append(reasons, "month_quota")
	}
	return ws, reasons
}

// quotaPrefix names the quota counters of provider's key keyID.
func quotaPrefix(provider, keyID string) string { return "q:p:" + provider + ":" + keyID }

func (p *Policy) windows(k poolKey, now time.Time) ([]Window, []string) {
	return quotaWindows(k.quota, p.Day, p.Month, p.Calendar, now)
}

// Acquire returns a lease on a key of environment env with a unit of rate
// and quota taken, waiting for capacity up to the policy's MaxWait and the
// caller's deadline. Waiting for rate is a booking, not a race: the next
// unit is reserved in order and the caller sleeps until it is due, so
// waiters are served first come, first served and none is refused while
// capacity is due within its wait. When nothing frees up in time it returns
// a *LimitedError whose RetryAfter is the limiter's honest estimate. Each
// pass over the keys reads one snapshot of the pool (see SwapKeys). It is
// the interactive caller's acquisition: it may use the whole capacity,
// including the share AcquireBulk leaves alone.
func (g *Governor) Acquire(ctx context.Context, provider, env string) (*Lease, error) {
	p, ok := g.policies[provider]
	if !ok {
		return nil, fmt.Errorf("acquiring %q: %w", provider, ErrUnknownProvider)
	}
	deadline := g.clock.Now().Add(p.MaxWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		budget := deadline.Sub(g.clock.Now())
		lease, delay, wait, reason, err := g.tryKeys(ctx, p, env, budget, false)
		if err != nil {
			return nil, err
		}
		if lease != nil {
			if delay <= 0 {
				return lease, nil
			}
			select { // the booked unit is due after delay
			case <-ctx.Done():
				g.Refund(context.WithoutCancel(ctx), lease)
				return nil, ctx.Err()
			case <-g.clock.After(delay):
			}
			// A pause or revocation that began while this waiter slept
			// applies to it too: the upstream said stop for everyone. So
			// does a swap that took its key out of the pool.
			if halted, err := g.halted(ctx, p, lease, env); err != nil || !halted {
				return lease, err
			}
			g.Refund(context.WithoutCancel(ctx), lease)
			continue
		}
		if wait > budget {
			return nil, &LimitedError{Scope: "provider", Name: provider, Reason: reason, RetryAfter: wait}
		}
		select { // a pause ends, or a quota or booking frees up
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-g.clock.After(wait):
		}
	}
}

// halted reports whether the lease's key was paused, revoked or swapped
// out of env's pool since the lease was booked.
func (g *Governor) halted(ctx context.Context, p *policyState, l *Lease, env string) (bool, error) {
	if !p.pool.Load().holds(l, env) {
		return true, nil
	}
	now := g.clock.Now()
	for _, key := range [2]string{pauseKey(p.Provider, l.KeyID), l.revoked} {
		until, err := g.state.PausedUntil(ctx, key)
		if err != nil {
			_, _, _, _, err = g.unavailable(p, poolKey{Key: Key{ID: l.KeyID, Value: l.Key}, revoked: l.revoked}, err, false)
			return false, err
		}
		if until.After(now) {
			return true, nil
		}
	}
	return false, nil
}

// tryKeys makes one pass over env's keys in configured order (so backup
// keys are only used when the primary is out of capacity) for a unit free
// now; failing that it books the soonest rate unit due within budget on the
// key that has it. Without a lease it returns the shortest wait until some
// key may have capacity, and why. The pass reads one snapshot of the pool.
//
// A bulk pass (AcquireBulk) takes only what leaves the interactive reserve
// and books nothing.
func (g *Governor) tryKeys(ctx context.Context, p *policyState, env string, budget time.Duration, bulk bool) (
	lease *Lease, delay, wait time.Duration, reason string, err error) {
	now := g.clock.Now()
	wait = -1
	consider := func(d time.Duration, r string) {
		if wait < 0 || d < wait {
			wait, reason = d, r
		}
	}
	var (
		usable   int
		best     poolKey // the key whose next rate unit comes soonest
		bestWait time.Duration
		haveBest bool
	)
	for _, k := range p.pool.Load().keys {
		if k.Environment != env {
			continue
		}
		until, err := g.state.PausedUntil(ctx, k.revoked)
		if err != nil {
			return g.unavailable(p, k, err, bulk)
		}
		if until.After(now) {
			continue
		}
		usable++
		if until, err = g.state.PausedUntil(ctx, k.pause); err != nil {
			return g.unavailable(p, k, err, bulk)
		}
		if until.After(now) {
			consider(until.Sub(now), "paused")
			continue
		}
		l, d, r, err := g.take(ctx, p, k, now, 0, bulk)
		if err != nil {
			return g.unavailable(p, k, err, bulk)
		}
		if l != nil {
			return l, 0, 0, "", nil
		}
		consider(d, r)
		if r == "rate" && (!haveBest || d < bestWait) {
			best, bestWait, haveBest = k, d, true
		}
	}
	if usable == 0 {
		return nil, 0, 0, "", fmt.Errorf("provider %q environment %q: %w", p.Provider, env, ErrNoKeys)
	}
	// Book on the key whose next rate unit comes soonest, if within budget.
	// Bulk work never books: a booked unit is one an interactive caller
	// arriving meanwhile would have to wait behind.
	if !bulk && haveBest && bestWait <= budget {
		l, d, r, err := g.take(ctx, p, best, now, budget, false)
		if err != nil {
			return g.unavailable(p, best, err, false)
		}
		if l != nil {
			return l, d, 0, "", nil
		}
		consider(d, r)
	}
	return nil, 0, wait, reason, nil
}

// take books a unit of k's rate (due within maxWait; 0 means now) and then
// a unit of its quota. Without a lease it returns how long until k may
// have capacity and why. For bulk it applies the bulk limits: the same
// bucket and counters with the interactive reserve taken off their
// capacity (see AcquireBulk).
func (g *Governor) take(ctx context.Context, p *policyState, k poolKey, now time.Time, maxWait time.Duration, bulk bool) (*Lease, time.Duration, string, error) {
	var delay time.Duration
	rate, day, month := p.Rate, p.Day, p.Month
	if bulk {
		rate, day, month = p.bulk.rate, p.bulk.day, p.bulk.month
	}
	if !rate.Unlimited() {
		dec, err := g.state.Reserve(ctx, k.rate, rate, maxWait)
		if err != nil {
			return nil, 0, "", err
		}
		if !dec.Allowed {
			return nil, dec.RetryAfter, "rate", nil
		}
		delay = dec.RetryAfter
	}
	ws, reasons := quotaWindows(k.quota, day, month, p.Calendar, now)
	if len(ws) > 0 {
		ok, idx, err := g.state.Consume(ctx, ws)
		if err != nil {
			return nil, 0, "", err
		}
		if !ok {
			return nil, ws[idx].Expires.Sub(now), reasons[idx], nil
		}
	}
	return newLease(p, k, ws, true), delay, "", nil
}

// unavailable applies the fail mode when the state backend fails. Bulk
// work is never sent unpaced, whatever the mode: fail-open keeps
// interactive lookups answering through an outage, while a job can wait,
// and a job sent unpaced could spend a day's quota before anyone noticed.
func (g *Governor) unavailable(p *policyState, k poolKey, err error, bulk bool) (*Lease, time.Duration, time.Duration, string, error) {
	if !g.failOpen || bulk {
		return nil, 0, 0, "", fmt.Errorf("pacing provider %q: %w", p.Provider, err)
	}
	if now := g.clock.Now().Unix(); g.failLog.Swap(now) != now {
		g.log.Warn("governance state unavailable; fail-open: calling upstream unpaced", "provider", p.Provider, "error", err)
	}
	return newLease(p, k, nil, false), 0, 0, "", nil
}

// Refund gives back the quota unit of a lease whose call never reached the
// upstream (not sent, unsafe input, or the caller left while waiting for a
// booked unit), so quota is spent only on real calls. The unit goes back to
// the counters it was taken from, whether or not the key is still in the
// pool.
func (g *Governor) Refund(ctx context.Context, l *Lease) {
	if l == nil || !l.pace || len(l.windows) == 0 {
		return
	}
	if err := g.state.Refund(ctx, l.windows); err != nil {
		g.log.Warn("refunding quota", "provider", l.Provider, "key_id", l.KeyID, "error", err)
	}
}

// Pause stops every replica from using the lease's key id for d: the
// upstream said slow down (429, 503 with Retry-After, remaining 0). A pause
// of a key swapped out of the pool is harmless; one whose id stays (a
// rotated secret) applies to it, since the account is the same.
func (g *Governor) Pause(ctx context.Context, l *Lease, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	until := g.clock.Now().Add(d)
	if err := g.state.PauseUntil(ctx, pauseKey(l.Provider, l.KeyID), until); err != nil {
		return fmt.Errorf("pausing provider %q key %q: %w", l.Provider, l.KeyID, err)
	}
	// When the pause ends the key restarts at its pace: waiters get their
	// units one interval apart rather than all at once into an upstream
	// that has just said it is full.
	if p := g.policies[l.Provider]; p != nil && !p.Rate.Unlimited() {
		if err := g.state.Drain(ctx, rateKey(l.Provider, l.KeyID), p.Rate, until); err != nil {
			return fmt.Errorf("pausing provider %q key %q: %w", l.Provider, l.KeyID, err)
		}
	}
	g.log.Debug("upstream key paused", "provider", l.Provider, "key_id", l.KeyID, "until", until.UTC().Format(time.RFC3339Nano))
	return nil
}

// Revoke takes provider's key keyID out of rotation on every replica, for
// RevokeFor (default 24h) or until Restore. Callers revoke only on an
// answer nobody but the gateway chose: the auth check's, never a lookup's.
// It revokes the secret keyID has in the current pool; an id the pool no
// longer has is ErrUnknownKey.
func (g *Governor) Revoke(ctx context.Context, provider, keyID string) error {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return err
	}
	if err := g.state.PauseUntil(ctx, k.revoked, g.clock.Now().Add(g.revokeFor)); err != nil {
		return fmt.Errorf("revoking provider %q key %q: %w", provider, keyID, err)
	}
	return nil
}

// operatorRevocation is how long an operator's revocation lasts: in
// practice until the key's secret changes, since a rotated secret starts
// unrevoked. The re-check never lifts it: an operator revokes a key that
// still works (it leaked), and the vendor accepting it proves nothing.
const operatorRevocation = 10 * 365 * 24 * time.Hour

// RevokeByOperator takes provider's key keyID out of rotation on every
// replica for as long as it holds its current secret: an operator's
// decision (POST /admin/v1/keys/{provider}/{key_id}/revoke), which no
// re-check undoes. Rotating the secret is how the key comes back.
func (g *Governor) RevokeByOperator(ctx context.Context, provider, keyID string) error {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return err
	}
	until := g.clock.Now().Add(operatorRevocation)
	// The marker first: a re-check that sees the revocation must also
	// see that it is not its to lift.
	if err := g.state.PauseUntil(ctx, operatorKey(k), until); err != nil {
		return fmt.Errorf("revoking provider %q key %q: %w", provider, keyID, err)
	}
	if err := g.state.PauseUntil(ctx, k.revoked, until); err != nil {
		return fmt.Errorf("revoking provider %q key %q: %w", provider, keyID, err)
	}
	return nil
}

// RevokedByOperator reports whether keyID's current secret was revoked by
// an operator (see RevokeByOperator).
func (g *Governor) RevokedByOperator(ctx context.Context, provider, keyID string) (bool, error) {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return false, err
	}
	until, err := g.state.PausedUntil(ctx, operatorKey(k))
	if err != nil {
		return false, fmt.Errorf("reading revocation of provider %q key %q: %w", provider, keyID, err)
	}
	return until.After(g.clock.Now()), nil
}

func operatorKey(k poolKey) string { return "o" + k.revoked[1:] }

// RevokeLease revokes exactly the secret l holds, on every replica: the
// secret an auth check refused, even if the key id's secret was rotated
// while the check ran (a rotated pool's new secret is not revoked on the
// old one's evidence; the old one is out of rotation already).
func (g *Governor) RevokeLease(ctx context.Context, l *Lease) error {
	key := l.revoked
	if key == "" {
		key = revocationKey(l.Provider, Key{ID: l.KeyID, Value: l.Key}, g.fp)
	}
	if err := g.state.PauseUntil(ctx, key, g.clock.Now().Add(g.revokeFor)); err != nil {
		return fmt.Errorf("revoking provider %q key %q: %w", l.Provider, l.KeyID, err)
	}
	return nil
}

// ErrRevokedByOperator: RestoreLease found the secret revoked by an
// operator, whose revocation no re-check lifts; it is left revoked.
var ErrRevokedByOperator = errors.New("revoked by an operator")

// RestoreLease ends the revocation of exactly the secret l holds: the
// secret a re-check accepted, not whatever its id holds now — unless an
// operator revoked it, before or while the check ran: then it stays
// revoked (ErrRevokedByOperator). The marker is read again after the
// restore, and the revocation put back if it appeared meanwhile, so an
// operator's revocation racing a re-check is never lost.
func (g *Governor) RestoreLease(ctx context.Context, l *Lease) error {
	key := l.revoked
	if key == "" {
		key = revocationKey(l.Provider, Key{ID: l.KeyID, Value: l.Key}, g.fp)
	}
	marker := "o" + key[1:]
	byOperator := func() (time.Time, error) {
		until, err := g.state.PausedUntil(ctx, marker)
		if err != nil {
			return time.Time{}, fmt.Errorf("restoring provider %q key %q: %w", l.Provider, l.KeyID, err)
		}
		return until, nil
	}
	if until, err := byOperator(); err != nil || until.After(g.clock.Now()) {
		if err != nil {
			return err
		}
		return fmt.Errorf("restoring provider %q key %q: %w", l.Provider, l.KeyID, ErrRevokedByOperator)
	}
	if err := g.state.Unpause(ctx, key); err != nil {
		return fmt.Errorf("restoring provider %q key %q: %w", l.Provider, l.KeyID, err)
	}
	until, err := byOperator()
	if err != nil || !until.After(g.clock.Now()) {
		return err
	}
	if err := g.state.PauseUntil(ctx, key, until); err != nil {
		return fmt.Errorf("keeping provider %q key %q revoked: %w", l.Provider, l.KeyID, err)
	}
	return fmt.Errorf("restoring provider %q key %q: %w", l.Provider, l.KeyID, ErrRevokedByOperator)
}

// InPool reports whether the secret l holds is still in its provider's
// pool under its id: false once the key was swapped out or its secret
// rotated while l was in use. A lookup refused with such a lease fails
// over at once: nothing about the current pool is learnt from it.
func (g *Governor) InPool(l *Lease) bool {
	_, k, err := g.key(l.Provider, l.KeyID)
	if err != nil {
		return false
	}
	return k.Value.Reveal() == l.Key.Reveal()
}

// Restore puts a revoked key back into rotation on every replica: its auth
// check passed again.
func (g *Governor) Restore(ctx context.Context, provider, keyID string) error {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return err
	}
	if err := g.state.Unpause(ctx, k.revoked); err != nil {
		return fmt.Errorf("restoring provider %q key %q: %w", provider, keyID, err)
	}
	return nil
}

// Revoked reports whether provider's key keyID is out of rotation.
func (g *Governor) Revoked(ctx context.Context, provider, keyID string) (bool, error) {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return false, err
	}
	until, err := g.state.PausedUntil(ctx, k.revoked)
	if err != nil {
		return false, fmt.Errorf("reading revocation of provider %q key %q: %w", provider, keyID, err)
	}
	return until.After(g.clock.Now()), nil
}

// AdoptRevocation carries a running revocation of provider's key keyID
// recorded under an older name of its secret (fingerprints are keyed, and
// the key that keys them rotates) to the name the pool uses now, so that
// renaming a fingerprint never puts a refused key back into rotation. It
// reports whether there was one to carry.
func (g *Governor) AdoptRevocation(ctx context.Context, provider, keyID string, olderFingerprints []string) (bool, error) {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return false, err
	}
	now, adopted := g.clock.Now(), false
	for _, fp := range olderFingerprints {
		old := revocationKey(provider, Key{ID: keyID}, func(secret.Value) string { return fp })
		if old == k.revoked {
			continue
		}
		until, err := g.state.PausedUntil(ctx, old)
		if err != nil {
			return adopted, fmt.Errorf("reading revocation of provider %q key %q: %w", provider, keyID, err)
		}
		if !until.After(now) {
			continue
		}
		if err := g.state.PauseUntil(ctx, k.revoked, until); err != nil {
			return adopted, fmt.Errorf("carrying revocation of provider %q key %q: %w", provider, keyID, err)
		}
		adopted = true
		// An operator's revocation stays one: its marker moves too, or
		// the first passing re-check would lift it.
		oldMarker := "o" + old[1:]
		mark, err := g.state.PausedUntil(ctx, oldMarker)
		if err != nil {
			return adopted, fmt.Errorf("reading revocation of provider %q key %q: %w", provider, keyID, err)
		}
		if mark.After(now) {
			if err := g.state.PauseUntil(ctx, operatorKey(k), mark); err != nil {
				return adopted, fmt.Errorf("carrying revocation of provider %q key %q: %w", provider, keyID, err)
			}
		}
	}
	return adopted, nil
}

// ClaimCheck reserves the right to check keyID's validity upstream for the
// next every, across every replica: true for exactly one caller per
// interval, so a flood of refusals costs at most one check per key per
// interval. A claim is never given back early: a caller that leaves must
// not let the next one check again at once.
func (g *Governor) ClaimCheck(ctx context.Context, provider, keyID string, every time.Duration) (bool, error) {
	_, k, err := g.key(provider, keyID)
	if err != nil {
		return false, err
	}
	ok, err := g.state.TryPause(ctx, "c"+k.revoked[1:], every)
	if err != nil {
		return false, fmt.Errorf("claiming the auth check of provider %q key %q: %w", provider, keyID, err)
	}
	return ok, nil
}

// AcquireKey is Acquire for one named key: a unit of its rate and quota
// for a call the gateway makes on its own behalf (an auth check), so that
// what the vendor counts, the governor counts too. It waits for rate within
// the policy's MaxWait and ctx, and honours the key's pause (not its
// revocation: re-checking a revoked key is the point).
func (g *Governor) AcquireKey(ctx context.Context, provider, keyID string) (*Lease, error) {
	p, k, err := g.key(provider, keyID)
	if err != nil {
		return nil, err
	}
	now := g.clock.Now()
	until, err := g.state.PausedUntil(ctx, k.pause)
	if err != nil {
		l, _, _, _, err := g.unavailable(p, k, err, false)
		return l, err
	}
	if until.After(now) {
		return nil, &LimitedError{Scope: "provider", Name: provider, Reason: "paused", RetryAfter: until.Sub(now)}
	}
	budget := p.MaxWait
	if d, ok := ctx.Deadline(); ok && d.Sub(now) < budget {
		budget = d.Sub(now)
	}
	l, delay, reason, err := g.take(ctx, p, k, now, max(budget, 0), false)
	if err != nil {
		l, _, _, _, err := g.unavailable(p, k, err, false)
		return l, err
	}
	if l == nil {
		return nil, &LimitedError{Scope: "provider", Name: provider, Reason: reason, RetryAfter: delay}
	}
	if delay > 0 {
		select {
		case <-ctx.Done():
			g.Refund(context.WithoutCancel(ctx), l)
			return nil, ctx.Err()
		case <-g.clock.After(delay):
		}
	}
	return l, nil
}
