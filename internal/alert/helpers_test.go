package alert_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/logtest"
)

// No goroutine of a Run (or a sink's HTTP client) outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// testRules are the defaults with a store-free, quick shape: every rule
// on, windows as documented.
func testRules() alert.Rules { return alert.DefaultRules() }

// meter records what the engine counts.
type meter struct {
	mu         sync.Mutex
	fired      map[string]int // rule/severity
	notified   map[string]int // sink/outcome
	open       map[string]int
	suppressed map[string]int
	storeFail  int
	labels     []string // every label value passed, for the leak test
}

func newMeter() *meter {
	return &meter{fired: map[string]int{}, notified: map[string]int{}, open: map[string]int{}, suppressed: map[string]int{}}
}

func (m *meter) Fired(rule, sev string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fired[rule+"/"+sev]++
	m.labels = append(m.labels, rule, sev)
}

func (m *meter) Notified(sink, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notified[sink+"/"+outcome]++
	m.labels = append(m.labels, sink, outcome)
}

func (m *meter) Open(rule, sev string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.open[rule+"/"+sev] = n
	m.labels = append(m.labels, rule, sev)
}

func (m *meter) Suppressed(rule string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.suppressed[rule]++
	m.labels = append(m.labels, rule)
}

func (m *meter) StoreFailed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeFail++
}

func (m *meter) get(f func(m *meter) int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f(m)
}

// harness is an engine on a fake clock with a recording meter and log.
type harness struct {
	t     *testing.T
	clock *clocktest.Clock
	e     *alert.Engine
	meter *meter
	logs  *logtest.Buffer
	opts  alert.Options
}

type option func(*alert.Options)

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	log, buf := logtest.JSONLogger()
	h := &harness{t: t, clock: clocktest.New(t0), meter: newMeter(), logs: buf}
	o := alert.Options{
		Rules: testRules(),
		Clients: map[string]alert.Client{
			"siem": {SourceCIDRs: true},
			"soar": {},
		},
		Providers: []string{"socialeye", "vt"},
		Keys:      map[string][]string{"socialeye": {"prod-1", "prod-2"}, "vt": {"k1"}},
		Clock:     h.clock, Log: log, Meter: h.meter,
	}
	for _, f := range opts {
		f(&o)
	}
	h.opts = o
	e, err := alert.New(o)
	require.NoError(t, err)
	h.e = e
	return h
}

func withRules(f func(r *alert.Rules)) option { return func(o *alert.Options) { f(&o.Rules) } }

// live returns the live alerts of rule, sorted by dedupe key.
func (h *harness) live(rule string) []alert.Alert {
	var out []alert.Alert
	for _, a := range h.e.Live() {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b alert.Alert) int { return strings.Compare(a.DedupeKey, b.DedupeKey) })
	return out
}

func (h *harness) evaluate() { h.e.Evaluate(context.Background()) }

// runEngine runs h's engine until the test ends.
func runEngine(t *testing.T, e *alert.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// recorder is a sink that keeps what it receives.
type recorder struct {
	mu  sync.Mutex
	got []alert.Notification
	ch  chan alert.Notification
}

func newRecorder() *recorder { return &recorder{ch: make(chan alert.Notification, 1000)} }

func (r *recorder) Send(_ context.Context, n alert.Notification) error {
	r.mu.Lock()
	r.got = append(r.got, n)
	r.mu.Unlock()
	r.ch <- n
	return nil
}

// next waits for the next notification (a deadline, not a sleep: the
// sink's worker runs on its own goroutine).
func (r *recorder) next(t *testing.T) alert.Notification {
	t.Helper()
	select {
	case n := <-r.ch:
		return n
	case <-time.After(30 * time.Second):
		t.Fatal("no notification arrived")
	}
	return alert.Notification{}
}

// all is everything received so far.
func (r *recorder) all() []alert.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// ipv4 returns the i-th address of 10.0.0.0/8 … counting up.
func ipv4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(11 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
}

func labelsOf(a alert.Alert) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range a.Labels {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%s=%s", k, a.Labels[k]))
	}
	return strings.Join(parts, " ")
}
