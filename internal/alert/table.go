package alert

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// label is one label of an alert. Labels are kept in the order the rule
// gives them, so the dedupe key of the same firing is always the same.
type label struct{ k, v string }

type labels []label

// key is the dedupe key: "k=v,k=v".
func (l labels) key() string {
	var b strings.Builder
	for i, x := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x.k)
		b.WriteByte('=')
		b.WriteString(x.v)
	}
	return b.String()
}

func (l labels) toMap() map[string]string {
	m := make(map[string]string, len(l))
	for _, x := range l {
		m[x.k] = x.v
	}
	return m
}

// signal is one firing of a rule, as a detector reports it.
type signal struct {
	rule     string
	severity Severity
	labels   labels
	summary  string
}

// tracked is a live alert in memory, or a resolved one whose resolution
// is not yet written. The engine's mu guards every field.
type tracked struct {
	a          Alert
	notifiedAt time.Time
	delta      int64 // firings not yet added to the stored count
	dirty      bool  // changed since the last write
	stored     bool  // a row exists (or existed) for it
	reopen     bool  // write state open over the stored one
	// budgets are the source-alert budgets it counts against (see
	// openLocked), given back when it resolves.
	budgets []string
	// adopted is the stored last_seen of an alert read from the store at
	// start (see restore) that has not fired here since, zero otherwise:
	// its resolution is written only if no other replica has fired it
	// since, for then it is that replica's to resolve.
	adopted time.Time
	// written is the last_seen this replica last wrote for it (or read,
	// adopting it): a state rule's resolution is conditional on it (see
	// guardLocked).
	written time.Time
	// hold is when an adopted alert of a state rule may resolve at the
	// earliest: the inputs that report the state get a chance to report
	// it again after a restart, and a replica that holds the state a
	// chance to refresh its last_seen (see holdFor and heartbeat).
	hold time.Time
	// notifyOnWrite: a conditional resolution (see guardLocked), notified
	// only once its write has won. A write that finds the row fired or
	// refreshed since (another replica's alert) drops it unnotified; a
	// store that is down or in backoff holds it until the write is done.
	notifyOnWrite bool
}

// note is a notification waiting for dispatch; the alert is copied when
// it is raised, and takes the stored id (which another replica may have
// chosen) at dispatch.
type note struct {
	t  *tracked
	ev Event
	a  Alert
}

// maxNotes bounds the notifications waiting between two flushes.
const maxNotes = 10000

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// raise records one firing of s at now: a new alert, or a repeat of the
// live one with the same rule and labels, notified again only after the
// rule's cooldown (or at once when it escalates).
func (e *Engine) raise(s signal, now time.Time) {
	key := s.labels.key()
	id := s.rule + "\x00" + key
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table[id]
	if t == nil {
		e.openLocked(id, key, s, now)
		return
	}
	t.a.Count++
	t.delta++
	t.dirty = true
	t.adopted, t.hold = time.Time{}, time.Time{} // it fired here: this engine knows its state now
	if now.After(t.a.LastSeen) {
		t.a.LastSeen = now
	}
	t.a.Summary = s.summary
	e.renotifyLocked(t, s.severity, now)
}

// renotifyLocked notifies a repeated firing of the live alert t at sev,
// if the cooldown (or an escalation) says so.
func (e *Engine) renotifyLocked(t *tracked, sev Severity, now time.Time) {
	cd := e.o.Rules.cooldown(t.a.Rule)
	switch {
	case sev.rank() > t.a.Severity.rank():
		// The acknowledgement was for a lesser alert.
		t.a.Severity = sev
		if t.a.State == StateAcknowledged {
			t.a.State, t.reopen = StateOpen, true
		}
		e.notifyLocked(t, EventEscalated, now)
	case t.a.State == StateOpen && now.Sub(t.notifiedAt) >= cd:
		e.notifyLocked(t, EventRepeated, now)
	case t.a.State == StateAcknowledged && now.Sub(t.a.AckedAt) >= cd:
		t.a.State, t.reopen = StateOpen, true
		e.notifyLocked(t, EventReopened, now)
	}
}

// openLocked opens a new alert. Alerts keyed by a source address are
// the ones whose number an attacker chooses: they are capped at MaxOpen
// per rule. Within that cap a critical alert always finds room — only a
// quarter of it is kept for critical ones, which lesser alerts cannot
// fill — and one client's alerts may take at most a quarter of it, so a
// client calling from a thousand networks cannot hide another's token
// used from outside its source_cidrs. Every other alert is keyed by names
// from the config (a client, a provider, a key) or by nothing
// ("overall"), so its number is bounded already — and must not be
// crowded out by a flood of sources: the overall auth-failure alert is
// what a flood from 100,000 addresses raises.
func (e *Engine) openLocked(id, key string, s signal, now time.Time) {
	lm := s.labels.toMap()
	budgets, ok := e.admitLocked(s.rule, s.severity, lm)
	if !ok {
		e.meter.Suppressed(s.rule)
		e.suppressed[s.rule]++
		return
	}
	t := &tracked{a: Alert{ID: newID("alr_"), Rule: s.rule, Severity: s.severity, DedupeKey: key, Labels: lm,
		Summary: s.summary, FirstSeen: now, LastSeen: now, Count: 1, State: StateOpen}, delta: 1, dirty: true, budgets: budgets}
	e.table[id] = t
	e.notifyLocked(t, EventFired, now)
}

// admitLocked takes a place for a new live alert of rule within the
// source-alert budgets (see openLocked) and returns the budgets it
// counts against; ok is false when there is no room. An alert without a
// source label needs no place.
func (e *Engine) admitLocked(rule string, sev Severity, l map[string]string) (budgets []string, ok bool) {
	if _, sourced := l["source"]; !sourced {
		return nil, true
	}
	limit, share := e.o.Rules.MaxOpen, max(1, e.o.Rules.MaxOpen/4)
	if sev != Critical {
		limit -= share // the critical reserve
	}
	budgets = []string{rule}
	client := l["client"]
	if client != "" {
		budgets = append(budgets, rule+"\x00client\x00"+client)
	}
	if e.perSource[rule] >= limit || (client != "" && e.perSource[budgets[1]] >= share) {
		return nil, false
	}
	for _, b := range budgets {
		e.perSource[b]++
	}
	return budgets, true
}

// clear resolves the live alert of rule with these labels, if any: its
// condition no longer holds.
func (e *Engine) clear(rule string, l labels, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.table[rule+"\x00"+l.key()]; t != nil {
		e.resolveLocked(t, now)
	}
}

func (e *Engine) resolveLocked(t *tracked, now time.Time) {
	delete(e.table, t.a.Rule+"\x00"+t.a.DedupeKey)
	for _, b := range t.budgets {
		if e.perSource[b]--; e.perSource[b] <= 0 {
			delete(e.perSource, b)
		}
	}
	t.a.State, t.a.ResolvedAt, t.dirty = StateResolved, now, true
	e.queueResolvedLocked(t)
	if !e.guardLocked(t).IsZero() {
		// Another replica may have fired it, or refreshed the state it
		// holds, since: whether it resolved is the store's to say.
		t.notifyOnWrite = true
		e.wakeLocked()
		return
	}
	e.notifyLocked(t, EventResolved, now)
}

// queueResolvedLocked keeps the resolved alert t until its resolution is
// written. The queue is bounded (maxResolved) for a store that stays down
// while alerts keep resolving; the rows a restore resolves are kept apart
// (Engine.released), so they never push these out.
func (e *Engine) queueResolvedLocked(t *tracked) {
	if len(e.resolved) >= e.maxResolved() {
		// The store has been down for a long while: keep the newest.
		e.meter.Suppressed(e.resolved[0].a.Rule)
		e.unwritten++
		e.resolved = e.resolved[1:]
	}
	e.resolved = append(e.resolved, t)
}

func (e *Engine) maxResolved() int { return e.o.Rules.MaxOpen * len(RuleNames()) }

func (e *Engine) notifyLocked(t *tracked, ev Event, now time.Time) {
	if ev != EventResolved {
		t.notifiedAt = now
	}
	if ev == EventFired || ev == EventEscalated || ev == EventReopened {
		e.meter.Fired(t.a.Rule, string(t.a.Severity))
	}
	if len(e.notes) >= maxNotes {
		e.meter.Suppressed(t.a.Rule)
		e.suppressed[t.a.Rule]++
		return
	}
	e.notes = append(e.notes, note{t: t, ev: ev, a: t.a})
	e.wakeLocked()
}

// wakeLocked asks Run to flush now.
func (e *Engine) wakeLocked() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// settle resolves the live alerts of rule whose dedupe key is not in
// active: a polled or windowed condition that no longer holds.
func (e *Engine) settle(rule string, active map[string]bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.table {
		if t.a.Rule == rule && !active[t.a.DedupeKey] && !now.Before(t.hold) {
			e.resolveLocked(t, now)
		}
	}
}

// resolveQuiet resolves the alerts of event rules (those whose condition
// is a burst, not a state) that have not fired for their cooldown.
// quiet reports whether a rule resolves that way and may veto one alert
// (a revoked key stays alerted until restored).
func (e *Engine) resolveQuiet(now time.Time, quiet func(t *Alert) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.table {
		if quiet(&t.a) && now.Sub(t.a.LastSeen) >= e.o.Rules.cooldown(t.a.Rule) && !now.Before(t.hold) {
			e.resolveLocked(t, now)
		}
	}
}

// Live returns a copy of the live (open and acknowledged) alerts in
// memory, for tests and diagnostics; List reads the store.
func (e *Engine) Live() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alert, 0, len(e.table))
	for _, t := range e.table {
		out = append(out, t.a)
	}
	return out
}
