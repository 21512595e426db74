package memory

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/governtest"
	"github.com/intelgate/intelgate/internal/logtest"
)

// fakeLog is a PauseLog in a map, with the contract's semantics (saves
// keep the later end; loads return the ends after now), a failure switch
// and a hook that runs inside SavePause.
type fakeLog struct {
	mu      sync.Mutex
	pauses  map[string]time.Time
	saves   int
	loadNow time.Time
	err     error  // returned by every call when set
	onSave  func() // when set, runs at the start of SavePause, unlocked
}

func newFakeLog() *fakeLog { return &fakeLog{pauses: map[string]time.Time{}} }

func (l *fakeLog) SavePause(_ context.Context, key string, until time.Time) error {
	if l.onSave != nil {
		l.onSave()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.saves++
	if until.After(l.pauses[key]) {
		l.pauses[key] = until
	}
	return nil
}

func (l *fakeLog) DeletePause(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	delete(l.pauses, key)
	return nil
}

func (l *fakeLog) LoadPauses(_ context.Context, now time.Time) (map[string]time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	l.loadNow = now
	out := map[string]time.Time{}
	for k, until := range l.pauses {
		if until.After(now) {
			out[k] = until
		}
	}
	return out, nil
}

func (l *fakeLog) snapshot() (map[string]time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.pauses), l.saves
}

func (l *fakeLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func requirePausedUntil(t *testing.T, s *State, key string, want time.Time) {
	t.Helper()
	got, err := s.PausedUntil(t.Context(), key)
	require.NoError(t, err)
	require.True(t, want.Equal(got), "%s: want %s, got %s", key, want, got)
}

// TestConformanceWithPauseLog: writing through changes none of the
// Pauser's semantics.
func TestConformanceWithPauseLog(t *testing.T) {
	t.Parallel()
	clk := newClock()
	governtest.Run(t, governtest.Harness{
		New:     func(*testing.T) govern.State { return New(Options{Clock: clk, Pauses: newFakeLog()}) },
		Advance: clk.Advance,
		Now:     clk.Now,
	})
}

func TestOpenLoadsRunningPauses(t *testing.T) {
	t.Parallel()
	clk := newClock()
	log := newFakeLog()
	hour := clk.Now().Add(time.Hour)
	log.pauses["running"] = hour
	log.pauses["ended"] = clk.Now().Add(-time.Minute)

	s, err := Open(t.Context(), Options{Clock: clk, Pauses: log})
	require.NoError(t, err)
	require.True(t, clk.Now().Equal(log.loadNow), "loaded as of the State's clock")
	requirePausedUntil(t, s, "running", hour)
	requirePausedUntil(t, s, "ended", time.Time{})

	requirePausedUntil(t, New(Options{Clock: clk, Pauses: log}), "running", time.Time{}) // New does not load

	s, err = Open(t.Context(), Options{Clock: clk})
	require.NoError(t, err, "Open without a PauseLog is New")
	requirePausedUntil(t, s, "running", time.Time{})
}

func TestOpenLoadFails(t *testing.T) {
	t.Parallel()
	log := newFakeLog()
	errDisk := errors.New("disk I/O error")
	log.fail(errDisk)
	_, err := Open(t.Context(), Options{Pauses: log})
	require.ErrorIs(t, err, errDisk)
}

// TestPausesWriteThrough: every change of a pause reaches the log, and
// only changes do; a State opened on the log afterwards has the pauses.
func TestPausesWriteThrough(t *testing.T) {
	t.Parallel()
	clk := newClock()
	log := newFakeLog()
	s := New(Options{Clock: clk, Pauses: log})
	ctx := t.Context()
	now := clk.Now()
	steps := []struct {
		name  string
		do    func() error
		want  map[string]time.Time
		saves int
	}{
		{"pause", func() error { return s.PauseUntil(ctx, "k", now.Add(2*time.Hour)) },
			map[string]time.Time{"k": now.Add(2 * time.Hour)}, 1},
		{"shorter pause: no write", func() error { return s.PauseUntil(ctx, "k", now.Add(time.Hour)) },
			map[string]time.Time{"k": now.Add(2 * time.Hour)}, 1},
		{"past pause: no write", func() error { return s.PauseUntil(ctx, "p", now.Add(-time.Hour)) },
			map[string]time.Time{"k": now.Add(2 * time.Hour)}, 1},
		{"longer pause", func() error { return s.PauseUntil(ctx, "k", now.Add(3*time.Hour)) },
			map[string]time.Time{"k": now.Add(3 * time.Hour)}, 2},
		{"won TryPause", func() error {
			won, err := s.TryPause(ctx, "c", time.Minute)
			require.True(t, won)
			return err
		}, map[string]time.Time{"k": now.Add(3 * time.Hour), "c": now.Add(time.Minute)}, 3},
		{"lost TryPause: no write", func() error {
			won, err := s.TryPause(ctx, "c", time.Hour)
			require.False(t, won)
			return err
		}, map[string]time.Time{"k": now.Add(3 * time.Hour), "c": now.Add(time.Minute)}, 3},
		{"unpause", func() error { return s.Unpause(ctx, "k") },
			map[string]time.Time{"c": now.Add(time.Minute)}, 3},
		{"unpause absent", func() error { return s.Unpause(ctx, "never") },
			map[string]time.Time{"c": now.Add(time.Minute)}, 3},
	}
	for _, st := range steps {
		require.NoError(t, st.do(), st.name)
		got, saves := log.snapshot()
		require.Equal(t, st.want, got, st.name)
		require.Equal(t, st.saves, saves, st.name)
	}

	restarted, err := Open(ctx, Options{Clock: clk, Pauses: log})
	require.NoError(t, err)
	requirePausedUntil(t, restarted, "c", now.Add(time.Minute))
	requirePausedUntil(t, restarted, "k", time.Time{})
}

// TestDurableFailureIsLogged: a failed save is logged, never the
// caller's error — the change holds in this process, which is what the
// governor decides by (an auth-check claim taken, a revocation made) —
// and the log line names the pause's kind, never its key (which holds a
// secret's fingerprint).
func TestDurableFailureIsLogged(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk I/O error")
	tests := []struct {
		name   string
		paused bool // "x:p:k:fp-secret" is paused for an hour before the log fails
		do     func(t *testing.T, s *State, now time.Time) error
		// until is the pause of "x:p:k:fp-secret" this process holds afterwards.
		until func(now time.Time) time.Time
	}{
		{"PauseUntil", false, func(t *testing.T, s *State, now time.Time) error {
			return s.PauseUntil(t.Context(), "x:p:k:fp-secret", now.Add(time.Hour))
		}, func(now time.Time) time.Time { return now.Add(time.Hour) }},
		{"TryPause", false, func(t *testing.T, s *State, _ time.Time) error {
			won, err := s.TryPause(t.Context(), "x:p:k:fp-secret", time.Minute)
			require.True(t, won, "the pause was taken here")
			return err
		}, func(now time.Time) time.Time { return now.Add(time.Minute) }},
		{"Unpause", true, func(t *testing.T, s *State, _ time.Time) error {
			return s.Unpause(t.Context(), "x:p:k:fp-secret")
		}, func(time.Time) time.Time { return time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			log := newFakeLog()
			logger, logs := logtest.JSONLogger()
			s := New(Options{Clock: clk, Pauses: log, Log: logger})
			if tc.paused {
				require.NoError(t, s.PauseUntil(t.Context(), "x:p:k:fp-secret", clk.Now().Add(time.Hour)))
			}
			log.fail(errDisk)
			require.NoError(t, tc.do(t, s, clk.Now()))
			requirePausedUntil(t, s, "x:p:k:fp-secret", tc.until(clk.Now()))
			require.Contains(t, logs.String(), errDisk.Error())
			require.Contains(t, logs.String(), `"kind":"revocation"`)
			require.NotContains(t, logs.String(), "fp-secret")
		})
	}
}

// TestDurableWriteOutsideLock: while a save is stuck on a slow disk, the
// State answers for every key, the one being saved included (its new end
// is already in force): s.mu is not held across the write.
func TestDurableWriteOutsideLock(t *testing.T) {
	t.Parallel()
	clk := newClock()
	log := newFakeLog()
	entered, release := make(chan struct{}), make(chan struct{})
	log.onSave = func() {
		close(entered)
		<-release
	}
	s := New(Options{Clock: clk, Pauses: log})
	until := clk.Now().Add(time.Hour)
	paused := make(chan error, 1)
	go func() { paused <- s.PauseUntil(context.Background(), "k", until) }()
	select {
	case <-entered:
	case err := <-paused:
		t.Fatalf("PauseUntil returned (%v) without saving", err)
	case <-time.After(30 * time.Second):
		t.Fatal("PauseUntil never saved")
	}

	type answer struct {
		until time.Time
		d     govern.Decision
		err   error
	}
	answers := make(chan answer, 1)
	go func() {
		var a answer
		if a.until, a.err = s.PausedUntil(context.Background(), "k"); a.err == nil {
			a.d, a.err = s.Allow(context.Background(), "other", govern.Limit{Rate: 1, Period: time.Second, Burst: 1})
		}
		answers <- a
	}()
	select {
	case a := <-answers:
		require.NoError(t, a.err)
		require.True(t, until.Equal(a.until), "the pause holds before it is saved")
		require.True(t, a.d.Allowed)
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("the State blocked behind a pause being saved")
	}
	close(release)
	require.NoError(t, <-paused)
	got, _ := log.snapshot()
	require.Equal(t, map[string]time.Time{"k": until}, got)
}
