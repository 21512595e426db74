// Package lookup is the lookup use case, in one place: who may ask which
// provider for what, the client's own allowance, the fan-out to providers,
// and what each provider's failure means. Callers — the HTTP API today,
// bulk jobs and inbound webhooks next — hand it an explicit Identity and a
// request, and get typed per-provider outcomes back; it never sees an
// *http.Request. Everything below one provider call (coalescing, governor,
// breaker, retries, transport) is the Caller's (internal/pipeline).
package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/minimise"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
)

// Caller runs one provider lookup for a key environment through the
// resilience chain (internal/pipeline, routed by provider in internal/app).
type Caller interface {
	Call(ctx context.Context, provider, environment string, req provider.Request) (pipeline.Outcome, error)
}

// PriorityCaller is a Caller that can also call at a priority: bulk work
// (an Identity with Bulk set) is called at pipeline.Bulk, so the governor
// keeps the interactive reserve from it and it never waits for capacity.
// internal/app's Caller is one; with a Caller that is not, bulk work is
// called like any lookup.
type PriorityCaller interface {
	Caller
	CallAt(ctx context.Context, provider, environment string, pri pipeline.Priority, req provider.Request) (pipeline.Outcome, error)
}

// Admitter enforces each client's own rate and quota: one unit per
// admitted request, whatever the number of providers.
type Admitter interface {
	AdmitClient(ctx context.Context, client string) error
}

// Identity is who asks, stated explicitly by whoever authenticated the
// request: the service reads nothing about the caller from a context.
type Identity struct {
	Client      string
	Environment string // selects the upstream keys
	// Providers is the client's scope. Empty means none: access is granted
	// by naming providers, never by omission.
	Providers []string
	Source    netip.Addr // invalid when unknown (jobs, tests)
	RequestID string
	// Markings are the request's TLP and PAP: its own, or the client's
	// defaults. A provider whose ceiling they exceed is not asked.
	Markings minimise.Markings
	// AllowRefresh: the client may ask past the cache (it spends quota).
	AllowRefresh bool
	// Admin: the client may run administrative operations (Purge).
	Admin bool
	// Bulk: an item of a bulk job (internal/jobs), worked by the queue on
	// the client's behalf rather than asked by the client now. Its provider
	// calls run at pipeline.Bulk: they never wait for capacity and leave the
	// interactive reserve alone; a provider without capacity for it fails
	// at once as upstream-rate-limited with a Retry-After.
	Bulk bool
}

// priority is the pipeline priority of id's provider calls.
func (id Identity) priority() pipeline.Priority {
	if id.Bulk {
		return pipeline.Bulk
	}
	return pipeline.Interactive
}

// Allows reports whether the identity may use provider.
func (id Identity) Allows(provider string) bool { return slices.Contains(id.Providers, provider) }

// Request is a lookup of one indicator at several providers.
type Request struct {
	Indicator string         // as the caller typed it (refanged and normalised here)
	Type      indicator.Type // hint; "" or auto: detected
	// Providers names the providers to ask; nil asks every permitted one
	// that supports the type. A non-nil empty list is an error (a
	// providers= parameter that names none).
	Providers []string
	// Refresh asks for a fresh answer past the cache; the identity must
	// allow it.
	Refresh bool
}

// ResolveRequest is the SocialEye drop-in: a free-text query passed to the
// resolve provider as its client wrote it.
type ResolveRequest struct {
	Query        string
	UpstreamType string // "" means auto
	Refresh      bool   // as Request.Refresh
}

// Status is how a provider's part of a lookup ended.
type Status string

const (
	StatusOK       Status = "ok"
	StatusNotFound Status = "not_found"
	StatusError    Status = "error"
	// StatusWithheld: query minimisation kept the indicator from this
	// provider (Outcome.Rule names the rule); nothing was sent.
	StatusWithheld Status = "withheld"
)

// CacheState says where an answer came from.
type CacheState string

const (
	// CacheMiss: the answer came from the upstream now (or, Shared, from
	// another caller's call made now).
	CacheMiss CacheState = "miss"
	// CacheHit: a cached answer within its TTL.
	CacheHit CacheState = "hit"
	// CacheStale: a cached answer past its TTL, served because the
	// upstream could not answer (stale_if_error).
	CacheStale CacheState = "stale"
	// CacheBypass: the client asked for a fresh answer (refresh).
	CacheBypass CacheState = "bypass"
	// CacheOff: the provider is not cached, or nothing was asked.
	CacheOff CacheState = "off"
)

// Result is a lookup's answer. On a request-level error it still holds
// what was learnt before the failure (the parsed indicator, the providers
// selected), for the caller's logs.
type Result struct {
	Indicator indicator.Indicator
	// Judged is the indicator as minimisation and purges see it: for a
	// lookup, Indicator; for a resolve, the query normalised when it
	// parses as an indicator (10[.]0[.]0[.]1 is 10.0.0.1), so an audit
	// search for an indicator finds it whichever way it was typed.
	Judged    indicator.Indicator
	Providers []string
	Outcomes  []Outcome // one per provider, in Providers order
}

// Outcome is one provider's part of a lookup, with the facts audit,
// metrics and the response need.
type Outcome struct {
	Provider  string
	Status    Status
	Data      json.RawMessage // the validated JSON object when StatusOK
	FetchedAt time.Time       // zero on error
	Failure   *Failure        // set when StatusError
	Cache     CacheState
	// Rule names the query-minimisation rule when StatusWithheld.
	Rule string

	KeyID          string // "" when no key was used
	Attempts       int
	Shared         bool // answered by another caller's identical in-flight call
	UpstreamStatus int
	Latency        time.Duration
	Units          int // rate/quota units spent upstream
}

// Auditor hears every lookup and resolve once it is decided — refused or
// answered — with who asked and the whole result (the parsed indicator,
// each provider's outcome), so the audit log records it under its own
// indicator policy. Like an observer it is called on the request path and
// must not block.
type Auditor interface {
	Audit(ctx context.Context, id Identity, op string, res Result, err error)
}

// Options assemble a Service.
type Options struct {
	// Providers in the order of lookup results.
	Providers []provider.Provider
	// ResolveProvider names the provider behind Resolve; "" disables it.
	ResolveProvider string
	Caller          Caller
	// Cache keeps answers (nil: nothing is cached); Policies says, per
	// provider, how long (a provider without one is not cached).
	Cache    *cache.Cache
	Policies map[string]cache.Policy
	// Withhold decides what must not be sent where (nil: nothing is
	// withheld).
	Withhold Withholder
	Admit    Admitter         // nil: no client limits
	Observer observe.Observer // nil: nobody listens
	Auditor  Auditor          // nil: nothing is audited
	Log      *slog.Logger
	Clock    clock.Clock
}

// Service answers lookups. It is immutable after New and safe for
// concurrent use.
type Service struct {
	providers map[string]provider.Provider
	order     []string
	resolve   string
	caller    Caller
	atCaller  PriorityCaller // caller, when it takes a priority; else nil
	cache     *cache.Cache
	policies  map[string]cache.Policy
	fills     *resilience.Coalescer[Outcome] // one fetch per cache key in this process (cached.go)
	withhold  Withholder
	admit     Admitter
	obs       observe.Observer
	auditor   Auditor
	log       *slog.Logger
	clock     clock.Clock
}

// New validates o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Caller == nil {
		return nil, errors.New("lookup: Caller is required")
	}
	s := &Service{providers: make(map[string]provider.Provider, len(o.Providers)), resolve: o.ResolveProvider,
		caller: o.Caller, cache: o.Cache, policies: o.Policies, fills: resilience.NewCoalescer[Outcome](), withhold: o.Withhold, admit: o.Admit, obs: o.Observer, auditor: o.Auditor, log: o.Log, clock: clock.Or(o.Clock)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.atCaller, _ = o.Caller.(PriorityCaller)
	for _, p := range o.Providers {
		if _, dup := s.providers[p.Name()]; dup {
			return nil, fmt.Errorf("lookup: duplicate provider %q", p.Name())
		}
		s.providers[p.Name()] = p
		s.order = append(s.order, p.Name())
	}
	if s.resolve != "" && s.providers[s.resolve] == nil {
		return nil, fmt.Errorf("lookup: resolve provider %q is not configured", s.resolve)
	}
	return s, nil
}

// Providers lists the configured providers in result order.
func (s *Service) Providers() []string { return slices.Clone(s.order) }

// ResolveProvider names the provider behind Resolve; "" when none is.
func (s *Service) ResolveProvider() string { return s.resolve }

// Lookup fans one indicator out to every selected provider, concurrently.
// A provider's failure is its own outcome; the error is for the request as
// a whole (bad input, scope, the client's allowance) and is a *Failure.
func (s *Service) Lookup(ctx context.Context, id Identity, req Request) (res Result, err error) {
	if s.auditor != nil {
		defer func() { s.auditor.Audit(ctx, id, "lookup", res, err) }()
	}
	return s.lookup(ctx, id, req)
}

func (s *Service) lookup(ctx context.Context, id Identity, req Request) (Result, error) {
	var res Result
	hint, err := indicator.ParseType(string(req.Type))
	if err != nil {
		return res, s.refuse(ctx, id, "lookup", paramFailure("type", err.Error()))
	}
	ind, err := indicator.Parse(req.Indicator, hint)
	if err != nil {
		return res, s.refuse(ctx, id, "lookup", paramFailure("indicator", err.Error()))
	}
	res.Indicator, res.Judged = ind, ind
	names, f := s.selectProviders(req.Providers, id, ind.Type)
	if f != nil {
		return res, s.refuse(ctx, id, "lookup", f)
	}
	res.Providers = names
	if req.Refresh && !id.AllowRefresh {
		return res, s.refuse(ctx, id, "lookup", refreshRefused(id))
	}
	// Withheld providers are decided first: a request that reaches none
	// is not charged to the client's allowance either.
	res.Outcomes = make([]Outcome, len(names))
	var asked []string
	for i, name := range names {
		if rule, withheld := s.withheld(name, id, ind); withheld {
			res.Outcomes[i] = s.withheldOutcome(ctx, id, "lookup", name, rule)
			continue
		}
		asked = append(asked, name)
	}
	if len(asked) == 0 {
		return res, nil
	}
	if f := s.admitClient(ctx, id, "lookup", asked); f != nil {
		return res, f
	}
	var wg sync.WaitGroup
	for i, name := range names {
		if res.Outcomes[i].Status == StatusWithheld {
			continue
		}
		wg.Go(func() {
			res.Outcomes[i] = s.one(ctx, id, "lookup", name, provider.Request{Indicator: ind, Client: id.Client}, req.Refresh, "", classifyLookup)
		})
	}
	wg.Wait()
	return res, nil
}

// Resolve is the SocialEye drop-in: the query goes to the resolve provider
// as sent, and its validated JSON object comes back unchanged. The error is
// for the request as a whole; the provider's failure is Outcomes[0]'s.
func (s *Service) Resolve(ctx context.Context, id Identity, req ResolveRequest) (res Result, err error) {
	if s.auditor != nil {
		defer func() { s.auditor.Audit(ctx, id, "resolve", res, err) }()
	}
	return s.resolveQuery(ctx, id, req)
}

func (s *Service) resolveQuery(ctx context.Context, id Identity, req ResolveRequest) (Result, error) {
	var res Result
	if s.resolve == "" {
		return res, s.refuse(ctx, id, "resolve", newFailure(KindNotFound, "no socialeye provider is configured for /v1/resolve"))
	}
	name := s.resolve
	res.Providers = []string{name}
	if !id.Allows(name) {
		return res, s.refuse(ctx, id, "resolve", newFailure(KindForbidden, fmt.Sprintf("client %s may not use provider %s", id.Client, name)))
	}
	typ, err := upstreamType(req.UpstreamType)
	if err != nil {
		return res, s.refuse(ctx, id, "resolve", paramFailure("type", err.Error()))
	}
	// A drop-in forwards what the client asked, as SocialEye would see it:
	// only our input safety checks apply (size, UTF-8, control
	// characters). Detection only names the type for logs and metrics; a
	// value we cannot classify (a full name, a CIDR) is still a valid
	// SocialEye query.
	query, err := indicator.CheckInput(req.Query)
	if err != nil {
		return res, s.refuse(ctx, id, "resolve", paramFailure("query", err.Error()))
	}
	res.Indicator = indicator.Indicator{Raw: req.Query, Value: query, Type: indicator.Username}
	// Minimisation judges the query as an indicator when it is one
	// (refanged and normalised: 10[.]0[.]0[.]1 is 10.0.0.1), else as the
	// free text it is.
	judged := res.Indicator
	if parsed, err := indicator.Parse(query, indicator.Auto); err == nil {
		res.Indicator.Type = parsed.Type
		judged = parsed
	}
	if req.Refresh && !id.AllowRefresh {
		return res, s.refuse(ctx, id, "resolve", refreshRefused(id))
	}
	res.Judged = judged
	if rule, withheld := s.withheld(name, id, judged); withheld {
		res.Outcomes = []Outcome{s.withheldOutcome(ctx, id, "resolve", name, rule)}
		return res, s.refuse(ctx, id, "resolve", withheldFailure(name, rule))
	}
	if f := s.admitClient(ctx, id, "resolve", res.Providers); f != nil {
		return res, f
	}
	preq := provider.Request{Indicator: res.Indicator, UpstreamType: typ, Client: id.Client}
	// The query goes upstream as typed, and is cached under it; a purge
	// names it normalised, as judged.
	res.Outcomes = []Outcome{s.one(ctx, id, "resolve", name, preq, req.Refresh, judged.Value, classifyResolve)}
	return res, nil
}

// classifier turns a provider's error into the caller's failure.
type classifier func(ctx context.Context, s *Service, id Identity, provider string, err error) *Failure

// one asks one provider — through the cache — and shapes its outcome. A
// panic below it is beyond any transport's recover (a job worker has none)
// and would end the process: it becomes this provider's internal failure,
// observed like any.
func (s *Service) one(ctx context.Context, id Identity, op, name string, req provider.Request, refresh bool, subject string, classify classifier) (out Outcome) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in provider lookup", "provider", name, "request_id", id.RequestID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			out = Outcome{Provider: name, Status: StatusError, Failure: internalFailure(), Cache: CacheMiss}
		}
		s.finished(ctx, id, op, out)
	}()
	return s.cached(ctx, id, name, req, refresh, subject, classify)
}

// call asks the provider through the pipeline and shapes its outcome.
func (s *Service) call(ctx context.Context, id Identity, name string, req provider.Request, classify classifier) (Outcome, pipeline.Outcome) {
	var po pipeline.Outcome
	var err error
	if s.atCaller != nil {
		po, err = s.atCaller.CallAt(ctx, name, id.Environment, id.priority(), req)
	} else {
		po, err = s.caller.Call(ctx, name, id.Environment, req)
	}
	out := Outcome{Provider: name, Cache: CacheMiss, KeyID: po.KeyID, Attempts: po.Attempts, Shared: po.Shared,
		UpstreamStatus: po.UpstreamStatus, Latency: po.Latency, Units: po.Units}
	switch {
	case err != nil:
		out.Status, out.Failure = StatusError, classify(ctx, s, id, name, err)
	case po.Result.NotFound:
		out.Status, out.FetchedAt = StatusNotFound, s.clock.Now().UTC()
	default:
		out.Status, out.FetchedAt, out.Data = StatusOK, s.clock.Now().UTC(), po.Result.Data
	}
	return out, po
}

// finished tells the observer one provider's outcome.
func (s *Service) finished(ctx context.Context, id Identity, op string, out Outcome) {
	if s.obs != nil {
		e := observe.Finished{Client: id.Client, Environment: id.Environment, RequestID: id.RequestID, Operation: op,
			Provider: out.Provider, KeyID: out.KeyID, Status: string(out.Status), Attempts: out.Attempts, Shared: out.Shared,
			UpstreamStatus: out.UpstreamStatus, Latency: out.Latency, Units: out.Units, Cache: string(out.Cache)}
		if e.Cache == "" {
			e.Cache = string(CacheOff)
		}
		if out.Failure != nil {
			e.Kind = string(out.Failure.Kind)
		}
		s.obs.Observe(ctx, e)
	}
}

// admitClient takes a unit of the client's own rate and quota once the
// request is known to be valid (a malformed request costs the client
// nothing), and before any upstream work.
func (s *Service) admitClient(ctx context.Context, id Identity, op string, providers []string) *Failure {
	if s.admit != nil {
		if err := s.admit.AdmitClient(ctx, id.Client); err != nil {
			return s.refuse(ctx, id, op, s.Classify(ctx, id, "", err))
		}
	}
	if s.obs != nil {
		s.obs.Observe(ctx, observe.Admitted{Client: id.Client, Environment: id.Environment, RequestID: id.RequestID,
			Operation: op, Providers: slices.Clone(providers)})
	}
	return nil
}

// refuse tells the observer a request was answered before any provider
// call, and returns f.
func (s *Service) refuse(ctx context.Context, id Identity, op string, f *Failure) *Failure {
	if s.obs != nil {
		s.obs.Observe(ctx, observe.Refused{Client: id.Client, Environment: id.Environment, RequestID: id.RequestID,
			Operation: op, Kind: string(f.Kind)})
	}
	return f
}
