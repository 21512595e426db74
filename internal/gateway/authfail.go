package gateway

import (
	"cmp"
	"container/list"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// AuthFailureLimits configure the per-source authentication failure
// tracker (config server.auth_failures).
type AuthFailureLimits struct {
	Max         int           // failures within Window before a source is refused
	Window      time.Duration // counted from a source's first failure
	MaxSources  int           // sources tracked at once: the memory bound
	LogInterval time.Duration // one aggregated log line per source per interval
}

// sourceKey groups addresses the way an attacker's control of them is
// grouped: an IPv4 address is one host, but an IPv6 host is routinely given
// a whole /64 and can pick any address in it, so counting per IPv6 address
// would let one host rotate past any limit. The zero prefix stands for "source
// unknown" (a malformed X-Forwarded-For from a trusted proxy).
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

// sourceString is how a source key appears in logs.
func sourceString(k netip.Prefix) string {
	switch {
	case !k.IsValid():
		return "unknown"
	case k.Addr().Is4():
		return k.Addr().String()
	}
	return k.String()
}

// failureEntry is one source's failures in its current window.
type failureEntry struct {
	key   netip.Prefix
	start time.Time // first failure of the window
	count int       // failures in the window

	// Since the last log flush:
	logged  int // failures not yet logged
	refused int // requests refused (429) while blocked
}

// authFailures is a bounded LRU of sources with recent authentication
// failures. Front is the most recently touched. A blocked source that keeps
// trying is touched by every refused request, so the sources evicted when
// the tracker is full are the ones that went quiet, not the active attacker.
// Safe for concurrent use.
type authFailures struct {
	lim AuthFailureLimits
	now func() time.Time
	log *slog.Logger

	mu    sync.Mutex
	lru   *list.List // of *failureEntry
	index map[netip.Prefix]*list.Element
	// Failures of evicted sources not yet logged, summed into one line so
	// that churning through sources cannot turn back into a line each.
	evictedFailures, evictedSources int
}

func newAuthFailures(lim AuthFailureLimits, now func() time.Time, log *slog.Logger) *authFailures {
	return &authFailures{lim: lim, now: now, log: log, lru: list.New(),
		index: make(map[netip.Prefix]*list.Element, min(lim.MaxSources, 1024))}
}

// blocked reports whether src is refused now, and for how long. A refused
// request counts for the log but does not extend the block: the window ends
// when it was going to, so a client sharing the address recovers on time.
func (t *authFailures) blocked(src netip.Addr) (time.Duration, bool) {
	k := sourceKey(src)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.index[k]
	if !ok {
		return 0, false
	}
	e := el.Value.(*failureEntry)
	end := e.start.Add(t.lim.Window)
	if e.count < t.lim.Max || !now.Before(end) {
		return 0, false
	}
	e.refused++
	t.lru.MoveToFront(el)
	return end.Sub(now), true
}

// fail records one authentication failure from src. It reports true, and
// how long the block lasts, for the failure that blocks src (once per
// window), so the block can be audited once.
func (t *authFailures) fail(src netip.Addr) (blocked bool, retryAfter time.Duration) {
	k := sourceKey(src)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var e *failureEntry
	if el, ok := t.index[k]; ok {
		e = el.Value.(*failureEntry)
		t.lru.MoveToFront(el)
	} else {
		for t.lru.Len() >= t.lim.MaxSources {
			t.evict(now)
		}
		e = &failureEntry{key: k, start: now}
		t.index[k] = t.lru.PushFront(e)
	}
	if !now.Before(e.start.Add(t.lim.Window)) {
		e.start, e.count = now, 0 // the old window is over: start a new one
	}
	e.count++
	e.logged++
	if e.count == t.lim.Max {
		return true, e.start.Add(t.lim.Window).Sub(now)
	}
	return false, 0
}

// evictScan bounds how far evict looks for an unblocked source, so a
// tracker full of blocked sources costs a constant per new source.
const evictScan = 64

// evict forgets one source: the least recently touched that is not blocked
// among the evictScan oldest, else the oldest. Flooding the tracker with
// fresh sources then does not free a blocked one to fail again at once.
func (t *authFailures) evict(now time.Time) {
	el := t.lru.Back()
	for cand, i := el, 0; cand != nil && i < evictScan; cand, i = cand.Prev(), i+1 {
		e := cand.Value.(*failureEntry)
		if e.count < t.lim.Max || !now.Before(e.start.Add(t.lim.Window)) {
			el = cand
			break
		}
	}
	e := el.Value.(*failureEntry)
	t.lru.Remove(el)
	delete(t.index, e.key)
	if e.logged > 0 || e.refused > 0 {
		t.evictedFailures += e.logged
		t.evictedSources++
	}
}

// len is the number of sources tracked (for tests of the bound).
func (t *authFailures) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// maxFailureLines bounds the per-source lines of one flush.
const maxFailureLines = 100

// authFailureLine is one aggregated log line, gathered under the lock and
// written after it, so that logging never holds up authentication.
type authFailureLine struct {
	source            string
	failures, refused int
	blocked           bool
	retryAfter        time.Duration
}

// flush logs one line per source with failures or refusals since the last
// flush, and drops sources whose window has ended and have nothing to log:
// a quiet source costs no memory beyond one interval.
func (t *authFailures) flush() {
	now := t.now()
	var lines []authFailureLine
	t.mu.Lock()
	for el := t.lru.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*failureEntry)
		end := e.start.Add(t.lim.Window)
		if e.logged > 0 || e.refused > 0 {
			l := authFailureLine{source: sourceString(e.key), failures: e.logged, refused: e.refused}
			if e.count >= t.lim.Max && now.Before(end) {
				l.blocked, l.retryAfter = true, end.Sub(now)
			}
			lines = append(lines, l)
			e.logged, e.refused = 0, 0
		} else if !now.Before(end) {
			t.lru.Remove(el)
			delete(t.index, e.key)
		}
		el = next
	}
	evictedFailures, evictedSources := t.evictedFailures, t.evictedSources
	t.evictedFailures, t.evictedSources = 0, 0
	t.mu.Unlock()

	interval := t.lim.LogInterval.String()
	if len(lines) > maxFailureLines {
		// Many sources at once (a /48 of IPv6 /64s, a botnet): the busiest
		// get their own line, the rest one line together.
		slices.SortFunc(lines, func(a, b authFailureLine) int {
			return cmp.Compare(b.failures+b.refused, a.failures+a.refused)
		})
		var failures, refused int
		for _, l := range lines[maxFailureLines:] {
			failures += l.failures
			refused += l.refused
		}
		t.log.Warn("security event: authentication failures from more sources than are logged one by one",
			"event", "auth_failed", "source", "others", "sources", len(lines)-maxFailureLines,
			"failures", failures, "refused", refused, "interval", interval)
		lines = lines[:maxFailureLines]
	}
	for _, l := range lines {
		attrs := []any{"event", "auth_failed", "source", l.source, "failures", l.failures,
			"refused", l.refused, "blocked", l.blocked, "interval", interval}
		if l.blocked {
			attrs = append(attrs, "blocked_for", l.retryAfter.Round(time.Second).String())
		}
		t.log.Warn("security event: authentication failures", attrs...)
	}
	if evictedSources > 0 {
		t.log.Warn("security event: authentication failures from sources no longer tracked (tracker full)",
			"event", "auth_failed", "source", "evicted", "sources", evictedSources, "failures", evictedFailures,
			"interval", interval, "max_sources", t.lim.MaxSources)
	}
}

// run flushes every tick until ctx ends, then once more so nothing counted
// is lost at shutdown. tick is injected so tests drive the loop.
func (t *authFailures) run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			t.flush()
			return
		case <-tick:
			t.flush()
		}
	}
}
