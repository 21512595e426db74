package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/observe"
)

// Options assemble a Cache.
type Options struct {
	// Hot is the in-process tier (nil: none; every read goes to Durable).
	Hot Tier
	// Durable is the sealed tier (nil: none; nothing survives a restart).
	Durable Tier
	// Leaser elects the replica that fetches a missing key (nil: each
	// replica fetches on its own; in-process coalescing still applies).
	Leaser Leaser
	// LeaseID names a key's lease without revealing it (the seal keyring's
	// index HMAC); required with Leaser.
	LeaseID func(Key) string
	// Bus carries purges to every replica (nil: this process only).
	Bus      Broadcaster
	Observer observe.Observer
	Log      *slog.Logger
	Clock    clock.Clock
}

// Cache is the two tiers put together for the lookup service: reads go to
// the hot tier, then the durable one (refilling the hot tier); writes go
// to both; a purge clears the durable tier once and every replica's hot
// tier. A failing tier is logged, counted and treated as a miss: the cache
// never makes a lookup fail.
//
// Purges win over work that started before them. Every purge moves its
// provider's epoch (or every provider's) on when it begins, and is
// counted as running until it has cleared both tiers; a write carries the
// epoch its read or fetch began at and is dropped when the epoch has
// moved since or a purge of its provider is running. So an answer fetched
// before a purge — with a key that the purge's revocation just condemned,
// say — is not written back after it, and a durable read that raced the
// purge does not refill the hot tier. The check and the write hold gate's
// read lock, the epoch moves under its write lock: a write that passed the
// check lands before the purge starts clearing. Across replicas the epoch
// is moved when the purge arrives over the Bus; a write on another
// replica between the publisher's durable purge and the message's arrival
// can still land (milliseconds with Redis, a poll interval with SQLite).
type Cache struct {
	o   Options
	log *slog.Logger
	clk clock.Clock

	gate   sync.RWMutex
	all    purgeState // purges of every provider
	epochs sync.Map   // provider → *purgeState
}

// purgeState is one scope's purge epoch and how many of its purges are
// clearing tiers right now.
type purgeState struct {
	epoch   atomic.Uint64
	running atomic.Int64
}

// Epoch is provider's purge epoch now: what a read or fetch that may end in
// a write takes first, and hands to Put.
func (c *Cache) Epoch(provider string) uint64 {
	return c.all.epoch.Load() + c.stateOf(provider).epoch.Load()
}

// Current reports whether no purge of provider began since epoch: a stale
// entry read at epoch may still stand in for a failed upstream.
func (c *Cache) Current(provider string, epoch uint64) bool { return c.Epoch(provider) == epoch }

func (c *Cache) stateOf(provider string) *purgeState {
	if e, ok := c.epochs.Load(provider); ok {
		return e.(*purgeState)
	}
	e, _ := c.epochs.LoadOrStore(provider, new(purgeState))
	return e.(*purgeState)
}

func (c *Cache) scopeState(s Scope) *purgeState {
	if s.Provider == "" {
		return &c.all
	}
	return c.stateOf(s.Provider)
}

// beginPurge moves s's epoch on and marks a purge of it running, once no
// checked write is in flight; endPurge marks it done. Between the two no
// write of s's providers lands, whatever epoch it carries: a read that
// began after the epoch moved may still have seen what the purge is
// about to clear.
func (c *Cache) beginPurge(s Scope) {
	st := c.scopeState(s)
	c.gate.Lock()
	defer c.gate.Unlock()
	st.running.Add(1)
	st.epoch.Add(1)
}

func (c *Cache) endPurge(s Scope) {
	st := c.scopeState(s)
	c.gate.Lock()
	defer c.gate.Unlock()
	st.epoch.Add(1)
	st.running.Add(-1)
}

// putIf writes e to tier when provider's epoch is still epoch and no purge
// of it is running.
func (c *Cache) putIf(ctx context.Context, tier Tier, k Key, e Entry, epoch uint64) (bool, error) {
	c.gate.RLock()
	defer c.gate.RUnlock()
	if c.Epoch(k.Provider) != epoch || c.all.running.Load() > 0 || c.stateOf(k.Provider).running.Load() > 0 {
		return false, nil
	}
	return true, tier.Put(ctx, k, e)
}

// New builds a Cache.
func New(o Options) (*Cache, error) {
	if o.Leaser != nil && o.LeaseID == nil {
		return nil, errors.New("cache: LeaseID is required with a Leaser")
	}
	c := &Cache{o: o, log: o.Log, clk: clock.Or(o.Clock)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Get returns k's live entry (fresh or stale: the caller decides with
// Entry.Fresh), from the hot tier or else the durable one.
func (c *Cache) Get(ctx context.Context, k Key) (Entry, bool) {
	now := c.clk.Now()
	epoch := c.Epoch(k.Provider)
	if c.o.Hot != nil {
		e, ok, err := c.o.Hot.Get(ctx, k)
		c.read(ctx, k, "memory", e, ok, err, now)
		if ok && err == nil {
			return e, true
		}
	}
	if c.o.Durable == nil {
		return Entry{}, false
	}
	e, ok, err := c.o.Durable.Get(ctx, k)
	c.read(ctx, k, "durable", e, ok, err, now)
	if err != nil || !ok {
		return Entry{}, false
	}
	if c.o.Hot != nil {
		if _, err := c.putIf(ctx, c.o.Hot, k, e, epoch); err != nil {
			c.written(ctx, k, "memory", e, err)
		}
	}
	return e, true
}

func (c *Cache) read(ctx context.Context, k Key, tier string, e Entry, ok bool, err error, now time.Time) {
	outcome := "miss"
	switch {
	case errors.Is(err, ErrCorrupt):
		outcome = "corrupt"
		c.log.Warn("cache record failed authentication and was dropped", "provider", k.Provider, "tier", tier, "error", err)
	case err != nil:
		outcome = "error"
		c.log.Warn("cache read failed; answering from the upstream", "provider", k.Provider, "tier", tier, "error", err)
	case ok && e.Fresh(now):
		outcome = "hit"
	case ok:
		outcome = "stale"
	}
	if c.o.Observer != nil {
		c.o.Observer.Observe(ctx, observe.CacheRead{Provider: k.Provider, Tier: tier, Outcome: outcome})
	}
}

// Put stores e under k in both tiers, unless a purge of k's provider
// began since epoch (Epoch, taken before the fetch). A durable write that
// fails is logged and counted; the answer is still served.
func (c *Cache) Put(ctx context.Context, k Key, e Entry, epoch uint64) {
	if c.o.Hot != nil {
		ok, err := c.putIf(ctx, c.o.Hot, k, e, epoch)
		if !ok {
			return // purged since: written nowhere
		}
		c.written(ctx, k, "memory", e, err)
	}
	if c.o.Durable != nil {
		ok, err := c.putIf(ctx, c.o.Durable, k, e, epoch)
		if !ok {
			return
		}
		if err != nil {
			c.log.Warn("cache write failed; the answer is served but not kept", "provider", k.Provider, "tier", "durable", "error", err)
		}
		c.written(ctx, k, "durable", e, err)
	}
}

func (c *Cache) written(ctx context.Context, k Key, tier string, e Entry, err error) {
	if c.o.Observer != nil {
		c.o.Observer.Observe(ctx, observe.CacheWritten{Provider: k.Provider, Tier: tier, Bytes: len(e.Data), Err: err != nil})
	}
}

// Purge removes the entries in s from the durable tier and from every
// replica's hot tier, and says how many durable entries it removed (the
// hot tier's copies are not counted twice). by and reason are for the log
// and the observers (observe.CachePurged).
func (c *Cache) Purge(ctx context.Context, s Scope, by, reason string) (int, error) {
	n, errs := c.clear(ctx, s)
	if c.o.Bus != nil {
		// Told to the other replicas even when the caller's deadline
		// ended during the durable purge: their hot tiers must go too.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		err := c.o.Bus.Publish(pctx, s)
		cancel()
		if err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
	}
	c.log.Log(ctx, level, "cache purged", "provider", providerLabel(s.Provider), "indicator", len(s.Indicators) > 0,
		"entries", n, "by", by, "reason", reason, "error", err)
	if c.o.Observer != nil {
		c.o.Observer.Observe(ctx, observe.CachePurged{Provider: s.Provider, Indicator: len(s.Indicators) > 0, Count: n, By: by, Reason: reason})
	}
	return n, err
}

func providerLabel(p string) string {
	if p == "" {
		return "(all)"
	}
	return p
}

// Run applies purges published by other replicas to this hot tier until
// ctx ends. Without a Bus or a hot tier there is nothing to do.
func (c *Cache) Run(ctx context.Context) error {
	if c.o.Bus == nil || c.o.Hot == nil {
		<-ctx.Done()
		return nil
	}
	return c.o.Bus.Subscribe(ctx, func(s Scope) {
		c.beginPurge(s)
		defer c.endPurge(s)
		if _, err := c.o.Hot.Purge(ctx, s); err != nil {
			c.log.Warn("applying a purge from another replica failed", "provider", providerLabel(s.Provider), "error", err)
		}
	})
}

// clear removes s's entries from both tiers, as one purge: no write of
// s's providers lands meanwhile (beginPurge). It returns the durable
// entries removed (the hot tier's when there is no durable tier).
func (c *Cache) clear(ctx context.Context, s Scope) (int, []error) {
	c.beginPurge(s)
	defer c.endPurge(s)
	n := 0
	var errs []error
	if c.o.Durable != nil {
		d, err := c.o.Durable.Purge(ctx, s)
		n += d
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.o.Hot != nil {
		h, err := c.o.Hot.Purge(ctx, s)
		if c.o.Durable == nil {
			n += h
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errs
}

// publishTimeout bounds telling the other replicas of a purge.
const publishTimeout = 5 * time.Second

// maxFillPoll caps the back-off of a replica waiting for another's fetch:
// many waiters on one slow key must not hammer Redis.
const maxFillPoll = 250 * time.Millisecond

// Coordinated reports whether replicas elect one fetcher per key.
func (c *Cache) Coordinated() bool { return c.o.Leaser != nil }

// Fill runs fetch for k at most once across replicas: the replica holding
// k's lease fetches (and stores the answer); the others poll the durable
// tier every poll for its answer until it appears (shared is then true),
// the lease is free again (the holder failed, or died and its lease
// expired: they compete for it anew), or they have waited maxWait or ctx
// ends: then they fetch themselves, so no caller depends on another
// replica for longer than it would wait for the upstream. ttl bounds the
// lease: a holder's fetch should end within it.
func (c *Cache) Fill(ctx context.Context, k Key, ttl, poll, maxWait time.Duration, fetch func(ctx context.Context) error) (e Entry, shared bool, err error) {
	if c.o.Leaser == nil {
		return Entry{}, false, fetch(ctx)
	}
	id := c.o.LeaseID(k)
	epoch := c.Epoch(k.Provider)
	deadline := time.Now().Add(maxWait)
	for {
		held, release, lerr := c.o.Leaser.Lease(ctx, id, ttl)
		if lerr != nil {
			// Redis is down: fetch without it (pacing decides, per
			// shared.fail).
			c.log.Warn("cache fill lease failed; fetching without it", "provider", k.Provider, "error", lerr)
			return Entry{}, false, fetch(ctx)
		}
		if held {
			// Look once more before fetching: a holder stores its answer
			// and then releases, so a waiter whose last look came just
			// before the store and whose lease came just after the
			// release would fetch the same answer a second time.
			if e, ok := c.freshDurable(ctx, k, epoch); ok {
				release()
				return e, true, nil
			}
			err := fetch(ctx)
			release()
			return Entry{}, false, err
		}
		if e, ok := c.awaitDurable(ctx, k, poll, epoch); ok {
			return e, true, nil
		}
		poll = min(2*poll, maxFillPoll)
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return Entry{}, false, fetch(ctx)
		}
	}
}

// awaitDurable polls the durable tier once after poll: an answer the
// lease holder stored, fresh.
func (c *Cache) awaitDurable(ctx context.Context, k Key, poll time.Duration, epoch uint64) (Entry, bool) {
	t := time.NewTimer(poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Entry{}, false
	case <-t.C:
	}
	return c.freshDurable(ctx, k, epoch)
}

// freshDurable returns k's fresh entry in the durable tier, refilling the
// hot tier with it.
func (c *Cache) freshDurable(ctx context.Context, k Key, epoch uint64) (Entry, bool) {
	if c.o.Durable == nil {
		return Entry{}, false
	}
	e, ok, err := c.o.Durable.Get(ctx, k)
	if err != nil || !ok || !e.Fresh(c.clk.Now()) {
		return Entry{}, false
	}
	if c.o.Hot != nil {
		_, _ = c.putIf(ctx, c.o.Hot, k, e, epoch)
	}
	return e, true
}
