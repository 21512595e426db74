package jobs

import (
	"context"
	"sync"
	"time"
)

// A refused bulk item whose provider has its next bulk unit soon is held
// by its worker until then and asked again, instead of being snoozed
// through the database: a snooze is a write and a fetch, and a worker
// batch fetched together would otherwise wake together, one of them take
// the unit and the rest snooze for a second each — a drain then runs at a
// fraction of the provider's rate. The holds are spaced per provider
// (pacer), so a replica's workers line up for the units in turn rather
// than race for each one.
const (
	// maxHold is the furthest ahead a worker is held for a unit; beyond
	// it, the item is snoozed and the worker freed. It also bounds how
	// long a slow provider can keep workers from other providers' items.
	maxHold = time.Second
	// maxHeldWait bounds the holds of one attempt before the item is
	// snoozed all the same (and at most a quarter of jobs.item_timeout).
	maxHeldWait = 10 * time.Second
	// minHold spaces two holds for one provider when the governor's
	// estimate is zero (a unit free again by the time it answered).
	minHold = 5 * time.Millisecond
)

// pacer hands out the turns of the workers held for each provider's next
// bulk unit: each turn after the last one handed out, by the governor's
// estimate of the time to the next unit.
type pacer struct {
	mu   sync.Mutex
	next map[string]time.Time // provider (or "" for the client's own limit) → the last turn given
}

// turn is how long a worker refused with the estimate wait for provider
// is held before it asks again, and false when that is beyond maxHold
// (the caller snoozes the item instead).
func (p *pacer) turn(provider string, wait time.Duration, now time.Time) (time.Duration, bool) {
	wait = max(wait, minHold)
	p.mu.Lock()
	defer p.mu.Unlock()
	at := now.Add(wait)
	if last, ok := p.next[provider]; ok && last.After(now) && last.Add(wait).After(at) {
		at = last.Add(wait)
	}
	d := at.Sub(now)
	if d > maxHold {
		return 0, false
	}
	if p.next == nil {
		p.next = map[string]time.Time{}
	}
	p.next[provider] = at
	return d, true
}

// sleep waits d, or until ctx ends (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
