package alert_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/store"
)

// deadStub is the dead-letter count of a shared store: every replica (and
// every restarted engine) that reads it sees the same number.
type deadStub struct {
	n    atomic.Int64
	fail atomic.Bool
}

func (d *deadStub) set(n int) { d.n.Store(int64(n)) }

func (d *deadStub) DeadLetters(context.Context) (int, error) {
	if d.fail.Load() {
		return 0, errors.New("database unreachable")
	}
	return int(d.n.Load()), nil
}

func withDead(d *deadStub) option { return func(o *alert.Options) { o.DeadLetters = d } }

// step advances h's clock by d and evaluates.
func (h *harness) step(d time.Duration) {
	h.clock.Advance(d)
	h.evaluate()
}

// New dead items fire the rule (warning); the items that were dead at the
// first poll are its baseline, not news; a queue that shrinks (retried
// items) is no growth. Once the queue has not grown for the cooldown the
// alert resolves, and every growth before that moves its end.
func TestDeadLettersGrowthFiresAndQuietResolves(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	dl := &deadStub{}
	dl.set(40)
	h := newHarness(t, withDead(dl), withSink(rec))
	runEngine(t, h.e)
	h.evaluate() // the baseline: 40 items died before this engine started
	dl.set(35)   // five retried
	h.step(30 * time.Second)
	require.Empty(t, h.e.Live(), "a baseline and a shrinking queue are no growth")

	dl.set(36)
	h.step(30 * time.Second)
	n := rec.next(t)
	require.Equal(t, alert.EventFired, n.Event)
	require.Equal(t, alert.RuleDeadLetters, n.Alert.Rule)
	require.Equal(t, alert.Warning, n.Alert.Severity)
	require.Empty(t, n.Alert.Labels, "a count is no label: one alert, whatever the items")
	require.Empty(t, n.Alert.DedupeKey)
	require.Equal(t, "the dead-letter queue holds 36 bulk items, 1 new within 1h: their attempts ran out; "+
		"list and retry them at GET /admin/v1/dlq", n.Alert.Summary)

	h.step(10 * time.Minute) // not grown since: not yet for its cooldown
	require.Len(t, h.live(alert.RuleDeadLetters), 1)
	dl.set(38)
	h.step(time.Minute) // grew again: the same alert, counted, not notified
	live := h.live(alert.RuleDeadLetters)
	require.Len(t, live, 1)
	require.Equal(t, n.Alert.ID, live[0].ID)
	require.Equal(t, int64(2), live[0].Count)
	require.Contains(t, live[0].Summary, "holds 38 bulk items, 3 new within 1h")

	h.step(14 * time.Minute)
	require.Len(t, h.live(alert.RuleDeadLetters), 1, "14m without growth")
	h.step(time.Minute)
	require.Empty(t, h.live(alert.RuleDeadLetters), "a cooldown without growth")
	n = rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event)
	require.Equal(t, live[0].ID, n.Alert.ID)
	require.Len(t, rec.all(), 2, "fired and resolved; the second growth was within the cooldown")
}

// min_new counts the items that died within the window: fewer fire
// nothing, and an item that died longer ago than the window no longer
// counts.
func TestDeadLettersMinNewWithinWindow(t *testing.T) {
	t.Parallel()
	dl := &deadStub{}
	h := newHarness(t, withDead(dl), withRules(func(r *alert.Rules) { r.DeadLetters.MinNew = 3 }))
	h.evaluate() // baseline 0
	dl.set(1)
	h.step(time.Minute) // 1 in the window
	dl.set(2)
	h.step(30 * time.Minute) // 2
	require.Empty(t, h.e.Live())
	dl.set(3)
	h.step(35 * time.Minute) // the first one died 65m ago: 2 within 1h
	require.Empty(t, h.e.Live(), "an item older than the window no longer counts")
	dl.set(4)
	h.step(5 * time.Minute) // 3 within 1h
	live := h.live(alert.RuleDeadLetters)
	require.Len(t, live, 1)
	require.Contains(t, live[0].Summary, "holds 4 bulk items, 3 new within 1h")
}

// At critical_total the rule is critical, with or without growth, and
// stays so while the queue holds that many: a backlog waits for someone.
// A growth alert escalates when the queue reaches it; an emptied queue
// resolves the alert at once.
func TestDeadLettersCriticalTotal(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	dl := &deadStub{}
	dl.set(90)
	h := newHarness(t, withDead(dl), withSink(rec))
	runEngine(t, h.e)
	h.evaluate()
	dl.set(95)
	h.step(30 * time.Second)
	first := rec.next(t)
	require.Equal(t, alert.EventFired, first.Event)
	require.Equal(t, alert.Warning, first.Alert.Severity)

	dl.set(100)
	h.step(30 * time.Second)
	n := rec.next(t)
	require.Equal(t, alert.EventEscalated, n.Event, "within the cooldown, but more urgent")
	require.Equal(t, alert.Critical, n.Alert.Severity)
	require.Equal(t, first.Alert.ID, n.Alert.ID)
	require.Contains(t, n.Alert.Summary, "holds 100 bulk items, 10 new within 1h (critical at 100)")

	h.step(2 * time.Hour) // not grown, still 100: kept, and reminded
	require.Len(t, h.live(alert.RuleDeadLetters), 1, "a backlog does not resolve by waiting")
	require.Equal(t, alert.EventRepeated, rec.next(t).Event)

	dl.set(0) // retried or purged, all of it
	h.step(30 * time.Second)
	require.Empty(t, h.e.Live(), "emptied: resolved at once")
	n = rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event)
	require.Equal(t, first.Alert.ID, n.Alert.ID)
}

// A queue that already holds critical_total at the first poll is critical
// at once (no growth needed); critical_total 0 turns it off.
func TestDeadLettersBacklogAtStart(t *testing.T) {
	t.Parallel()
	dl := &deadStub{}
	dl.set(250)
	h := newHarness(t, withDead(dl))
	h.evaluate()
	live := h.live(alert.RuleDeadLetters)
	require.Len(t, live, 1)
	require.Equal(t, alert.Critical, live[0].Severity)
	require.Equal(t, "the dead-letter queue holds 250 bulk items (critical at 100): their attempts ran out; "+
		"list and retry them at GET /admin/v1/dlq", live[0].Summary)

	off := newHarness(t, withDead(dl), withRules(func(r *alert.Rules) { r.DeadLetters.CriticalTotal = 0 }))
	off.evaluate()
	off.step(time.Hour)
	require.Empty(t, off.e.Live())
}

// A count that cannot be read is no all-clear: the alert is kept however
// long the outage, and what died meanwhile is seen by the next poll.
func TestDeadLettersFailedPollKeepsAlert(t *testing.T) {
	t.Parallel()
	dl := &deadStub{}
	h := newHarness(t, withDead(dl))
	h.evaluate()
	dl.set(2)
	h.step(time.Minute)
	require.Len(t, h.live(alert.RuleDeadLetters), 1)

	dl.fail.Store(true)
	for range 4 {
		h.step(15 * time.Minute)
	}
	require.Len(t, h.live(alert.RuleDeadLetters), 1, "an hour of failed polls")
	require.Contains(t, h.logs.String(), "reading the dead-letter count failed")
	dl.set(5)
	dl.fail.Store(false)
	h.step(time.Minute)
	live := h.live(alert.RuleDeadLetters)
	require.Len(t, live, 1)
	require.Equal(t, int64(2), live[0].Count, "the items that died during the outage fired it again")
	require.Contains(t, live[0].Summary, "holds 5 bulk items, 3 new within 1h")
	h.step(15 * time.Minute)
	require.Empty(t, h.e.Live())
}

// Without jobs (no DeadLetters input) the rule has nothing to watch: it
// never fires, and an alert of it read back at start is resolved.
func TestDeadLettersWithoutJobs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	st1 := openFile(t, path)
	dl := &deadStub{}
	dl.set(500)
	h1 := newHarness(t, withStore(st1), withDead(dl))
	h1.evaluate()
	require.Len(t, h1.live(alert.RuleDeadLetters), 1)
	require.NoError(t, st1.Close())

	h2 := at(newHarness(t, withStore(openFile(t, path))), time.Minute)
	h2.evaluate()
	h2.step(time.Hour)
	require.Empty(t, h2.e.Live())
	got := stored(t, h2, alert.Filter{Rule: alert.RuleDeadLetters})
	require.Len(t, got, 1)
	require.Equal(t, alert.StateResolved, got[0].State, "nothing would ever resolve it")
}

// After a restart the alert is tracked again, under its id: the new
// engine's first poll is a baseline (the items already dead are not news
// again, nor notified again), growth from the second poll on adds to the
// alert, and without growth it resolves a cooldown after its last firing
// before the restart.
func TestDeadLettersAcrossARestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	st1 := openFile(t, path)
	dl := &deadStub{}
	dl.set(3)
	h1 := newHarness(t, withStore(st1), withDead(dl))
	h1.evaluate()
	dl.set(5)
	h1.step(time.Minute)
	id := h1.live(alert.RuleDeadLetters)[0].ID
	require.NoError(t, st1.Close())

	rec := newRecorder()
	h2 := at(newHarness(t, withStore(openFile(t, path)), withDead(dl), withSink(rec)), 3*time.Minute) // down for 2m
	runEngine(t, h2.e)
	h2.evaluate()
	live := h2.live(alert.RuleDeadLetters)
	require.Len(t, live, 1, "tracked again")
	require.Equal(t, id, live[0].ID)
	require.Equal(t, int64(1), live[0].Count, "the first poll is a baseline, no firing")

	dl.set(6)
	h2.step(time.Minute)
	live = h2.live(alert.RuleDeadLetters)
	require.Len(t, live, 1)
	require.Equal(t, id, live[0].ID)
	require.Equal(t, int64(2), live[0].Count)

	h2.step(15 * time.Minute)
	require.Empty(t, h2.e.Live())
	n := rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event, "nothing notified before: it was notified before the restart")
	require.Equal(t, id, n.Alert.ID)
	got := stored(t, h2, alert.Filter{Rule: alert.RuleDeadLetters})
	require.Len(t, got, 1)
	require.Equal(t, alert.StateResolved, got[0].State)
	require.Equal(t, int64(2), got[0].Count)
}

// Replicas poll the same shared count: they raise one alert — one row,
// one id, counts summed — not one each; a replica that starts later takes
// the count it finds as its baseline and adopts the live row; an emptied
// queue resolves it.
func testDeadLetterReplicas(t *testing.T, st store.Store) {
	dl := &deadStub{}
	dl.set(10)
	a, b := newHarness(t, withStore(st), withDead(dl)), newHarness(t, withStore(st), withDead(dl))
	a.evaluate()
	b.evaluate()
	dl.set(12)
	a.step(30 * time.Second)
	b.step(30 * time.Second)
	got := stored(t, a, alert.Filter{Rule: alert.RuleDeadLetters})
	require.Len(t, got, 1, "one alert for the shared queue")
	require.Equal(t, int64(2), got[0].Count)
	require.Equal(t, alert.StateOpen, got[0].State)
	require.Equal(t, a.live(alert.RuleDeadLetters)[0].ID, b.live(alert.RuleDeadLetters)[0].ID, "b adopted a's row")

	c := at(newHarness(t, withStore(st), withDead(dl)), 30*time.Second)
	c.evaluate()
	require.Len(t, c.live(alert.RuleDeadLetters), 1, "adopted")
	require.Equal(t, int64(2), stored(t, c, alert.Filter{Rule: alert.RuleDeadLetters})[0].Count,
		"the items dead when c started are its baseline")

	dl.set(0)
	for _, h := range []*harness{a, b, c} {
		h.step(30 * time.Second)
		require.Empty(t, h.e.Live())
	}
	got = stored(t, a, alert.Filter{Rule: alert.RuleDeadLetters})
	require.Len(t, got, 1)
	require.Equal(t, alert.StateResolved, got[0].State)
}
