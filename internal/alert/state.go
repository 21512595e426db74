package alert

import "time"

// A state rule's alert (breaker_open, secret_source, a confirmed
// key_rejected) fires once, when the state begins, and stays live while
// it lasts: a breaker open for an hour raises one firing. The alert table
// is shared by every replica, and a replica that read a live row at start
// without ever seeing it fire (adopted) resolves it only if no replica
// has written the row since it was read (the conditional write of
// resolveOne). For that guard to see a replica that still holds the
// state, the holder must write: heartbeat refreshes the row's last_seen
// while this replica holds the state itself, every heartbeatEvery, and an
// adopted alert waits stateHold — longer than a heartbeat and two
// evaluations — before it may resolve. The same guard keeps a replica
// whose own state cleared (its breaker closed) from resolving the row
// while another replica's still holds (see guardLocked). A replica that
// restarts alone finds nobody refreshing the row, and resolves it after
// the hold. Such resolutions are notified once their writes won.

// heartbeatEvery is how often a held state rule's alert refreshes its
// last_seen: half its cooldown, so one write per alert per half cooldown
// (every 7.5 minutes at the default), whatever the state's length.
func (e *Engine) heartbeatEvery(rule string) time.Duration {
	return e.o.Rules.cooldown(rule) / 2
}

// stateHold is how long an adopted state rule's alert waits before it may
// resolve: its cooldown, and at least a heartbeat and two evaluations, so
// that a replica holding the state has refreshed the row first.
func (e *Engine) stateHold(rule string) time.Duration {
	return max(e.o.Rules.cooldown(rule), e.heartbeatEvery(rule)+2*e.o.Rules.EvaluateEvery)
}

// stateAlert reports whether a is a state rule's alert: one that fires
// when the state begins and stays live while it lasts.
func (e *Engine) stateAlert(a *Alert) bool {
	switch a.Rule {
	case RuleBreakerOpen, RuleSecretSource:
		return true
	case RuleKeyRejected:
		return a.Severity.rank() > e.o.Rules.KeyRejected.SuspectSeverity.rank() // confirmed: a revocation
	}
	return false
}

// guardLocked is the last_seen a resolution of t is conditional on: the
// row is resolved only if no replica has written it later. Zero: none.
// An adopted alert's is what it read. A state rule's alert this replica
// fired is guarded too, by the last_seen it wrote: another replica may
// hold the same state (both breakers opened, this one closed first), and
// that replica's refreshes move the row past it. Other alerts resolve
// unconditionally, notified at once.
func (e *Engine) guardLocked(t *tracked) time.Time {
	switch {
	case !t.adopted.IsZero():
		return t.adopted
	case t.stored && e.stateAlert(&t.a):
		return t.written
	}
	return time.Time{}
}

// holdsLocked reports whether this replica holds the state of a, its own
// alert: its breaker open, its secret failing, the key revoked here.
func (e *Engine) holdsLocked(t *tracked) bool {
	if !t.adopted.IsZero() {
		return false // read at start, never seen here: another replica's state, if any
	}
	switch t.a.Rule {
	case RuleBreakerOpen:
		return e.breakers.has(t.a.Labels["provider"], "")
	case RuleSecretSource:
		return e.secrets.has(t.a.Labels["field"], "")
	case RuleKeyRejected:
		return e.revoked.has(t.a.Labels["provider"], t.a.Labels["key_id"])
	}
	return false
}

// heartbeat moves the last_seen of every state rule's alert this replica
// holds, once per heartbeatEvery, and marks it for the next write: the row
// shows that the state still holds somewhere, so no replica that adopted
// it resolves it. It adds nothing to the count (no new firing).
func (e *Engine) heartbeat(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.table {
		if e.holdsLocked(t) && now.Sub(t.a.LastSeen) >= e.heartbeatEvery(t.a.Rule) {
			t.a.LastSeen, t.dirty = now, true
		}
	}
}

// touch moves the last_seen of this replica's own live alerts that match
// to now, when a state they follow ends (a breaker closed, a secret read
// again): now is the last moment it held, and the alert resolves once it
// has stayed cleared for its cooldown from there.
func (e *Engine) touch(match func(a *Alert) bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.table {
		if t.adopted.IsZero() && match(&t.a) && now.After(t.a.LastSeen) {
			t.a.LastSeen, t.dirty = now, true
		}
	}
}
