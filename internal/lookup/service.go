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

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
)

// Caller runs one provider lookup for a key environment through the
// resilience chain (internal/pipeline, routed by provider in internal/app).
type Caller interface {
	Call(ctx context.Context, provider, environment string, req provider.Request) (pipeline.Outcome, error)
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
	// TLP and PAP will carry the request's sharing markings (query
	// minimisation issue).
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
}

// ResolveRequest is the SocialEye drop-in: a free-text query passed to the
// resolve provider as its client wrote it.
type ResolveRequest struct {
	Query        string
	UpstreamType string // "" means auto
}

// Status is how a provider's part of a lookup ended.
type Status string

const (
	StatusOK       Status = "ok"
	StatusNotFound Status = "not_found"
	StatusError    Status = "error"
)

// CacheState says where an answer came from. Until the cache lands every
// answer is a miss.
type CacheState string

// CacheMiss: the answer came from the upstream now.
const CacheMiss CacheState = "miss"

// Result is a lookup's answer. On a request-level error it still holds
// what was learnt before the failure (the parsed indicator, the providers
// selected), for the caller's logs.
type Result struct {
	Indicator indicator.Indicator
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

	KeyID          string // "" when no key was used
	Attempts       int
	Shared         bool // answered by another caller's identical in-flight call
	UpstreamStatus int
	Latency        time.Duration
	Units          int // rate/quota units spent upstream
}

// Options assemble a Service.
type Options struct {
	// Providers in the order of lookup results.
	Providers []provider.Provider
	// ResolveProvider names the provider behind Resolve; "" disables it.
	ResolveProvider string
	Caller          Caller
	Admit           Admitter         // nil: no client limits
	Observer        observe.Observer // nil: nobody listens
	Log             *slog.Logger
	Clock           clock.Clock
}

// Service answers lookups. It is immutable after New and safe for
// concurrent use.
type Service struct {
	providers map[string]provider.Provider
	order     []string
	resolve   string
	caller    Caller
	admit     Admitter
	obs       observe.Observer
	log       *slog.Logger
	clock     clock.Clock
}

// New validates o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Caller == nil {
		return nil, errors.New("lookup: Caller is required")
	}
	s := &Service{providers: make(map[string]provider.Provider, len(o.Providers)), resolve: o.ResolveProvider,
		caller: o.Caller, admit: o.Admit, obs: o.Observer, log: o.Log, clock: clock.Or(o.Clock)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
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
func (s *Service) Lookup(ctx context.Context, id Identity, req Request) (Result, error) {
	var res Result
	hint, err := indicator.ParseType(string(req.Type))
	if err != nil {
		return res, s.refuse(ctx, id, "lookup", paramFailure("type", err.Error()))
	}
	ind, err := indicator.Parse(req.Indicator, hint)
	if err != nil {
		return res, s.refuse(ctx, id, "lookup", paramFailure("indicator", err.Error()))
	}
	res.Indicator = ind
	names, f := s.selectProviders(req.Providers, id, ind.Type)
	if f != nil {
		return res, s.refuse(ctx, id, "lookup", f)
	}
	res.Providers = names
	if f := s.admitClient(ctx, id, "lookup", names); f != nil {
		return res, f
	}
	res.Outcomes = make([]Outcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			res.Outcomes[i] = s.one(ctx, id, "lookup", name, provider.Request{Indicator: ind, Client: id.Client}, classifyLookup)
		})
	}
	wg.Wait()
	return res, nil
}

// Resolve is the SocialEye drop-in: the query goes to the resolve provider
// as sent, and its validated JSON object comes back unchanged. The error is
// for the request as a whole; the provider's failure is Outcomes[0]'s.
func (s *Service) Resolve(ctx context.Context, id Identity, req ResolveRequest) (Result, error) {
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
	if parsed, err := indicator.Parse(query, indicator.Auto); err == nil {
		res.Indicator.Type = parsed.Type
	}
	if f := s.admitClient(ctx, id, "resolve", res.Providers); f != nil {
		return res, f
	}
	preq := provider.Request{Indicator: res.Indicator, UpstreamType: typ, Client: id.Client}
	res.Outcomes = []Outcome{s.one(ctx, id, "resolve", name, preq, classifyResolve)}
	return res, nil
}

// classifier turns a provider's error into the caller's failure.
type classifier func(ctx context.Context, s *Service, id Identity, provider string, err error) *Failure

// one asks one provider and shapes its outcome. A panic below it is beyond
// any transport's recover (a job worker has none) and would end the
// process: it becomes this provider's internal failure, observed like any.
func (s *Service) one(ctx context.Context, id Identity, op, name string, req provider.Request, classify classifier) (out Outcome) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in provider lookup", "provider", name, "request_id", id.RequestID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			out = Outcome{Provider: name, Status: StatusError, Failure: internalFailure(), Cache: CacheMiss}
		}
		s.finished(ctx, id, op, out)
	}()
	po, err := s.caller.Call(ctx, name, id.Environment, req)
	out = Outcome{Provider: name, Cache: CacheMiss, KeyID: po.KeyID, Attempts: po.Attempts, Shared: po.Shared,
		UpstreamStatus: po.UpstreamStatus, Latency: po.Latency, Units: po.Units}
	switch {
	case err != nil:
		out.Status, out.Failure = StatusError, classify(ctx, s, id, name, err)
	case po.Result.NotFound:
		out.Status, out.FetchedAt = StatusNotFound, s.clock.Now().UTC()
	default:
		out.Status, out.FetchedAt, out.Data = StatusOK, s.clock.Now().UTC(), po.Result.Data
	}
	return out
}

// finished tells the observer one provider's outcome.
func (s *Service) finished(ctx context.Context, id Identity, op string, out Outcome) {
	if s.obs != nil {
		e := observe.Finished{Client: id.Client, Environment: id.Environment, RequestID: id.RequestID, Operation: op,
			Provider: out.Provider, KeyID: out.KeyID, Status: string(out.Status), Attempts: out.Attempts, Shared: out.Shared,
			UpstreamStatus: out.UpstreamStatus, Latency: out.Latency, Units: out.Units, Cache: string(out.Cache)}
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
