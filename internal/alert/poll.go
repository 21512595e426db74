package alert

import (
	"context"
	"fmt"
	"time"
)

// pollQuota raises quota for every key's day or month quota past the
// thresholds, and resolves the others. A failed poll changes nothing:
// an outage of the quota state must not read as "all clear".
func (e *Engine) pollQuota(ctx context.Context, now time.Time) {
	r := e.o.Rules.Quota
	if !r.Enabled || e.o.Quotas == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.o.PollTimeout)
	defer cancel()
	usage, err := e.o.Quotas.QuotaUsage(pctx)
	if err != nil {
		e.log.Warn("alert rule quota: reading quota usage failed; its alerts are kept as they are", "error", err.Error())
		return
	}
	active := map[string]bool{}
	for _, u := range usage {
		if u.Limit <= 0 || (u.Period != "day" && u.Period != "month") {
			continue
		}
		ratio := float64(u.Used) / float64(u.Limit)
		sev := Warning
		switch {
		case ratio >= r.Critical:
			sev = Critical
		case ratio < r.Warn:
			continue
		}
		p, k := e.providerName(u.Provider), e.keyName(u.Provider, u.KeyID)
		l := labels{{"provider", p}, {"key_id", k}, {"period", u.Period}}
		active[l.key()] = true
		e.raise(signal{rule: RuleQuota, severity: sev, labels: l, summary: fmt.Sprintf(
			"provider %s key %s has used %d of its %s quota of %d (%.0f%%)", p, k, u.Used, u.Period, u.Limit, 100*ratio)}, now)
	}
	e.settle(RuleQuota, active, now)
}

// pollKeyAges raises key_age for every key older than the rotation
// period (or within warn_before of it), and resolves rotated keys.
func (e *Engine) pollKeyAges(ctx context.Context, now time.Time) {
	r := e.o.Rules.KeyAge
	if !r.Enabled || e.o.KeyAges == nil || r.Period <= 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.o.PollTimeout)
	defer cancel()
	ages, err := e.o.KeyAges.KeyAges(pctx)
	if err != nil {
		e.log.Warn("alert rule key_age: reading key ages failed; its alerts are kept as they are", "error", err.Error())
		return
	}
	active := map[string]bool{}
	for _, a := range ages {
		if a.ChangedAt.IsZero() {
			continue
		}
		age := now.Sub(a.ChangedAt)
		sev, what := r.Severity, "is past"
		switch {
		case age >= r.Period:
		case age >= r.Period-r.WarnBefore:
			sev, what = r.WarnSeverity, "is close to"
		default:
			continue
		}
		p, k := e.providerName(a.Provider), e.keyName(a.Provider, a.KeyID)
		l := labels{{"provider", p}, {"key_id", k}}
		active[l.key()] = true
		e.raise(signal{rule: RuleKeyAge, severity: sev, labels: l, summary: fmt.Sprintf(
			"provider %s key %s is %d days old (changed %s, per %s) and %s the rotation period of %d days; rotate it",
			p, k, int(age.Hours()/24), a.ChangedAt.UTC().Format(time.DateOnly), sourceName(a.Source), what,
			int(r.Period.Hours()/24))}, now)
	}
	e.settle(RuleKeyAge, active, now)
}

func sourceName(s string) string {
	switch s {
	case "vault", "awssm", "rotated_at", "env", "file", "store":
		return s
	}
	return "its source"
}

// pollKeyStates lifts the revocations that no longer hold: a key the
// engine holds revoked (a KeyRevoked it heard, or a confirmed key_rejected
// alert it read back at start) that the key states report not revoked has
// its alert resolved, as a KeyRestored would — the revocation's lease ran
// out, its secret was rotated, or another replica's re-check restored it,
// none of which this replica hears as an event. An adopted alert waits
// its hold first (see stateHold). A revocation heard at or after now —
// while the poll ran — is not lifted by it; a key the poll does not
// report, or a poll that failed, changes nothing.
func (e *Engine) pollKeyStates(ctx context.Context, now time.Time) {
	if !e.o.Rules.KeyRejected.Enabled || e.o.KeyStates == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.o.PollTimeout)
	defer cancel()
	states, err := e.o.KeyStates.KeyStates(pctx)
	if err != nil {
		e.log.Warn("alert rule key_rejected: reading the keys' revocation states failed; alerts of keys not read are kept as they are",
			"error", err.Error())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range states {
		p, k := e.providerName(s.Provider), e.keyName(s.Provider, s.KeyID)
		if s.Revoked || p == "unknown" || k == "unknown" {
			continue
		}
		t := e.table[RuleKeyRejected+"\x00"+labels{{"provider", p}, {"key_id", k}}.key()]
		if t != nil && now.Before(t.hold) {
			continue
		}
		if e.revoked.removeBefore(p, k, now) && t != nil {
			e.resolveLocked(t, now)
		}
	}
}
