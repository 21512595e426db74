package alert

import (
	"fmt"
	"sync"
	"time"
)

// upstreamBuckets divide the upstream_errors window: the ratio is over
// the last window to within one bucket (5% of it).
const upstreamBuckets = 20

// maxProviders bounds the providers tracked. Provider names come from
// the config, so this is never reached in practice; past it, calls of
// new names are not counted.
const maxProviders = 256

// upstreamTracker counts each provider's upstream calls and failures in
// a ring of time buckets spanning the window.
type upstreamTracker struct {
	rule   UpstreamErrorsRule
	bucket time.Duration

	mu sync.RWMutex
	m  map[string]*callWindow
}

type callWindow struct {
	mu sync.Mutex
	b  [upstreamBuckets]callBucket
}

type callBucket struct {
	slot        int64
	calls, errs int
}

func (u *upstreamTracker) init(r UpstreamErrorsRule) {
	u.rule, u.m = r, map[string]*callWindow{}
	u.bucket = max(r.Window/upstreamBuckets, time.Millisecond)
}

func (u *upstreamTracker) window(provider string) *callWindow {
	u.mu.RLock()
	w := u.m[provider]
	u.mu.RUnlock()
	if w != nil {
		return w
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if w = u.m[provider]; w == nil && len(u.m) < maxProviders {
		w = &callWindow{}
		u.m[provider] = w
	}
	return w
}

// add counts one call of provider at now.
func (u *upstreamTracker) add(provider string, failed bool, now time.Time) {
	w := u.window(provider)
	if w == nil {
		return
	}
	slot := now.UnixNano() / int64(u.bucket)
	w.mu.Lock()
	defer w.mu.Unlock()
	b := &w.b[slot%upstreamBuckets]
	if b.slot != slot {
		*b = callBucket{slot: slot}
	}
	b.calls++
	if failed {
		b.errs++
	}
}

// totals are provider's calls and failures in the window ending at now.
func (w *callWindow) totals(now time.Time, bucket time.Duration) (calls, errs int) {
	slot := now.UnixNano() / int64(bucket)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.b {
		if b.slot > slot-upstreamBuckets && b.slot <= slot {
			calls += b.calls
			errs += b.errs
		}
	}
	return calls, errs
}

// evaluateUpstream raises upstream_errors for every provider over the
// ratio and resolves the others.
func (e *Engine) evaluateUpstream(now time.Time) {
	r := e.o.Rules.UpstreamErrors
	if !r.Enabled {
		return
	}
	e.up.mu.RLock()
	windows := make(map[string]*callWindow, len(e.up.m))
	for p, w := range e.up.m {
		windows[p] = w
	}
	e.up.mu.RUnlock()
	active := map[string]bool{}
	for p, w := range windows {
		calls, errs := w.totals(now, e.up.bucket)
		if calls < r.MinRequests || float64(errs) < r.Ratio*float64(calls) {
			continue
		}
		l := labels{{"provider", p}}
		active[l.key()] = true
		e.raise(signal{rule: RuleUpstreamErrors, severity: r.Severity, labels: l,
			summary: fmt.Sprintf("provider %s: %d of %d upstream calls failed in the last %s (%.0f%%; threshold %.0f%%)",
				p, errs, calls, fmtDuration(r.Window), 100*float64(errs)/float64(calls), 100*r.Ratio)}, now)
	}
	e.settle(RuleUpstreamErrors, active, now)
}

// fmtDuration prints d without trailing zero units: 5m, 1h30m, 24h.
func fmtDuration(d time.Duration) string {
	s := d.String()
	for _, z := range []string{"m0s", "h0m"} {
		if len(s) > len(z) && s[len(s)-len(z):] == z {
			s = s[:len(s)-len(z)+1]
		}
	}
	return s
}
