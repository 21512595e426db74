// Package alert is intelgate's alert engine: built-in rules over what the
// request path reports (observe events, authentication failures, admitted
// lookups, secret refreshes) and over snapshots it polls (quota usage, key
// ages, revocation states, the dead-letter count), with deduplication, cooldowns, acknowledgement and resolution,
// a durable alert table, and sinks (webhook, Slack, SMTP, log) that each
// deliver from a bounded queue of their own.
//
// The request path only ever touches memory: every input is a few map
// and counter operations under a short lock, never a store call, a
// network call or a wait on a sink. Everything slow happens on Run's
// goroutines, so an unreachable database or a dead webhook receiver can
// delay notifications but never a lookup. Everything the engine tracks is
// bounded (docs/alerts.md lists the bounds), because the inputs are chosen
// by whoever sends requests, including an attacker with many addresses.
//
// Alerts never carry an indicator, a token, a key, a secret or an error
// text: their labels and summaries are built from names the config
// defines (clients, providers, key ids, config fields), indicator types,
// numbers and source addresses — the addresses are the signal.
package alert

import (
	"context"
	"errors"
	"time"
)

// Severity is how urgent an alert is: info, warning or critical.
type Severity string

// The severities, in rising order.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// rank orders severities; an unknown one ranks below info.
func (s Severity) rank() int {
	switch s {
	case Info:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// AtLeast reports whether s is min or more urgent.
func (s Severity) AtLeast(min Severity) bool { return s.rank() >= min.rank() }

// ParseSeverity reads a config severity.
func ParseSeverity(s string) (Severity, error) {
	if v := Severity(s); v.rank() > 0 {
		return v, nil
	}
	return "", errors.New("severity must be info, warning or critical")
}

// State is an alert's lifecycle state.
type State string

// The states. An open alert notifies (and reminds after each cooldown);
// an acknowledged one is quiet until it fires again a cooldown after the
// acknowledgement; a resolved one is history — if its condition comes
// back, that is a new alert with a new id.
const (
	StateOpen         State = "open"
	StateAcknowledged State = "acknowledged"
	StateResolved     State = "resolved"
)

// The built-in rules' names, as alerts, sinks' filters and metrics name
// them.
const (
	RuleUpstreamErrors   = "upstream_errors"
	RuleClientVolume     = "client_volume"
	RuleQueryPattern     = "query_pattern"
	RuleUnexpectedSource = "unexpected_source"
	RuleAuthFailures     = "auth_failures"
	RuleKeyRejected      = "key_rejected"
	RuleKeyAge           = "key_age"
	RuleQuota            = "quota"
	RuleBreakerOpen      = "breaker_open"
	RuleAuditDropped     = "audit_dropped"
	RuleSecretSource     = "secret_source"
	RuleDeadLetters      = "dead_letters"
)

// RuleNames lists every built-in rule.
func RuleNames() []string {
	return []string{RuleUpstreamErrors, RuleClientVolume, RuleQueryPattern, RuleUnexpectedSource, RuleAuthFailures,
		RuleKeyRejected, RuleKeyAge, RuleQuota, RuleBreakerOpen, RuleAuditDropped, RuleSecretSource, RuleDeadLetters}
}

// Alert is one alert: a rule firing for one combination of labels (its
// dedupe key), from its first firing until it resolves.
type Alert struct {
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// DedupeKey is the labels in the rule's order, "k=v,k=v": with Rule,
	// what identifies the alert while it is live.
	DedupeKey string `json:"dedupe_key"`
	// Labels name what fired: provider, key_id, client, source, period,
	// type, field, scope. Never an indicator, token, key or error text.
	Labels  map[string]string `json:"labels"`
	Summary string            `json:"summary"`
	// FirstSeen and LastSeen bound the firings; Count is how many there
	// were (events, or evaluations for the polled rules).
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Count      int64     `json:"count"`
	State      State     `json:"state"`
	AckedBy    string    `json:"acked_by,omitempty"`
	AckedAt    time.Time `json:"acked_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Event is why a notification was sent.
type Event string

// The notification events.
const (
	// EventFired: a new alert.
	EventFired Event = "fired"
	// EventRepeated: an open alert still firing a cooldown after its
	// last notification (a reminder).
	EventRepeated Event = "repeated"
	// EventEscalated: a live alert fired at a higher severity (quota 80%
	// → 95%, a suspect key confirmed); sent at once, cooldown or not.
	EventEscalated Event = "escalated"
	// EventReopened: an acknowledged alert still firing a cooldown after
	// the acknowledgement.
	EventReopened Event = "reopened"
	// EventResolved: the condition cleared, or an event rule was quiet
	// for its cooldown.
	EventResolved Event = "resolved"
)

// Notification is what a sink delivers.
type Notification struct {
	// ID is unique per notification (the webhook-id: receivers dedupe
	// retries by it).
	ID    string    `json:"id"`
	Event Event     `json:"event"`
	At    time.Time `json:"at"`
	Alert Alert     `json:"alert"`
}

// Meter is what the engine counts; internal/app implements it with
// Prometheus. Every label is low-cardinality: rule and sink names from
// the config, severities, fixed outcomes.
type Meter interface {
	// Fired: an alert fired, escalated or reopened (a notification
	// others act on).
	Fired(rule, severity string)
	// Notified: one delivery outcome of sink: "sent", "failed" (an
	// attempt failed; it is retried) or "dropped" (the queue was full,
	// the attempts ran out, the receiver refused it for good, or the
	// engine shut down first).
	Notified(sink, outcome string)
	// Open is the number of live (open or acknowledged) alerts of rule
	// at severity, set for every rule and severity after each evaluation.
	Open(rule, severity string, n int)
	// Suppressed: an alert of rule was not opened, or a notification of
	// it not queued, because a bound was reached (alerts.max_open).
	Suppressed(rule string)
	// StoreFailed: writing alerts to the store failed. Nothing is lost:
	// they stay pending in memory (bounded) and the next flush retries.
	StoreFailed()
}

type nopMeter struct{}

func (nopMeter) Fired(string, string)     {}
func (nopMeter) Notified(string, string)  {}
func (nopMeter) Open(string, string, int) {}
func (nopMeter) Suppressed(string)        {}
func (nopMeter) StoreFailed()             {}

// QuotaSource reports the quota usage of every provider key; the engine
// polls it on each evaluation (internal/app adapts the governor's
// status). It is never called on the request path.
type QuotaSource interface {
	QuotaUsage(ctx context.Context) ([]QuotaUsage, error)
}

// QuotaUsage is one calendar quota of one key.
type QuotaUsage struct {
	Provider, KeyID string
	Period          string // "day" or "month"
	Used, Limit     int64  // Limit 0: unlimited, never alerts
}

// QuotaFunc adapts a function to QuotaSource.
type QuotaFunc func(ctx context.Context) ([]QuotaUsage, error)

// QuotaUsage calls f.
func (f QuotaFunc) QuotaUsage(ctx context.Context) ([]QuotaUsage, error) { return f(ctx) }

// KeyAgeSource reports when each provider key's secret last changed; the
// engine polls it on each evaluation.
type KeyAgeSource interface {
	KeyAges(ctx context.Context) ([]KeyAge, error)
}

// KeyAge is one key's age. A zero ChangedAt is unknown and never alerts.
type KeyAge struct {
	Provider, KeyID string
	ChangedAt       time.Time
	// Source says where ChangedAt comes from: "vault", "awssm",
	// "rotated_at" (the config), …
	Source string
}

// KeyAgeFunc adapts a function to KeyAgeSource.
type KeyAgeFunc func(ctx context.Context) ([]KeyAge, error)

// KeyAges calls f.
func (f KeyAgeFunc) KeyAges(ctx context.Context) ([]KeyAge, error) { return f(ctx) }

// KeyStateSource reports whether each provider key is revoked now (out of
// rotation); the engine polls it on each evaluation, so a confirmed
// key_rejected alert resolves once its key is no longer revoked even when
// no KeyRestored event reaches this replica: the revocation's lease ran
// out, the key's secret was rotated (a revocation is of one secret), or
// another replica's re-check restored it — before this process started,
// too (internal/app adapts the governor).
type KeyStateSource interface {
	// KeyStates lists the keys whose state could be read. A key it does
	// not list is unknown, and its alert is kept as it is; with an error,
	// the states it did return are still used.
	KeyStates(ctx context.Context) ([]KeyState, error)
}

// KeyState is one key's revocation state.
type KeyState struct {
	Provider, KeyID string
	Revoked         bool
}

// KeyStateFunc adapts a function to KeyStateSource.
type KeyStateFunc func(ctx context.Context) ([]KeyState, error)

// KeyStates calls f.
func (f KeyStateFunc) KeyStates(ctx context.Context) ([]KeyState, error) { return f(ctx) }

// DeadLetterSource reports how many bulk items the dead-letter queue holds
// now (internal/app adapts the job queue's JobGauges); the engine polls it
// on each evaluation. The queue is in the shared store, so every replica
// reads the same count.
type DeadLetterSource interface {
	DeadLetters(ctx context.Context) (int, error)
}

// DeadLetterFunc adapts a function to DeadLetterSource.
type DeadLetterFunc func(ctx context.Context) (int, error)

// DeadLetters calls f.
func (f DeadLetterFunc) DeadLetters(ctx context.Context) (int, error) { return f(ctx) }

// Errors of List, Ack and Get.
var (
	ErrNotFound = errors.New("alert not found")
	// ErrNoStore: the engine was built without a Store.
	ErrNoStore = errors.New("alerts are not stored (no store configured)")
	// ErrInvalidFilter: a List filter or cursor that cannot be used (the
	// admin API answers 400).
	ErrInvalidFilter = errors.New("invalid alert filter")
)
