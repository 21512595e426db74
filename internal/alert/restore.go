package alert

import (
	"context"
	"slices"
	"time"
)

// liveChunk is how many live alerts one read of the store returns.
const liveChunk = 500

// restoreCounts are what a restore did with the live alerts it read.
type restoreCounts struct {
	adopted   int  // tracked from now on, as if raised here
	merged    int  // folded into an alert raised here before the read
	overflow  int  // beyond the source-alert budgets: resolved in the store
	unwatched int  // of a rule that is off (or has nothing to poll): resolved
	more      bool // more rows than one restore reads: the rest left as they are
}

// restore reads the live (open and acknowledged) alerts the store holds
// — left by this gateway before it restarted, or written by another
// replica — into the table, under their ids, counts, states and
// acknowledgements. Without it they would stay open in the store for
// ever: never resolved, never deduplicated against a new firing of the
// same rule and labels, never counted against max_open. Run calls it
// before it evaluates, Evaluate until it has succeeded: a store that
// fails is logged and counted (StoreFailed), and read again after a
// backoff, while the engine runs on without them.
func (e *Engine) restore(ctx context.Context) {
	if e.o.Store == nil {
		return
	}
	e.restoreMu.Lock()
	defer e.restoreMu.Unlock()
	now := e.clock.Now()
	if e.restored || now.Before(e.restoreAt) {
		return
	}
	rows, more, err := e.readLive(ctx)
	if err != nil {
		e.restoreN++
		e.restoreAt = now.Add(storeBackoff(e.restoreN))
		e.meter.StoreFailed()
		if now.Sub(e.restoreLog) >= dropLogEvery {
			e.restoreLog = now
			e.log.Error("reading the live alerts from the store failed; they are read again at a later evaluation",
				"failures", e.restoreN, "error", err.Error())
		}
		return
	}
	e.restored = true
	c := restoreCounts{more: more}
	e.mu.Lock()
	for _, a := range rows {
		e.adoptLocked(a, now, &c)
	}
	e.mu.Unlock()
	e.logRestore(c)
}

// readLive reads the live alerts, most recently seen first, up to a bound
// (twice what the engine keeps of resolutions, which bounds the memory a
// restore takes, the rows it resolves included): a store holding more
// than that is not the engine's to fix at start; more says the rest was
// left.
func (e *Engine) readLive(ctx context.Context) (rows []Alert, more bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, DefaultStoreTimeout)
	defer cancel()
	bound := 2 * e.maxResolved()
	var after *Alert
	for {
		page, err := e.o.Store.live(sctx, after, liveChunk)
		if err != nil {
			return nil, false, err
		}
		if len(rows)+len(page) > bound {
			return append(rows, page[:bound-len(rows)]...), true, nil
		}
		rows = append(rows, page...)
		if len(page) < liveChunk {
			return rows, false, nil
		}
		last := rows[len(rows)-1]
		after = &last
	}
}

func (e *Engine) logRestore(c restoreCounts) {
	if c == (restoreCounts{}) {
		return
	}
	e.log.Info("alerts live in the store are tracked again", "adopted", c.adopted, "merged", c.merged,
		"resolved_rule_off", c.unwatched)
	if c.overflow > 0 {
		e.log.Warn("live alerts in the store beyond alerts.max_open were resolved, the least recently seen first",
			"resolved", c.overflow, "max_open", e.o.Rules.MaxOpen)
	}
	if c.more {
		e.log.Warn("the store holds more live alerts than a start reads; the least recently seen are left as they are",
			"read", 2*e.maxResolved())
	}
}

// adoptLocked tracks the stored live alert a. Its last notification is
// taken to be its last firing (it was at most then), so an alert notified
// within its cooldown is not notified again when it fires after the
// restart. Alerts keyed by a source take a place in the same budgets as
// new ones; a row beyond them is resolved in the store, unnotified (the
// most recently seen rows come first, so the oldest are the ones).
func (e *Engine) adoptLocked(a Alert, now time.Time, c *restoreCounts) {
	id := a.Rule + "\x00" + a.DedupeKey
	if t := e.table[id]; t != nil {
		if t.a.ID != a.ID && !t.stored {
			e.mergeLocked(t, a, now)
			c.merged++
		}
		return // otherwise it is this row already: written, its id adopted
	}
	t := &tracked{a: a, notifiedAt: a.LastSeen, stored: true, adopted: a.LastSeen, written: a.LastSeen}
	if !e.watched(a.Rule) {
		// Nothing would ever fire or resolve it: resolved now, and
		// notified once the write wins.
		e.releaseLocked(t, now, true)
		c.unwatched++
		return
	}
	budgets, ok := e.admitLocked(a.Rule, a.Severity, a.Labels)
	if !ok {
		e.releaseLocked(t, now, false)
		e.meter.Suppressed(a.Rule)
		c.overflow++
		return
	}
	t.budgets = budgets
	t.hold = e.holdFor(a.Rule, now)
	e.table[id] = t
	c.adopted++
	if p, k := a.Labels["provider"], a.Labels["key_id"]; a.Rule == RuleKeyRejected &&
		a.Severity.rank() > e.o.Rules.KeyRejected.SuspectSeverity.rank() && e.providerName(p) == p && e.keyName(p, k) == k {
		// A confirmed rejection is a revocation (the auth check refused
		// the key and took it out, or an operator did): it resolves when
		// the key is restored, or found no longer revoked (pollKeyStates),
		// not by going quiet; like a breaker, after a hold.
		e.revoked.add(p, k, now)
		t.hold = now.Add(e.stateHold(RuleKeyRejected))
	}
}

// releaseLocked resolves the stored row t at start without tracking it,
// if no replica has fired it since it was read. Its write waits in
// released, which a restore fills at most with the rows it read.
func (e *Engine) releaseLocked(t *tracked, now time.Time, notify bool) {
	t.a.State, t.a.ResolvedAt, t.dirty = StateResolved, now, true
	t.notifyOnWrite = notify
	e.released = append(e.released, t)
	e.wakeLocked()
}

// mergeLocked folds the stored row a into f, the same alert raised here
// before the store was read and not yet written: f takes the row's id,
// first firing, count, state and acknowledgement, and its notification is
// decided again as a repeat's, so it is not notified afresh within the
// cooldown of what the row's alert was notified.
func (e *Engine) mergeLocked(f *tracked, a Alert, now time.Time) {
	fresh, notified := f.a, f.notifiedAt
	f.a = a
	f.a.Count += fresh.Count
	f.a.LastSeen = maxTime(a.LastSeen, fresh.LastSeen)
	f.a.Summary = fresh.Summary
	f.stored = true
	f.notifiedAt, f.written = a.LastSeen, a.LastSeen
	fired := false
	e.notes = slices.DeleteFunc(e.notes, func(n note) bool {
		drop := n.t == f && n.ev == EventFired
		fired = fired || drop
		return drop
	})
	if !fired { // its notification is out already
		f.notifiedAt = maxTime(notified, a.LastSeen)
		if fresh.Severity.rank() > f.a.Severity.rank() {
			f.a.Severity = fresh.Severity
		}
		return
	}
	e.renotifyLocked(f, fresh.Severity, now)
}

// holdFor is how long an adopted alert of rule waits, from now, before
// its state may resolve it. The polled rules (quota, key_age) are
// settled by the first poll, and the event rules by going quiet, as
// ever; dead_letters too, from its last firing before the restart (its
// first poll is a baseline, so it sees growth from the second on, and an
// emptied queue at once). But what a state rule learns from events (an open breaker, a
// failing secret) starts empty in a new process, not because the state
// cleared: the breaker or the secret source gets a while to report it
// again, and a replica that holds it to refresh the row (stateHold).
// upstream_errors needs a window of calls to judge a ratio.
func (e *Engine) holdFor(rule string, now time.Time) time.Time {
	switch rule {
	case RuleUpstreamErrors:
		return now.Add(e.o.Rules.UpstreamErrors.Window)
	case RuleBreakerOpen, RuleSecretSource:
		return now.Add(e.stateHold(rule))
	}
	return time.Time{}
}

// watched reports whether anything can fire, or resolve, rule's alerts:
// an adopted alert of a rule that is off (or that has nothing to poll)
// would stay open for ever, so it is resolved.
func (e *Engine) watched(rule string) bool {
	b := e.o.Rules.base(rule)
	switch {
	case b == nil || !b.Enabled:
		return false
	case rule == RuleQuota:
		return e.o.Quotas != nil
	case rule == RuleKeyAge:
		return e.o.KeyAges != nil && e.o.Rules.KeyAge.Period > 0
	case rule == RuleDeadLetters:
		return e.o.DeadLetters != nil
	}
	return true
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
