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
// fraction of the provider's rate. The holds are spaced per bucket
// (pacer), so a replica's workers line up for the units in turn rather
// than race for each one, and all but one of them at most are held for
// one bucket at once, so one provider's backlog never takes every worker
// from other providers' items.
const (
	// maxHold is the furthest ahead a worker is held for a unit; beyond
	// it, the item is snoozed and the worker freed.
	maxHold = time.Second
	// maxHeldWait bounds the holds of one attempt before the item is
	// snoozed all the same (and at most a quarter of jobs.item_timeout).
	maxHeldWait = 10 * time.Second
	// holdMargin is the least time a hold leaves before the attempt's
	// deadline, for the lookup that follows it.
	holdMargin = 5 * time.Second
	// minHold spaces two holds for one bucket when the governor's
	// estimate is zero (a unit free again by the time it answered).
	minHold = 5 * time.Millisecond
)

// pacer hands out the turns of the workers held for each bucket's next
// unit: each turn after the last one handed out, by the governor's
// estimate of the time to the next unit.
type pacer struct {
	mu   sync.Mutex
	next map[string]time.Time // bucket → the last turn given
	held map[string]int       // bucket → workers held for it now
}

// turn is how long a worker refused with the estimate wait for bucket key
// is held before it asks again, with the release to call when it stops
// waiting; false when the turn would be beyond horizon (at most maxHold)
// or limit workers are held for key already (the caller snoozes the item
// instead, and the turn is not taken).
func (p *pacer) turn(key string, wait time.Duration, now time.Time, limit int, horizon time.Duration) (time.Duration, func(), bool) {
	wait = max(wait, minHold)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[key] >= limit {
		return 0, nil, false
	}
	at := now.Add(wait)
	if last, ok := p.next[key]; ok && last.Add(wait).After(at) {
		at = last.Add(wait)
	}
	d := at.Sub(now)
	if d > min(horizon, maxHold) {
		return 0, nil, false
	}
	if p.next == nil {
		p.next, p.held = map[string]time.Time{}, map[string]int{}
	}
	p.next[key] = at
	p.held[key]++
	return d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.held[key]--
	}, true
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
