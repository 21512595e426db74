package alert

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// deadLetterBuckets divide the dead_letters window: the items that died
// within it are counted to within one bucket (a minute at the default 1h).
const deadLetterBuckets = 60

// deadLetterTracker follows the dead-letter count from poll to poll: the
// count the last successful poll read, and the growth seen since, in a
// ring of time buckets spanning the window. Growth is what the rule
// watches, not the count: an item that sat in the queue before is not
// news. So a new process, which has no count yet, takes its first poll as
// the baseline — the items that died before a restart (or before another
// replica started) are not alerted again. A count that falls (an operator
// retried or purged items) is no growth; what dies after is.
type deadLetterTracker struct {
	mu      sync.Mutex
	bucket  time.Duration
	known   bool // a poll succeeded: last is its count
	last    int
	failing bool // the last poll failed
	b       [deadLetterBuckets]struct {
		slot int64
		n    int
	}
}

func (d *deadLetterTracker) init(window time.Duration) {
	d.bucket = max(window/deadLetterBuckets, time.Millisecond)
}

// observe records the count a poll read at now and returns the items
// that died since the previous poll, and within the window ending now.
func (d *deadLetterTracker) observe(count int, now time.Time) (grew, recent int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failing = false
	if d.known && count > d.last {
		grew = count - d.last
	}
	d.known, d.last = true, count
	slot := now.UnixNano() / int64(d.bucket)
	if grew > 0 {
		b := &d.b[slot%deadLetterBuckets]
		if b.slot != slot {
			b.slot, b.n = slot, 0
		}
		b.n += grew
	}
	for _, b := range d.b {
		if b.slot > slot-deadLetterBuckets && b.slot <= slot {
			recent += b.n
		}
	}
	return grew, recent
}

// fail records a failed poll: the count stays what it was, so the growth
// during an outage is seen by the next poll that succeeds.
func (d *deadLetterTracker) fail() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failing = true
}

// isFailing reports whether the last poll failed: then the alert is kept
// as it is, not resolved by going quiet (nothing was seen, not "no
// growth").
func (d *deadLetterTracker) isFailing() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failing
}

// pollDeadLetters raises dead_letters when the dead-letter queue grew by
// at least MinNew items within the window (at a poll that saw it grow),
// and at critical at every poll while it holds at least CriticalTotal.
// It resolves the alert at once when the queue is empty; otherwise the
// alert resolves once it has not fired for its cooldown (Evaluate's
// resolveQuiet): the queue stopped growing, and holds fewer than
// CriticalTotal. A failed poll changes nothing.
//
// The alert has no labels: the count is the store's, the same on every
// replica, so replicas that poll it raise the same alert — one row, as
// the quota rule's — and never one per replica.
func (e *Engine) pollDeadLetters(ctx context.Context, now time.Time) {
	r := e.o.Rules.DeadLetters
	if !r.Enabled || e.o.DeadLetters == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.o.PollTimeout)
	defer cancel()
	count, err := e.o.DeadLetters.DeadLetters(pctx)
	if err != nil {
		e.dead.fail()
		e.log.Warn("alert rule dead_letters: reading the dead-letter count failed; its alert is kept as it is", "error", err.Error())
		return
	}
	count = max(count, 0)
	grew, recent := e.dead.observe(count, now)
	critical := r.CriticalTotal > 0 && count >= r.CriticalTotal
	switch {
	case critical:
	case grew > 0 && recent >= r.MinNew:
	case count == 0:
		e.settle(RuleDeadLetters, nil, now) // emptied: nothing is waiting for anyone
		return
	default:
		return
	}
	sev := r.Severity
	summary := fmt.Sprintf("the dead-letter queue holds %d bulk items", count)
	if recent > 0 {
		summary += fmt.Sprintf(", %d new within %s", recent, fmtDuration(r.Window))
	}
	if critical {
		sev = Critical
		summary += fmt.Sprintf(" (critical at %d)", r.CriticalTotal)
	}
	summary += ": their attempts ran out; list and retry them at GET /admin/v1/dlq"
	e.raise(signal{rule: RuleDeadLetters, severity: sev, summary: summary}, now)
}
