package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/observe"
)

// Defaults of Options.
const (
	DefaultShutdownTimeout = 5 * time.Second
	DefaultPollTimeout     = 10 * time.Second
	// DefaultStoreTimeout bounds one flush's writes.
	DefaultStoreTimeout = 10 * time.Second
)

// Options configure an Engine. FromConfig fills Rules, Clients, Providers
// and Sinks from the config; the caller adds the rest.
type Options struct {
	Rules Rules
	// Clients are the configured clients; Request and AuthFailed ignore
	// any other name, and labels never carry one.
	Clients map[string]Client
	// Providers are the configured provider names; labels carry
	// "unknown" for any other. Nil: any plain name.
	Providers []string
	// Keys are each provider's configured key ids, likewise (nil: any
	// plain name): a caller that passed a key where its id belongs must
	// not put it into an alert.
	Keys map[string][]string
	// Store keeps the alerts (nil: memory only; List and Ack return
	// ErrNoStore).
	Store *Store
	// Sinks receive the notifications. A log sink named "log" is added
	// when none of them is a *LogSink.
	Sinks []SinkSpec
	// Quotas and KeyAges are polled on each evaluation (nil: the quota
	// and key_age rules have nothing to watch).
	Quotas  QuotaSource
	KeyAges KeyAgeSource
	// KeyStates is polled on each evaluation too (nil: a confirmed
	// key_rejected alert resolves only on a KeyRestored event).
	KeyStates KeyStateSource
	// DeadLetters is polled on each evaluation too (nil: no bulk jobs,
	// the dead_letters rule has nothing to watch and never fires).
	DeadLetters DeadLetterSource
	// OnFire hears every alert that fires, escalates or reopens, on the
	// engine's goroutine, before its notifications are queued: it must
	// return quickly (queue slow work) and must not call the engine's
	// List or Ack.
	OnFire func(Alert)
	Clock  clock.Clock
	Log    *slog.Logger
	Meter  Meter
	// ShutdownTimeout bounds Run's final flush and the sinks' drain.
	ShutdownTimeout time.Duration
	// PollTimeout bounds each poll of Quotas, KeyAges, KeyStates and
	// DeadLetters.
	PollTimeout time.Duration
}

// Client is what the engine knows of a configured client.
type Client struct {
	// SourceCIDRs: the client has source_cidrs, so a request from
	// elsewhere is refused (and alerted as unexpected_source) before it
	// is admitted; a client without them is watched for new networks.
	SourceCIDRs bool
}

// Engine evaluates the rules. Its inputs (Observe, AuthFailed, Request,
// SecretFailed, SecretRecovered) are safe for concurrent use and never
// block; Run does the rest.
type Engine struct {
	o     Options
	clock clock.Clock
	log   *slog.Logger
	meter Meter
	sinks []*worker

	clients   atomic.Pointer[map[string]*clientState]
	names     atomic.Pointer[names]
	sinkNames map[string]bool
	up        upstreamTracker
	auth      *authTracker
	revoked   keySet
	// breakers are the providers whose breaker is open now: a
	// breaker_open alert resolves only once it has closed and stayed quiet
	// for its cooldown, so a flapping breaker is one alert, not one a cycle.
	breakers keySet
	// secrets are the secret fields whose source fails now (the field
	// label, "" key): like a breaker, a secret_source alert resolves only
	// once its field has read again and stayed quiet for its cooldown.
	secrets keySet
	// auditDropped is every audit record reported dropped, for the
	// audit_dropped alert's summary.
	auditDropped atomic.Int64
	// dead follows the dead-letter count from poll to poll.
	dead deadLetterTracker

	mu        sync.Mutex
	table     map[string]*tracked // rule NUL dedupe key → live alert
	perSource map[string]int      // live alerts keyed by a source: capped at MaxOpen
	resolved  []*tracked          // resolved, not yet written
	// released are the stored rows a restore resolved (beyond the budgets,
	// or of a rule now off), not yet written: at most what one restore
	// reads, apart from resolved so that they never push its entries out.
	released          []*tracked
	notes             []note
	suppressed        map[string]int // since the last log line, per rule
	unwritten         int            // resolutions never written (store down too long)
	lastSuppressedLog time.Time

	wake    chan struct{} // a notification waits: flush now
	running atomic.Bool   // Run has been called (it runs once)

	restoreMu  sync.Mutex // one restore at a time; guards the fields below
	restored   bool       // the store's live alerts are in the table
	restoreN   int        // failed reads of them
	restoreAt  time.Time  // no read before (a backoff after a failure)
	restoreLog time.Time  // the last failure logged

	flushMu    sync.Mutex // one flush at a time; guards the fields below
	closed     bool       // Run has shut down: nothing more is dispatched
	storeFails int
	retryAt    time.Time
	lastLogged time.Time
}

var _ observe.Observer = (*Engine)(nil)

// New checks o and returns an Engine; nothing runs until Run.
func New(o Options) (*Engine, error) {
	if err := o.Rules.check(); err != nil {
		return nil, err
	}
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Meter == nil {
		o.Meter = nopMeter{}
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = DefaultPollTimeout
	}
	e := &Engine{o: o, clock: o.Clock, log: o.Log, meter: o.Meter,
		auth:  newAuthTracker(o.Rules.AuthFailures),
		table: map[string]*tracked{}, perSource: map[string]int{}, suppressed: map[string]int{},
		wake: make(chan struct{}, 1)}
	e.up.init(o.Rules.UpstreamErrors)
	e.dead.init(o.Rules.DeadLetters.Window)
	e.SetProviders(o.Providers, o.Keys)
	e.SetClients(o.Clients)
	specs := slices.Clone(o.Sinks)
	if !slices.ContainsFunc(specs, func(s SinkSpec) bool { _, ok := s.Sink.(*LogSink); return ok }) {
		specs = append(specs, SinkSpec{Name: "log", Sink: NewLogSink(o.Log), MinSeverity: Info, SendResolved: true})
	}
	names := map[string]bool{}
	for _, s := range specs {
		if ls, ok := s.Sink.(*LogSink); ok && ls.log == nil {
			s.Sink = NewLogSink(o.Log)
		}
		w, err := newWorker(s, e)
		if err != nil {
			return nil, err
		}
		if names[s.Name] {
			return nil, fmt.Errorf("alert: two sinks named %q", s.Name)
		}
		names[s.Name] = true
		e.sinks = append(e.sinks, w)
	}
	e.sinkNames = names
	return e, nil
}

// Run evaluates every Rules.EvaluateEvery and writes and delivers what
// fires, until ctx ends; then it writes what is pending and lets the
// sinks deliver what they hold, within ShutdownTimeout, and returns. No
// goroutine it started outlives it. An Engine runs once: a second Run
// returns an error at once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("alert: Run was already called on this engine")
	}
	// The sinks' context outlives ctx by the drain: what is queued when
	// the gateway stops is still worth sending.
	sinkCtx, stopSinks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSinks()
	var wg sync.WaitGroup
	for _, w := range e.sinks {
		wg.Go(func() { w.run(sinkCtx) })
	}
	// Before anything is evaluated: what the store holds live from before
	// a restart (or from another replica) is tracked, not orphaned.
	e.restore(ctx)
	// The period is wall time; every time the rules read is the clock's.
	tick := time.NewTicker(e.o.Rules.EvaluateEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			e.Evaluate(ctx)
		case <-e.wake:
			e.flush(ctx)
		case <-ctx.Done():
			e.shutdown(ctx, stopSinks, &wg)
			return nil
		}
	}
}

// shutdown writes what is pending and drains the sinks, bounded by
// ShutdownTimeout; what is left then is dropped, counted and logged.
func (e *Engine) shutdown(ctx context.Context, stopSinks context.CancelFunc, wg *sync.WaitGroup) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.o.ShutdownTimeout)
	defer cancel()
	e.flushMu.Lock()
	e.retryAt = time.Time{} // one last try, whatever the backoff says
	e.flushLocked(dctx)
	e.closed = true
	for _, w := range e.sinks {
		close(w.queue)
	}
	e.flushMu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-dctx.Done():
		stopSinks() // in-flight deliveries end; what is queued is dropped
		<-done
	}
	for _, w := range e.sinks {
		if c, ok := w.spec.Sink.(interface{ Close() }); ok {
			c.Close()
		}
	}
	e.mu.Lock()
	pending := len(e.resolved) + len(e.released) + e.unwritten
	for _, t := range e.table {
		if t.dirty {
			pending++
		}
	}
	e.mu.Unlock()
	if pending > 0 && e.o.Store != nil {
		e.log.Error("alerts not written to the store at shutdown", "alerts", pending)
	}
}

// Evaluate runs the windowed and polled rules at the clock's now,
// resolves what cleared, and writes and dispatches the result. Run calls
// it every EvaluateEvery; tests (and an operator's "evaluate now") call
// it directly.
func (e *Engine) Evaluate(ctx context.Context) {
	e.restore(ctx) // once; again after a failed read
	now := e.clock.Now()
	e.evaluateUpstream(now)
	e.pollQuota(ctx, now)
	e.pollKeyAges(ctx, now)
	e.pollKeyStates(ctx, now)
	e.pollDeadLetters(ctx, now)
	e.heartbeat(now)
	e.resolveQuiet(now, func(a *Alert) bool {
		switch a.Rule {
		case RuleClientVolume, RuleQueryPattern, RuleUnexpectedSource, RuleAuthFailures, RuleAuditDropped:
			return true
		case RuleKeyRejected:
			return !e.revoked.has(a.Labels["provider"], a.Labels["key_id"])
		case RuleBreakerOpen:
			return !e.breakers.has(a.Labels["provider"], "")
		case RuleSecretSource:
			return !e.secrets.has(a.Labels["field"], "")
		case RuleDeadLetters:
			return !e.dead.isFailing() // not grown for its cooldown; an unreadable count is no all-clear
		}
		return false
	})
	e.meterOpen()
	e.flush(ctx)
}

// meterOpen sets the live-alert gauge of every rule and severity,
// counted from the table (at most max_open per rule) so an escalation
// moves an alert from one severity's series to the other's.
func (e *Engine) meterOpen() {
	type rs struct {
		rule string
		sev  Severity
	}
	n := map[rs]int{}
	e.mu.Lock()
	for _, t := range e.table {
		n[rs{t.a.Rule, t.a.Severity}]++
	}
	e.mu.Unlock()
	for _, r := range RuleNames() {
		for _, sev := range []Severity{Info, Warning, Critical} {
			e.meter.Open(r, string(sev), n[rs{r, sev}])
		}
	}
}

// flush writes the changed alerts and dispatches the waiting
// notifications.
func (e *Engine) flush(ctx context.Context) {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	e.flushLocked(ctx)
}

func (e *Engine) flushLocked(ctx context.Context) {
	now := e.clock.Now()
	writes, notes := e.collect(now)
	if len(writes) > 0 {
		notes = append(notes, e.persist(ctx, writes, now)...)
	}
	e.dispatch(notes, now)
	e.logSuppressed(now)
}

// collect takes the notifications and, unless the store is in backoff,
// the changed alerts. Conditional resolutions (guardLocked) are not among
// the notifications: persist releases them once their writes won.
func (e *Engine) collect(now time.Time) ([]write, []note) {
	e.mu.Lock()
	defer e.mu.Unlock()
	notes := e.notes
	e.notes = nil
	if e.o.Store == nil || now.Before(e.retryAt) {
		if e.o.Store == nil {
			e.resolved = nil // nothing will ever write them
		}
		return nil, notes
	}
	var ws []write
	take := func(t *tracked) {
		ws = append(ws, write{t: t, a: t.a, delta: t.delta, reopen: t.reopen, stored: t.stored, ifSeen: e.guardLocked(t)})
		t.delta, t.dirty, t.reopen = 0, false, false
	}
	for _, t := range e.table {
		if t.dirty {
			take(t)
		}
	}
	for _, t := range e.resolved {
		take(t)
	}
	for _, t := range e.released {
		take(t)
	}
	return ws, notes
}

// persist writes ws; on failure they are marked changed again and the
// next flush after a backoff retries them. It returns the conditional
// resolutions whose writes won, to be notified now; one that lost
// (another replica fired the alert, or refreshed its state, since) is the
// other replica's to resolve and notify, and is dropped.
func (e *Engine) persist(ctx context.Context, ws []write, now time.Time) []note {
	sctx, cancel := context.WithTimeout(ctx, DefaultStoreTimeout)
	defer cancel()
	res, err := e.o.Store.apply(sctx, ws, now)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		for _, w := range ws {
			w.t.delta += w.delta
			w.t.dirty = true
			w.t.reopen = w.t.reopen || w.reopen
		}
		e.storeFails++
		e.retryAt = now.Add(storeBackoff(e.storeFails))
		e.meter.StoreFailed()
		if now.Sub(e.lastLogged) >= dropLogEvery {
			e.lastLogged = now
			e.log.Error("writing alerts to the store failed; they stay pending and are retried",
				"alerts", len(ws), "failures", e.storeFails, "error", err.Error())
		}
		return nil
	}
	e.storeFails, e.retryAt = 0, time.Time{}
	done := map[*tracked]bool{}
	var won []note
	for i, w := range ws {
		w.t.stored = true
		w.t.a.ID = res[i].ID
		if w.a.State == StateResolved {
			done[w.t] = true
			if w.t.notifyOnWrite && !res[i].Kept {
				won = append(won, note{t: w.t, ev: EventResolved, a: w.t.a})
			}
			w.t.notifyOnWrite = false
			continue
		}
		w.t.written = maxTime(w.t.written, w.a.LastSeen)
		if res[i].State == StateAcknowledged && w.t.a.State == StateOpen && !w.reopen && !w.t.reopen {
			// Acknowledged through another replica.
			w.t.a.State, w.t.a.AckedBy, w.t.a.AckedAt = StateAcknowledged, res[i].AckedBy, res[i].AckedAt
		}
	}
	e.resolved = slices.DeleteFunc(e.resolved, func(t *tracked) bool { return done[t] })
	e.released = slices.DeleteFunc(e.released, func(t *tracked) bool { return done[t] })
	return won
}

// storeBackoff is the wait before retrying a failed write: 1s doubling
// to 1m, so a store outage costs one attempt a minute, not one per alert.
func storeBackoff(fails int) time.Duration {
	return min(time.Second<<min(fails-1, 6), time.Minute)
}

// dispatch hands each notification to OnFire and every sink that wants
// it, without waiting: a full sink queue drops, and counts.
func (e *Engine) dispatch(notes []note, now time.Time) {
	for _, n := range notes {
		e.mu.Lock()
		n.a.ID = n.t.a.ID
		e.mu.Unlock()
		if e.o.OnFire != nil && (n.ev == EventFired || n.ev == EventEscalated || n.ev == EventReopened) {
			e.o.OnFire(n.a)
		}
		msg := Notification{ID: newID("msg_"), Event: n.ev, At: now, Alert: n.a}
		for _, w := range e.sinks {
			if e.closed {
				if w.spec.accepts(msg) {
					w.dropped(now, "the alert engine has shut down")
				}
				continue
			}
			w.offer(msg, now)
		}
	}
}

// logSuppressed says, at most once per dropLogEvery, how many alerts the
// bounds kept out.
func (e *Engine) logSuppressed(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.suppressed) == 0 || now.Sub(e.lastSuppressedLog) < dropLogEvery {
		return
	}
	e.lastSuppressedLog = now
	for rule, n := range e.suppressed {
		e.log.Warn("alerts suppressed: the rule's live per-source alerts are at alerts.max_open", "rule", rule, "suppressed", n,
			"max_open", e.o.Rules.MaxOpen)
	}
	clear(e.suppressed)
}

// List reads stored alerts.
func (e *Engine) List(ctx context.Context, f Filter) (Page, error) {
	if e.o.Store == nil {
		return Page{}, ErrNoStore
	}
	return e.o.Store.List(ctx, f)
}

// Ack acknowledges alert id on behalf of by (the admin client): it stays
// quiet until it fires again a cooldown from now. ErrNotFound if no
// stored alert has that id.
func (e *Engine) Ack(ctx context.Context, id, by string) (Alert, error) {
	if e.o.Store == nil {
		return Alert{}, ErrNoStore
	}
	now := e.clock.Now()
	a, err := e.o.Store.Ack(ctx, id, by, now)
	if err != nil {
		return Alert{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.table {
		if t.a.ID == id {
			t.a.State, t.a.AckedBy, t.a.AckedAt, t.reopen = StateAcknowledged, a.AckedBy, a.AckedAt, false
		}
	}
	return a, nil
}
