package alert

import (
	"net/netip"
	"sync"
	"time"
)

// authTracker counts authentication failures per source, in fixed
// windows from each source's first failure, and over all sources. The
// per-source table is an LRU of at most MaxSources entries: a flood from
// more addresses than that forgets the quietest ones, and the overall
// count — one counter, whatever the number of sources — still sees the
// flood.
type authTracker struct {
	rule AuthFailuresRule

	mu      sync.Mutex
	sources *lru[netip.Prefix, authEntry]
	// The overall window: its start, its failures, and how many sources
	// began a window of their own within it (an estimate of how many
	// sources took part, kept without remembering them).
	start        time.Time
	count        int
	distinct     int
	fullyAlerted bool
}

type authEntry struct {
	start time.Time
	count int
}

func newAuthTracker(r AuthFailuresRule) *authTracker {
	return &authTracker{rule: r, sources: newLRU[netip.Prefix, authEntry](r.MaxSources)}
}

// authOutcome is what one failure crossed.
type authOutcome struct {
	source       bool // the source reached PerSource in its window
	sourceCount  int
	overall      bool // all sources reached Overall in the window
	overallCount int
	sources      int
}

// fail counts one failure of src at now.
func (t *authTracker) fail(src netip.Prefix, now time.Time) authOutcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out authOutcome
	if now.Sub(t.start) >= t.rule.Window {
		t.start, t.count, t.distinct, t.fullyAlerted = now, 0, 0, false
	}
	t.count++
	en, ok := t.sources.get(src)
	if !ok {
		en, _ = t.sources.put(src)
	}
	if !ok || now.Sub(en.start) >= t.rule.Window {
		*en = authEntry{start: now}
		t.distinct++
	}
	en.count++
	if en.count == t.rule.PerSource {
		out.source, out.sourceCount = true, en.count
	}
	if t.count >= t.rule.Overall && !t.fullyAlerted {
		t.fullyAlerted = true
		out.overall, out.overallCount, out.sources = true, t.count, t.distinct
	}
	return out
}

// tracked is how many sources the tracker holds (the bound's witness).
func (t *authTracker) tracked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sources.len()
}

// sourceKey groups addresses as an attacker controls them: an IPv4
// address is one host, but an IPv6 host is routinely given a whole /64
// (the gateway's own per-source limits group the same way).
func sourceKey(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// sourceLabel is how a source appears in an alert: the IPv4 address, the
// IPv6 /64, or "unknown".
func sourceLabel(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return "unknown"
	case p.Addr().Is4() && p.Bits() == 32:
		return p.Addr().String()
	}
	return p.String()
}

// network is a's network at the given prefix lengths.
func network(a netip.Addr, v4, v6 int) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := v6
	if a.Is4() {
		bits = v4
	}
	p, _ := a.Prefix(bits)
	return p
}
