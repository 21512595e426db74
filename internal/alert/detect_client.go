package alert

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// maxFirstUse bounds the indicator types and providers remembered per
// client (both come from small, configured sets).
const maxFirstUse = 64

// clientState is what the engine learns of one configured client: its
// request volume and baseline, the distinct indicators of its current
// window, the types and providers it has used, and (without
// source_cidrs) the networks it calls from. Its memory is fixed: a
// HyperLogLog of 2 KiB, at most maxFirstUse types and providers, and at
// most UnexpectedSource.MaxAddresses networks.
type clientState struct {
	name     string
	hasCIDRs bool

	mu        sync.Mutex
	firstSeen time.Time

	volStart time.Time
	volCount int
	// baseline follows the client's active windows (weight Smoothing);
	// longBase follows them slowly (LongTermSmoothing), so volume that
	// drags baseline up a window at a time is still measured against
	// what the client did hours before.
	baseline, longBase                 float64
	windows                            int // windows absorbed into the baselines
	volAlerted, longAlerted, ceilFired bool

	distStart   time.Time
	distinct    hll
	distAlerted bool

	types, providers map[string]bool
	nets             *lru[netip.Prefix, struct{}]
}

func newClientState(name string, c Client, r *Rules) *clientState {
	cs := &clientState{name: name, hasCIDRs: c.SourceCIDRs, types: map[string]bool{}, providers: map[string]bool{},
		nets: newLRU[netip.Prefix, struct{}](r.UnexpectedSource.MaxAddresses)}
	cs.distinct.reset()
	return cs
}

// SetClients replaces the configured clients (a reload). What the engine
// learnt of a client that stays is kept.
func (e *Engine) SetClients(clients map[string]Client) {
	old := e.clients.Load()
	m := make(map[string]*clientState, len(clients))
	for name, c := range clients {
		if old != nil && (*old)[name] != nil && (*old)[name].hasCIDRs == c.SourceCIDRs {
			m[name] = (*old)[name]
			continue
		}
		m[name] = newClientState(name, c, &e.o.Rules)
	}
	e.clients.Store(&m)
}

// request learns from one admitted lookup and returns what it fired.
func (c *clientState) request(r *Rules, now time.Time, src netip.Addr, digest uint64, typ string, providers []string, out []signal) []signal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstSeen.IsZero() {
		c.firstSeen = now
	}
	if r.ClientVolume.Enabled {
		out = c.volume(&r.ClientVolume, now, out)
	}
	if q := &r.QueryPattern; q.Enabled {
		out = c.distinctIndicators(q, now, digest, out)
		if q.FirstUse {
			out = c.firstUse(q, now, typ, providers, out)
		}
	}
	if u := &r.UnexpectedSource; u.Enabled && u.NewAddresses && !c.hasCIDRs {
		out = c.newNetwork(u, now, src, out)
	}
	return out
}

func (c *clientState) volume(r *ClientVolumeRule, now time.Time, out []signal) []signal {
	c.rollVolume(r, now)
	c.volCount++
	l := labels{{"client", c.name}}
	n, win := float64(c.volCount), fmtDuration(r.Window)
	judged := c.windows > 0 && now.Sub(c.firstSeen) >= r.WarmUp && c.volCount >= r.MinRequests
	if judged && !c.volAlerted && n > r.Factor*c.baseline {
		c.volAlerted = true
		out = append(out, signal{rule: RuleClientVolume, severity: r.Severity, labels: l, summary: fmt.Sprintf(
			"client %s: %d requests in the current %s window, over %.3g× its baseline of %.0f", c.name, c.volCount,
			win, r.Factor, c.baseline)})
	}
	// The long-term baseline judges once it has learnt for as many
	// windows as it remembers (1/LongTermSmoothing), so a client's first
	// day is not measured against its first night; and it counts as at
	// least min_requests, so a client that grows from a trickle into real
	// use is judged by the short-term baseline and the ceiling, not by
	// ten times its trickle.
	longJudged := judged && r.LongTermFactor > 0 && float64(c.windows)*r.LongTermSmoothing >= 1
	if long := max(c.longBase, float64(r.MinRequests)); longJudged && !c.longAlerted && n > r.LongTermFactor*long {
		c.longAlerted = true
		out = append(out, signal{rule: RuleClientVolume, severity: r.Severity, labels: l, summary: fmt.Sprintf(
			"client %s: %d requests in the current %s window, over %.3g× its long-term baseline of %.0f", c.name,
			c.volCount, win, r.LongTermFactor, long)})
	}
	ceiling := r.Ceiling
	if own, ok := r.Ceilings[c.name]; ok {
		ceiling = own
	}
	if ceiling > 0 && !c.ceilFired && c.volCount > ceiling {
		c.ceilFired = true
		out = append(out, signal{rule: RuleClientVolume, severity: r.Severity, labels: l, summary: fmt.Sprintf(
			"client %s: more than %d requests in one %s window (the ceiling)", c.name, ceiling, win)})
	}
	return out
}

// rollVolume closes the window that ended before now, folding its count
// into the baselines. Windows without any request are skipped, not
// counted as 0: the baselines are the client's volume while it is
// active, so a client that sleeps at night is not alerted every morning.
func (c *clientState) rollVolume(r *ClientVolumeRule, now time.Time) {
	if c.volStart.IsZero() {
		c.volStart = now
		return
	}
	n := now.Sub(c.volStart) / r.Window
	if n < 1 {
		return
	}
	c.absorb(r, float64(c.volCount), now.Sub(c.firstSeen) >= r.WarmUp)
	c.volStart = c.volStart.Add(n * r.Window)
	c.volCount, c.volAlerted, c.longAlerted, c.ceilFired = 0, false, false, false
}

// absorb folds one window's count into the exponentially weighted
// baselines. Until the warm-up has passed the long-term baseline is the
// short-term one (there is no longer history to keep); after it, it
// learns at its own, slower weight.
func (c *clientState) absorb(r *ClientVolumeRule, count float64, warm bool) {
	if c.windows == 0 {
		c.baseline, c.longBase = count, count
		c.windows++
		return
	}
	c.baseline = learn(c.baseline, count, r.Factor, r.Smoothing, r.MinRequests)
	if warm {
		c.longBase = learn(c.longBase, count, r.LongTermFactor, r.LongTermSmoothing, r.MinRequests)
	} else {
		c.longBase = c.baseline
	}
	c.windows++
}

// learn moves baseline b towards a window's count by weight s, but learns
// the window as at most half-way to the threshold, (1+factor)/2 × b (or
// min_requests, so a small baseline can grow into the range where the
// rule judges at all). The cap is why a ramp cannot hide: were a window
// learnt up to the threshold, factor × b, the baseline could rise by
// 1+s·(factor−1) a window — 1.4× at the defaults — and a client raising
// its volume by just that much each window would stay under the
// threshold for ever. Half-way bounds the rise to 1+s·(factor−1)/2 a
// window (1.2× short-term, 1.0225× long-term at the defaults): a volume
// that rises faster outgrows its baseline by the factor in a bounded
// number of windows, and one that rises slower is what growth looks like.
func learn(b, count, factor, s float64, minRequests int) float64 {
	growth := 2.0 // the long-term rule is off: any cap will do
	if factor > 1 {
		growth = (1 + factor) / 2
	}
	count = min(count, max(growth*b, float64(minRequests)))
	return b + s*(count-b)
}

func (c *clientState) distinctIndicators(q *QueryPatternRule, now time.Time, digest uint64, out []signal) []signal {
	if c.distStart.IsZero() || now.Sub(c.distStart) >= q.Window {
		c.distStart, c.distAlerted = now, false
		c.distinct.reset()
	}
	if !c.distinct.add(digest) || c.distAlerted {
		return out
	}
	if est := c.distinct.estimate(); est > float64(q.MaxDistinct) {
		c.distAlerted = true
		out = append(out, signal{rule: RuleQueryPattern, severity: q.Severity, labels: labels{{"client", c.name}},
			summary: fmt.Sprintf("client %s: about %.0f distinct indicators in %s (threshold %d): enumeration?",
				c.name, est, fmtDuration(q.Window), q.MaxDistinct)})
	}
	return out
}

func (c *clientState) firstUse(q *QueryPatternRule, now time.Time, typ string, providers []string, out []signal) []signal {
	warm := now.Sub(c.firstSeen) >= q.WarmUp
	if typ != "" && !c.types[typ] && len(c.types) < maxFirstUse {
		c.types[typ] = true
		if warm {
			out = append(out, signal{rule: RuleQueryPattern, severity: q.FirstUseSeverity,
				labels:  labels{{"client", c.name}, {"type", typ}},
				summary: fmt.Sprintf("client %s looked up a %s indicator, a type it had not used before", c.name, typ)})
		}
	}
	for _, p := range providers {
		if c.providers[p] || len(c.providers) >= maxFirstUse {
			continue
		}
		c.providers[p] = true
		if warm {
			out = append(out, signal{rule: RuleQueryPattern, severity: q.FirstUseSeverity,
				labels:  labels{{"client", c.name}, {"provider", p}},
				summary: fmt.Sprintf("client %s used provider %s for the first time", c.name, p)})
		}
	}
	return out
}

func (c *clientState) newNetwork(u *UnexpectedSourceRule, now time.Time, src netip.Addr, out []signal) []signal {
	n := network(src, u.IPv4Prefix, u.IPv6Prefix)
	if !n.IsValid() {
		return out
	}
	if _, known := c.nets.get(n); known {
		return out
	}
	c.nets.put(n)
	if now.Sub(c.firstSeen) < u.WarmUp {
		return out
	}
	return append(out, signal{rule: RuleUnexpectedSource, severity: u.NewAddressSeverity,
		labels: labels{{"client", c.name}, {"source", n.String()}},
		summary: fmt.Sprintf("client %s called from %s (network %s), where it was not seen before",
			c.name, src.Unmap().WithZone(""), n)})
}

// networks is how many networks the client's tracker holds.
func (c *clientState) networks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nets.len()
}
