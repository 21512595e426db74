package redisstate_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
	"github.com/intelgate/intelgate/internal/redistest"
)

// opTimeout is short so failure tests are quick; slack covers a loaded
// CI machine running -race.
const (
	opTimeout = 100 * time.Millisecond
	slack     = 400 * time.Millisecond
)

// every calls each operation of s once and returns the errors by name.
func every(ctx context.Context, s *redisstate.State) map[string]error {
	l := govern.Limit{Rate: 1, Period: time.Second, Burst: 1}
	ws := []govern.Window{{Key: "k", Limit: 1, Expires: time.Now().Add(time.Hour)}}
	errs := map[string]error{"Ping": s.Ping(ctx), "Refund": s.Refund(ctx, ws)}
	_, errs["Allow"] = s.Allow(ctx, "k", l)
	_, errs["Peek"] = s.Peek(ctx, "k", l)
	_, _, errs["Consume"] = s.Consume(ctx, ws)
	_, errs["Used"] = s.Used(ctx, ws)
	errs["PauseUntil"] = s.PauseUntil(ctx, "k", time.Now().Add(time.Minute))
	_, errs["PausedUntil"] = s.PausedUntil(ctx, "k")
	_, errs["TryPause"] = s.TryPause(ctx, "k", time.Minute)
	errs["Unpause"] = s.Unpause(ctx, "k")
	return errs
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	hole := func(t *testing.T) string { return redistest.NewBlackHole(t).Addr() }
	tests := []struct {
		name, scheme string
		addr         func(t *testing.T) string
	}{
		{"refused", "redis", redistest.ClosedPort},
		{"black hole", "redis", hole},
		{"TLS refused", "rediss", redistest.ClosedPort},
		{"TLS black hole", "rediss", hole}, // the handshake hangs
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const password = "s3cret-pa55word"
			url := tc.scheme + "://user:" + password + "@" + tc.addr(t) + "/0"
			start := time.Now()
			s, err := redisstate.Open(t.Context(), url, redisstate.Options{OpTimeout: opTimeout})
			require.NoError(t, err, "Open must not need a reachable Redis")
			defer func() { require.NoError(t, s.Close()) }()
			require.Less(t, time.Since(start), opTimeout+slack, "Open is bounded too")

			for op, err := range every(t.Context(), s) {
				require.ErrorIs(t, err, govern.ErrUnavailable, op)
				require.NotErrorIs(t, err, context.DeadlineExceeded, "%s: the caller's deadline did not pass", op)
				require.NotContains(t, err.Error(), password, op)
				require.NotContains(t, err.Error(), "user:", op)
			}
			// Every call, not just the first, is bounded by OpTimeout.
			start = time.Now()
			_, err = s.Allow(t.Context(), "k", govern.Limit{Rate: 1, Period: time.Second})
			require.ErrorIs(t, err, govern.ErrUnavailable)
			require.Less(t, time.Since(start), opTimeout+slack)
		})
	}
}

// TestCallerContextIsNotAnOutage: a caller that gives up gets its own
// context error, not ErrUnavailable (which would trigger the fail mode).
func TestCallerContextIsNotAnOutage(t *testing.T) {
	t.Parallel()
	// Open's best-effort script loading is bounded by its ctx too.
	openCtx, cancelOpen := context.WithTimeout(t.Context(), opTimeout)
	defer cancelOpen()
	start := time.Now()
	s, err := redisstate.Open(openCtx, "redis://"+redistest.NewBlackHole(t).Addr(), redisstate.Options{OpTimeout: time.Minute})
	require.NoError(t, err)
	require.Less(t, time.Since(start), opTimeout+slack)
	defer func() { require.NoError(t, s.Close()) }()

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	short, cancelShort := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelShort()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline before OpTimeout", short, context.DeadlineExceeded},
	} {
		for op, err := range every(tc.ctx, s) {
			require.ErrorIs(t, err, tc.want, "%s: %s", tc.name, op)
			require.False(t, errors.Is(err, govern.ErrUnavailable), "%s: %s", tc.name, op)
		}
	}
}

// TestNoGoroutineLeak runs alone (no t.Parallel): it counts the process's
// goroutines, which parallel tests would disturb. Go runs sequential
// top-level tests before releasing parallel ones.
func TestNoGoroutineLeak(t *testing.T) {
	// Warm up once so lazily started runtime/library goroutines are in
	// the baseline.
	hungRedis(t)
	settle := func(limit int) int {
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			n := runtime.NumGoroutine()
			if n <= limit {
				return n
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d, want ≤ %d\n%s", n, limit, buf[:runtime.Stack(buf, true)])
			}
			<-tick.C
		}
	}
	base := settle(runtime.NumGoroutine())
	for range 3 {
		hungRedis(t)
	}
	settle(base)
}

// hungRedis opens a State on a black hole, runs many operations at once
// against it, closes both and returns.
func hungRedis(t *testing.T) {
	t.Helper()
	b := redistest.NewBlackHole(t)
	s, err := redisstate.Open(t.Context(), "redis://"+b.Addr(), redisstate.Options{OpTimeout: opTimeout})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.Allow(t.Context(), "k", govern.Limit{Rate: 1, Period: time.Second})
			if !errors.Is(err, govern.ErrUnavailable) {
				t.Errorf("want ErrUnavailable, got %v", err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close())
	b.Close()
}

func TestErrorsNeverShowTheURL(t *testing.T) {
	t.Parallel()
	const password = "hunter2-" + "x9"
	tests := []struct {
		name, url, want string
	}{
		{"unparseable", "redis://u:" + password + "@host:notaport/0", "invalid Redis URL"},
		{"control char", "redis://u:" + password + "@host\x7f/0", "invalid Redis URL"},
		{"scheme", "http://u:" + password + "@host/0", "scheme must be redis or rediss"},
		{"unix scheme", "unix://u:" + password + "@/tmp/redis.sock", "scheme must be redis or rediss"},
		{"bad db", "redis://u:" + password + "@host/notadb", "invalid Redis URL"},
		{"bad db echoes password", "redis://u:" + password + "@host/" + password, "invalid Redis URL"},
		{"unknown option", "redis://u:" + password + "@host/0?" + password + "=1", "invalid Redis URL"},
		{"skip_verify", "rediss://u:" + password + "@host/0?skip_verify=true", "skip_verify is not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := redisstate.Open(t.Context(), tc.url, redisstate.Options{})
			require.Error(t, err)
			require.Nil(t, s)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), password)
			require.False(t, strings.Contains(err.Error(), "u:"), err.Error())
		})
	}
}
