package lookup

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/minimise"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/provider"
)

// Withholder is query minimisation: whether an indicator, with the
// request's markings, may be sent to a provider (internal/minimise).
type Withholder interface {
	// Check names the rule that withholds ind from provider, if one does.
	Check(provider string, m minimise.Markings, ind indicator.Indicator) (rule string, withheld bool)
}

// fillPoll is how often a replica waiting for another's fetch looks in the
// durable tier: short against an upstream call, long against a Redis GET.
const fillPoll = 20 * time.Millisecond

func (s *Service) withheld(name string, id Identity, ind indicator.Indicator) (string, bool) {
	if s.withhold == nil {
		return "", false
	}
	return s.withhold.Check(name, id.Markings, ind)
}

// withheldOutcome is a provider's part of a lookup that minimisation kept
// from it: never sent, cached or charged.
func (s *Service) withheldOutcome(ctx context.Context, id Identity, op, name, rule string) Outcome {
	out := Outcome{Provider: name, Status: StatusWithheld, Rule: rule, Cache: CacheOff}
	if s.obs != nil {
		s.obs.Observe(ctx, observe.Withheld{Client: id.Client, Environment: id.Environment, RequestID: id.RequestID,
			Operation: op, Provider: name, Rule: rule})
	}
	s.log.Info("indicator withheld from provider", "provider", name, "rule", rule, "client", id.Client,
		"request_id", id.RequestID)
	s.finished(ctx, id, op, out)
	return out
}

func withheldFailure(name, rule string) *Failure {
	return newFailure(KindWithheld, fmt.Sprintf("not sent to provider %s: the query matches query-minimisation rule %s", name, rule))
}

func refreshRefused(id Identity) *Failure {
	return newFailure(KindRefreshForbidden, fmt.Sprintf("client %s may not ask past the cache (a fresh answer spends quota); its operator can set allow_refresh: true", id.Client))
}

// cacheKey is req's key at provider name for id: the key environment
// keeps environments apart; the client does too where the provider says so.
func cacheKey(name string, id Identity, req provider.Request, pol cache.Policy, subject string) cache.Key {
	k := cache.Key{Provider: name, Environment: id.Environment, Type: string(req.Indicator.Type),
		Indicator: req.Indicator.Value, UpstreamType: req.UpstreamType}
	if subject != k.Indicator {
		k.Subject = subject
	}
	if pol.PerClient {
		k.Client = id.Client
	}
	return k
}

// cached answers from the cache when it holds a fresh answer, else asks
// the provider, keeps what may be kept, and falls back to a stale answer
// when the provider cannot answer. Identical concurrent misses make one
// upstream call (the pipeline's coalescing in-process, the fill lease
// across replicas) and one cache write: a caller that shared another's
// call does not write it again.
func (s *Service) cached(ctx context.Context, id Identity, name string, req provider.Request, refresh bool, subject string, classify classifier) Outcome {
	pol, ok := s.policies[name]
	if s.cache == nil || !ok || !pol.Enabled {
		out, _ := s.call(ctx, id, name, req, classify)
		if out.Cache = CacheOff; out.Shared {
			out.Cache = CacheMiss
		}
		return out
	}
	key := cacheKey(name, id, req, pol, subject)
	// Taken before anything is read: a purge from now on wins over what
	// this lookup reads or fetches (cache.Cache).
	epoch := s.cache.Epoch(name)
	if refresh {
		return s.miss(ctx, id, name, req, true, classify, key, pol, epoch, nil)
	}
	e, ok := s.cache.Get(ctx, key)
	if !ok {
		return s.miss(ctx, id, name, req, false, classify, key, pol, epoch, nil)
	}
	if !e.Fresh(s.clock.Now()) {
		return s.miss(ctx, id, name, req, false, classify, key, pol, epoch, &e)
	}
	return fromEntry(name, e, CacheHit)
}

// miss fetches key's answer once for every caller of this process that
// misses it at the same time (s.fills): the first looks in the cache once
// more — the answer of a fetch that just ended is there — then fetches,
// through the fill lease across replicas, and stores; the others share its
// outcome. Keeping the write inside the shared call is what makes N
// concurrent misses one upstream call and one write, and keeps the fill
// lease's polling to one waiter per process. stale, when set, may stand in
// for a failed fetch.
func (s *Service) miss(ctx context.Context, id Identity, name string, req provider.Request, refresh bool,
	classify classifier, key cache.Key, pol cache.Policy, epoch uint64, stale *cache.Entry) Outcome {
	// A caller joins only a fetch that began after the last purge of the
	// provider: one that began before may bring back what was purged (an
	// answer fetched with a key since revoked).
	flight := fillKey(key, epoch, refresh)
	if id.Bulk {
		// Bulk work fetches in a flight of its own: a fetch the governor
		// refused it must not become an interactive caller's answer. The
		// pipeline still makes one upstream call of the two (its
		// coalescing knows priorities).
		flight += "\x00bulk"
	}
	out, shared, err := s.fills.Do(ctx, flight, func(ctx context.Context) (Outcome, error) {
		if !refresh {
			if e, ok := s.cache.Get(ctx, key); ok && e.Fresh(s.clock.Now()) {
				return fromEntry(name, e, CacheHit), nil
			}
		}
		return s.fetch(ctx, id, name, req, refresh, classify, key, pol, epoch), nil
	})
	if err != nil {
		// This caller's deadline ended while it waited, or the fetch
		// panicked (recovered by the coalescer).
		out = Outcome{Provider: name, Status: StatusError, Failure: s.Classify(ctx, id, name, err), Cache: CacheMiss}
	}
	if shared {
		// The call is counted once, for the caller that made it.
		out.Shared, out.Attempts, out.Units = true, 0, 0
	}
	if out.Status == StatusError && stale != nil && staleable(out.Failure.Kind) && pol.ServesStale(*stale, s.clock.Now()) &&
		s.cache.Current(name, epoch) { // a purge since (a revoked key's) takes the stale answer too
		o := fromEntry(name, *stale, CacheStale)
		o.KeyID, o.Attempts, o.UpstreamStatus, o.Latency, o.Units = out.KeyID, out.Attempts, out.UpstreamStatus, out.Latency, out.Units
		s.log.Warn("provider could not answer; serving a stale cached answer", "provider", name,
			"kind", string(out.Failure.Kind), "age", s.clock.Now().Sub(stale.FetchedAt).Round(time.Second).String(),
			"request_id", id.RequestID)
		return o
	}
	return out
}

// Filling is how many callers of this process wait on the fetch of key
// (0 when none is in flight): what tests wait for instead of sleeping.
func (s *Service) Filling(key cache.Key) int {
	return s.fills.Waiters(fillKey(key, s.cache.Epoch(key.Provider), false))
}

// fillKey names the shared fetch of key begun at epoch.
func fillKey(key cache.Key, epoch uint64, refresh bool) string {
	k := key.String() + "\x00" + strconv.FormatUint(epoch, 10)
	if refresh {
		k += "\x00refresh" // fresh answers only: never joins a reader of the cache
	}
	return k
}

// fetch asks the provider for key — through the fill lease when replicas
// share the cache — and stores what may be kept.
func (s *Service) fetch(ctx context.Context, id Identity, name string, req provider.Request, refresh bool,
	classify classifier, key cache.Key, pol cache.Policy, epoch uint64) Outcome {
	var out Outcome
	fetch := func(ctx context.Context) error {
		s.store(ctx, id, name, req, classify, key, pol, epoch, &out)
		return nil
	}
	if !refresh && s.cache.Coordinated() {
		lease := max(pol.Lease, time.Second)
		e, shared, _ := s.cache.Fill(ctx, key, lease, fillPoll, lease, fetch)
		if shared {
			o := fromEntry(name, e, CacheMiss)
			o.Shared = true
			return o
		}
	} else {
		_ = fetch(ctx)
	}
	if refresh {
		out.Cache = CacheBypass
	}
	return out
}

// store asks the provider and keeps its answer when the policy allows it.
func (s *Service) store(ctx context.Context, id Identity, name string, req provider.Request, classify classifier,
	key cache.Key, pol cache.Policy, epoch uint64, out *Outcome) {
	o, po := s.call(ctx, id, name, req, classify)
	*out = o
	if o.Status == StatusError || (po.Shared && !pol.PerClient) {
		return
	}
	if e, keep := pol.Entry(o.FetchedAt, key.Type, o.Data, o.Status == StatusNotFound); keep {
		s.cache.Put(ctx, key, e, epoch)
	}
}

func fromEntry(name string, e cache.Entry, state CacheState) Outcome {
	o := Outcome{Provider: name, Status: StatusOK, Data: json.RawMessage(e.Data), FetchedAt: e.FetchedAt.UTC(), Cache: state}
	if e.NotFound {
		o.Status, o.Data = StatusNotFound, nil
	}
	return o
}

// staleable says which failures a stale answer may stand in for: the
// provider could not answer (breaker open, no key, paused, rate limited,
// timed out, failed, answered garbage), not the request's own faults.
func staleable(k Kind) bool {
	switch k {
	case KindUnavailable, KindUpstreamRateLimited, KindUpstreamUnavailable, KindUpstreamError, KindUpstreamTimeout,
		KindUpstreamInvalid, KindUpstreamAuth, KindUpstreamTLS:
		return true
	}
	return false
}
