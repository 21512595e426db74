package app

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"slices"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/lookup"
)

// openAlerts builds the alert engine over the store (alerts are durable)
// and the metrics; it watches the request path through the observer
// chain, authentication failures through the gateway's audit trail, every
// admitted lookup through the lookup service's auditor, and polls the
// governor's quotas, the keys' ages and states, and the bulk queue's
// dead-letter count. Nil when alerts.enabled is false.
func (a *App) openAlerts(cfg *config.Config) error {
	if !cfg.Alerts.Enabled {
		return nil
	}
	o, err := alert.FromConfig(cfg, func() *config.Secrets { return a.live.Load().secrets })
	if err != nil {
		return fmt.Errorf("building alert sinks: %w", err)
	}
	o.Store = alert.NewStore(a.store)
	o.Clock, o.Log = a.clock, a.log
	sinks := make([]string, 0, len(o.Sinks)+1)
	for _, s := range o.Sinks {
		sinks = append(sinks, s.Name)
	}
	if !slices.Contains(sinks, "log") {
		sinks = append(sinks, "log") // the engine adds it
	}
	o.Meter = a.metrics.Alerts(alert.RuleNames(), sinks)
	o.Quotas = alert.QuotaFunc(a.quotaUsage)
	o.KeyStates = alert.KeyStateFunc(a.keyStates)
	o.KeyAges = alert.KeyAgeFunc(func(context.Context) ([]alert.KeyAge, error) {
		var out []alert.KeyAge
		for _, k := range a.keyInfos(context.Background(), false) {
			if !k.ChangedAt.IsZero() {
				out = append(out, alert.KeyAge{Provider: k.Provider, KeyID: k.KeyID, ChangedAt: k.ChangedAt, Source: k.AgeSource})
			}
		}
		return out, nil
	})
	if cfg.Jobs.On() {
		// The queue opens after the engine (openJobs): read it at each
		// poll, not now, when a.jobs is still nil. Jobs off: no input,
		// and the dead_letters rule never fires.
		o.DeadLetters = alert.DeadLetterFunc(a.deadLetterCount)
	}
	if a.alerts, err = alert.New(o); err != nil {
		return fmt.Errorf("building the alert engine: %w", err)
	}
	a.digestSeed = maphash.MakeSeed()
	return nil
}

// quotaUsage is every key's day and month usage, for the quota rule: the
// metrics' quota gauges, read the same way.
func (a *App) quotaUsage(ctx context.Context) ([]alert.QuotaUsage, error) {
	gauges, err := quotaGauges{a: a, gov: a.calls.gov}.QuotaGauges(ctx)
	out := make([]alert.QuotaUsage, len(gauges))
	for i, g := range gauges {
		out[i] = alert.QuotaUsage{Provider: g.Provider, KeyID: g.KeyID, Period: g.Period, Used: g.Limit - g.Remaining, Limit: g.Limit}
	}
	return out, err
}

// errNoJobQueue: the job queue is not open (yet).
var errNoJobQueue = errors.New("the job queue is not open")

// deadLetterCount is the number of items in the dead-letter queue, for the
// dead_letters rule: the shared store's count, the same on every replica
// (the intelgate_job_items_dead gauge reads it the same way).
func (a *App) deadLetterCount(ctx context.Context) (int, error) {
	if a.jobs == nil {
		return 0, errNoJobQueue
	}
	_, _, dead, err := a.jobs.JobGauges(ctx)
	return dead, err
}

// keyStates is every pooled key's revocation state, for the key_rejected
// rule: a confirmed alert resolves once its key is no longer revoked, also
// when no KeyRestored reached this replica (the revocation's lease ran
// out, the secret was rotated, another replica restored it). A key whose
// state cannot be read is left out: unknown, its alert kept.
func (a *App) keyStates(ctx context.Context) ([]alert.KeyState, error) {
	var out []alert.KeyState
	var errs []error
	gov := a.calls.gov
	for _, name := range slices.Sorted(maps.Keys(a.live.Load().cfg.Providers)) {
		for _, k := range gov.Keys(name) {
			revoked, err := gov.Revoked(ctx, name, k.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, alert.KeyState{Provider: name, KeyID: k.ID, Revoked: revoked})
		}
	}
	return out, errors.Join(errs...)
}

// alertAuditor hands every lookup the service decided to the alert engine
// (volume, distinct indicators, new types, providers and networks), after
// the audit recorder. The indicator reaches the engine only as a hash
// under a seed of this process, never stored or sent anywhere: the engine
// counts distinct values, it never needs to know which.
type alertAuditor struct {
	next   lookup.Auditor
	alerts *alert.Engine
	seed   maphash.Seed
}

func (x alertAuditor) Audit(ctx context.Context, id lookup.Identity, op string, res lookup.Result, err error) {
	if x.next != nil {
		x.next.Audit(ctx, id, op, res, err)
	}
	if id.Client == "" || res.Judged.Value == "" {
		return // refused before it was judged: not a query the client made
	}
	if id.Bulk {
		// A bulk job's items are the queue's pace, from no network: the
		// volume, pattern and source rules judge what clients ask
		// interactively (every job would look like enumeration).
		return
	}
	digest := maphash.String(x.seed, string(res.Judged.Type)+"\x00"+res.Judged.Value)
	x.alerts.Request(id.Client, id.Source, digest, string(res.Judged.Type), res.Providers)
}

// alertTrail is the gateway's audit trail with authentication failures
// also reported to the alert engine.
type alertTrail struct {
	gateway.AuditTrail
	alerts *alert.Engine
}

func (x alertTrail) AuthFailed(src netip.Addr, reason, client, requestID string) {
	x.AuditTrail.AuthFailed(src, reason, client, requestID)
	if reason != audit.AuthSourceBlocked { // a note on a failure already reported, not one more
		x.alerts.AuthFailed(src, reason, client)
	}
}

// AuthBlocked counts a failure refused while its source is blocked.
func (x alertTrail) AuthBlocked(src netip.Addr) {
	x.alerts.AuthFailed(src, audit.AuthUnknownToken, "")
}

// lookupAuditor is the lookup service's auditor: the audit log, and the
// alert engine when alerts are on.
func (a *App) lookupAuditor() lookup.Auditor {
	if a.alerts == nil {
		return a.recorder
	}
	return alertAuditor{next: a.recorder, alerts: a.alerts, seed: a.digestSeed}
}

// auditTrail is the gateway's audit trail: the audit log, and the alert
// engine when alerts are on.
func (a *App) auditTrail() gateway.AuditTrail {
	if a.alerts == nil {
		return a.recorder
	}
	return alertTrail{AuditTrail: a.recorder, alerts: a.alerts}
}

// secretsStale tells the alert engine which secret sources fail now and
// which recovered since the last refresh.
func (a *App) secretsStale(before, now *config.Secrets) {
	if a.alerts == nil {
		return
	}
	failing := map[string]bool{}
	for _, s := range now.Stale() {
		failing[s.Field] = true
		a.alerts.SecretFailed(s.Field, s.Ref.String(), s.Err)
	}
	if before == nil {
		return
	}
	for _, s := range before.Stale() {
		if !failing[s.Field] {
			a.alerts.SecretRecovered(s.Field)
		}
	}
}

// alertsReloaded tells the alert engine the clients and keys a reload
// installed: a new client is watched (and learns its baseline afresh), a
// removed one forgotten; a new key id may appear in labels.
func (a *App) alertsReloaded(cfg *config.Config) {
	if a.alerts == nil {
		return
	}
	clients := map[string]alert.Client{}
	for name, c := range cfg.Clients {
		clients[name] = alert.Client{SourceCIDRs: len(c.SourceCIDRs) > 0}
	}
	keys := map[string][]string{}
	for name, p := range cfg.Providers {
		for _, k := range p.Keys {
			keys[name] = append(keys[name], k.ID)
		}
	}
	a.alerts.SetClients(clients)
	a.alerts.SetProviders(slices.Sorted(maps.Keys(cfg.Providers)), keys)
}

// alertAdmin serves the admin API's alert routes (nil when alerts are off:
// the routes are absent).
func (a *App) alertAdmin() gateway.Alerts {
	if a.alerts == nil {
		return nil
	}
	return a.alerts
}
