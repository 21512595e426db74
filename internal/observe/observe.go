// Package observe is the seam where metrics, audit and alerts attach to the
// request path (and the durable records beneath it): the lookup service and each provider's pipeline report
// every step that matters to an Observer, and nothing else in those layers
// knows who listens. It follows River's hooks: one small interface, typed
// values, no behaviour of the path depends on an observer.
//
// Events are plain values that never carry a secret, a token or an upstream
// body: an observer may log or store them as they are. Indicators are
// absent too; an audit observer that needs one gets it from the lookup
// service's result under its own indicator policy.
package observe

import (
	"context"
	"time"
)

// Observer hears the steps of lookups. Observe is called synchronously on
// the request path, from many goroutines at once: it must be safe for
// concurrent use, fast, and must not block (queue slow work) or call back
// into the layer that reports (BreakerChanged is reported with the
// breaker's lock held). ctx is the context of the step: it may already be
// cancelled when the caller has left, and for a coalesced call's steps
// (GovernorWaited, Attempted, KeyChecked) it belongs to no caller.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Event is one of this package's event types: Admitted, Refused,
// GovernorWaited, Attempted, BreakerChanged, Finished, KeyChecked,
// KeyRevoked, KeyRestored, KeysSwapped, CacheRead, CacheWritten,
// CacheEvicted, CachePurged, Withheld, for durable records
// AuditWritten, AuditDropped, Swept, StoreFailed, and for secrets and
// reloads KeyRotated, SecretsRefreshed, ConfigReloaded.
type Event interface {
	// Step names the event ("admitted", "refused", …) for logs and tests.
	Step() string
}

// Admitted: a request passed validation, scope checks and the client's own
// limits, and will be looked up at Providers.
type Admitted struct {
	Client, Environment, RequestID string
	Operation                      string // "lookup" or "resolve"
	Providers                      []string
}

// Refused: a request was answered before any provider was called — bad
// input, a provider outside the client's scope, the client's own limits.
type Refused struct {
	Client, Environment, RequestID string
	Operation                      string
	// Kind is the problem slug the caller receives (invalid-parameter,
	// forbidden, rate-limited, …).
	Kind string
}

// GovernorWaited: one attempt waited for a key of Provider within its rate,
// quota and pauses. Outcome is "acquired", or why not: "rate", "day_quota",
// "month_quota", "paused" (the wait would exceed max_wait), "no_keys",
// "unavailable" (shared state unreachable), "canceled" or "error".
type GovernorWaited struct {
	Provider string
	KeyID    string // "" unless acquired
	Wait     time.Duration
	Outcome  string
}

// Attempted: one call to Provider's upstream finished. Kind is "" for an
// answer (ok or not found), else the upstream error kind (upstream.Kind).
type Attempted struct {
	Provider, KeyID string
	Attempt         int // 1 for the first try
	UpstreamStatus  int // 0 when no HTTP answer came
	Kind            string
	Latency         time.Duration
	// NotSent: the call failed before anything left (no unit spent).
	NotSent bool
}

// BreakerChanged: Provider's circuit breaker moved From → To ("closed",
// "open", "half-open").
type BreakerChanged struct {
	Provider, From, To string
}

// Finished: one provider's part of one caller's lookup is decided. A
// coalesced caller (Shared) sees Finished with the shared call's key id and
// upstream status but none of its Attempted events, and Attempts and Units
// 0: the call happened once and is counted once, for the caller that made
// it. Spend is best counted from Attempted (one per upstream call, whoever
// waited for it) and KeyChecked.
type Finished struct {
	Client, Environment, RequestID string
	Operation                      string
	Provider                       string
	KeyID                          string
	Status                         string // "ok", "not_found" or "error"
	Kind                           string // the problem slug when Status is "error"
	Attempts                       int
	Shared                         bool
	UpstreamStatus                 int
	Latency                        time.Duration
	Units                          int // rate/quota units this caller's own call spent on lookups
	// Cache is where the answer came from: "hit", "stale" (served because
	// the upstream could not answer), "miss" (from the upstream now),
	// "bypass" (a refresh the client asked for) or "off" (the provider is
	// not cached, or the answer was withheld).
	Cache string
}

// CacheRead: a cache tier was asked for one of Provider's entries. Tier is
// "memory" or "durable"; Outcome is "hit" (fresh), "stale" (live but past
// its TTL), "miss", "error" (the backend failed: counted, treated as a
// miss) or "corrupt" (a record failed authentication or names an unknown
// seal key: never served).
type CacheRead struct {
	Provider, Tier, Outcome string
}

// CacheWritten: one of Provider's answers was stored in Tier (Bytes is the
// body's size), or the write failed (Err).
type CacheWritten struct {
	Provider, Tier string
	Bytes          int
	Err            bool
}

// CacheEvicted: the hot tier dropped an entry to stay within its size
// bound ("size") or because it expired ("expired").
type CacheEvicted struct {
	Provider, Reason string
}

// CachePurged: a purge removed Count entries from the durable tier and
// cleared every replica's hot tier. Provider "" is every provider;
// Indicator says whether it named one indicator (never which). By is the
// admin client, "cli", or "gateway" for automatic purges; Reason is
// "admin", "key_revoked" or "key_rotated".
type CachePurged struct {
	Provider  string
	Indicator bool
	Count     int
	By        string
	Reason    string
}

// Withheld: a request was not sent to Provider because query minimisation
// forbids it. Rule names the rule (a TLP/PAP ceiling, a built-in set, a
// configured rule by its field), never the indicator.
type Withheld struct {
	Client, Environment, RequestID string
	Operation                      string
	Provider                       string
	Rule                           string
}

// KeyChecked: the fixed auth check ran against Provider's key KeyID, after
// a lookup was refused with it ("suspect") or to see whether a revoked key
// is back ("recheck"). Verdict is "passed", "refused" or "inconclusive".
// A check that was sent spent one unit of the key's rate and quota.
type KeyChecked struct {
	Provider, KeyID string
	Reason          string
	Verdict         string
	UpstreamStatus  int
	Sent            bool
}

// KeyRevoked: Provider's key KeyID is out of rotation for every replica
// (its auth check was refused), or a refused re-check extended that.
type KeyRevoked struct {
	Provider, KeyID string
	Renewed         bool // an existing revocation was extended
	// By is the admin client that revoked it (POST
	// /admin/v1/keys/{provider}/{key_id}/revoke); "" when the gateway's
	// auth check did.
	By string
}

// KeyRestored: a revoked key passed its re-check and is back in rotation.
type KeyRestored struct {
	Provider, KeyID string
}

// KeysSwapped: Provider's key pool was replaced while serving; KeyIDs are
// the new pool's ids, in order.
type KeysSwapped struct {
	Provider string
	KeyIDs   []string
}

func (Admitted) Step() string       { return "admitted" }
func (Refused) Step() string        { return "refused" }
func (GovernorWaited) Step() string { return "governor" }
func (Attempted) Step() string      { return "attempt" }
func (BreakerChanged) Step() string { return "breaker" }
func (Finished) Step() string       { return "finished" }
func (KeyChecked) Step() string     { return "key_checked" }
func (KeyRevoked) Step() string     { return "key_revoked" }
func (KeyRestored) Step() string    { return "key_restored" }
func (KeysSwapped) Step() string    { return "keys_swapped" }
func (CacheRead) Step() string      { return "cache_read" }
func (CacheWritten) Step() string   { return "cache_written" }
func (CacheEvicted) Step() string   { return "cache_evicted" }
func (CachePurged) Step() string    { return "cache_purged" }
func (Withheld) Step() string       { return "withheld" }

// Join returns an Observer that tells each of obs in turn; nil entries are
// skipped, and with none left it returns nil (observing nothing costs
// nothing: callers skip building events for a nil Observer).
func Join(obs ...Observer) Observer {
	var live []Observer
	for _, o := range obs {
		if o != nil {
			live = append(live, o)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return multi(live)
}

type multi []Observer

func (m multi) Observe(ctx context.Context, e Event) {
	for _, o := range m {
		o.Observe(ctx, e)
	}
}

// AuditWritten: the audit log appended Records records in one transaction
// that took Latency, or failed to (Err; the batch is retried).
type AuditWritten struct {
	Records int
	Latency time.Duration
	Err     bool
}

// AuditDropped: Records audit records were lost because the audit queue
// was full (or the log had shut down). The log itself records how many.
type AuditDropped struct {
	Records int
}

// Swept: the retention sweeper deleted Deleted rows of Kind ("audit",
// "seen", "cache", …) in one batch, or the batch failed (Err).
type Swept struct {
	Kind    string
	Deleted int64
	Err     bool
}

// StoreFailed: an operation Op of the durable store failed.
type StoreFailed struct {
	Op string
}

func (AuditWritten) Step() string { return "audit_written" }
func (AuditDropped) Step() string { return "audit_dropped" }
func (Swept) Step() string        { return "swept" }
func (StoreFailed) Step() string  { return "store_failed" }

// KeyRotated: Provider's key KeyID got a new secret while serving (a
// secret refresh or a reload found it changed).
type KeyRotated struct {
	Provider, KeyID string
}

// SecretsRefreshed: every secret of the config was read again (By is
// "timer", "reload" …): Outcome "ok" or "error" (nothing applied), with
// Stale secrets whose source failed and whose last good value is in use.
type SecretsRefreshed struct {
	Outcome string
	Stale   int
}

// ConfigReloaded: a config reload was applied (Outcome "ok") or refused
// ("refused"; the running config is kept).
type ConfigReloaded struct {
	Outcome string
}

func (KeyRotated) Step() string       { return "key_rotated" }
func (SecretsRefreshed) Step() string { return "secrets_refreshed" }
func (ConfigReloaded) Step() string   { return "config_reloaded" }
