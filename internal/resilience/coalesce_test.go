package resilience

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func waitForWaiters[T any](t *testing.T, c *Coalescer[T], key string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return c.Waiters(key) == n }, 5*time.Second, time.Millisecond,
		"waiting for %d waiters on %q", n, key)
}

type result struct {
	v      string
	shared bool
	err    error
}

func TestCoalescerSharesOneRun(t *testing.T) {
	t.Parallel()
	const n = 50
	c := NewCoalescer[string]()
	release := make(chan struct{})
	var runs atomic.Int32
	fn := func(ctx context.Context) (string, error) {
		runs.Add(1)
		<-release
		return "answer", nil
	}
	results := make(chan result, n)
	for range n {
		go func() {
			v, shared, err := c.Do(t.Context(), "socialeye|prod|ipv4|203.0.113.7", fn)
			results <- result{v, shared, err}
		}()
	}
	waitForWaiters(t, c, "socialeye|prod|ipv4|203.0.113.7", n)
	close(release)
	started := 0
	for range n {
		r := <-results
		require.NoError(t, r.err)
		require.Equal(t, "answer", r.v)
		if !r.shared {
			started++
		}
	}
	require.Equal(t, int32(1), runs.Load(), "one upstream call for all")
	require.Equal(t, 1, started, "exactly one caller started the run")
	require.Zero(t, c.Waiters("socialeye|prod|ipv4|203.0.113.7"), "key forgotten after the run")

	// The next call asks afresh rather than reusing a finished run.
	_, shared, err := c.Do(t.Context(), "socialeye|prod|ipv4|203.0.113.7", func(context.Context) (string, error) {
		runs.Add(1)
		return "again", nil
	})
	require.NoError(t, err)
	require.False(t, shared)
	require.Equal(t, int32(2), runs.Load())
}

func TestCoalescerKeysAreSeparate(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	release := make(chan struct{})
	var runs atomic.Int32
	results := make(chan result, 2)
	for _, key := range []string{"a", "b"} {
		go func() {
			v, shared, err := c.Do(t.Context(), key, func(context.Context) (string, error) {
				runs.Add(1)
				<-release
				return key, nil
			})
			results <- result{v, shared, err}
		}()
	}
	waitForWaiters(t, c, "a", 1)
	waitForWaiters(t, c, "b", 1)
	close(release)
	got := map[string]bool{}
	for range 2 {
		r := <-results
		require.NoError(t, r.err)
		require.False(t, r.shared)
		got[r.v] = true
	}
	require.Equal(t, map[string]bool{"a": true, "b": true}, got)
	require.Equal(t, int32(2), runs.Load())
}

// TestCoalescerWaiterLeavesOnItsDeadline: an impatient waiter returns at its
// own deadline; the run goes on, uncancelled, for the patient one.
func TestCoalescerWaiterLeavesOnItsDeadline(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	release := make(chan struct{})
	runCtx := make(chan context.Context, 1)
	fn := func(ctx context.Context) (string, error) {
		runCtx <- ctx
		<-release
		return "answer", ctx.Err()
	}
	patient := make(chan result, 1)
	go func() {
		v, shared, err := c.Do(t.Context(), "k", fn)
		patient <- result{v, shared, err}
	}()
	waitForWaiters(t, c, "k", 1)

	short, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_, shared, err := c.Do(short, "k", fn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, shared)

	ctx := <-runCtx
	require.NoError(t, ctx.Err(), "the run is not cancelled while a waiter remains")
	require.Equal(t, 1, c.Waiters("k"))
	close(release)
	r := <-patient
	require.NoError(t, r.err)
	require.Equal(t, "answer", r.v)
	require.False(t, r.shared)
}

// TestCoalescerCancelsWhenAllWaitersGone: no waiter left → the run's context
// is cancelled with ErrAllWaitersGone, and a new caller starts afresh.
func TestCoalescerCancelsWhenAllWaitersGone(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	cause := make(chan error, 1)
	var runs atomic.Int32
	fn := func(ctx context.Context) (string, error) {
		runs.Add(1)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return "", ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	for _, ctx := range []context.Context{ctx1, ctx2} {
		go func() {
			_, _, err := c.Do(ctx, "k", fn)
			errs <- err
		}()
	}
	waitForWaiters(t, c, "k", 2)

	cancel1()
	require.ErrorIs(t, <-errs, context.Canceled)
	select {
	case err := <-cause:
		t.Fatalf("run cancelled while a waiter remained: %v", err)
	default:
	}
	cancel2()
	require.ErrorIs(t, <-errs, context.Canceled)
	require.ErrorIs(t, <-cause, ErrAllWaitersGone)
	require.Equal(t, int32(1), runs.Load())

	v, shared, err := c.Do(t.Context(), "k", func(context.Context) (string, error) { return "fresh", nil })
	require.NoError(t, err)
	require.False(t, shared, "an abandoned run is never joined")
	require.Equal(t, "fresh", v)
}

// TestCoalescerRunContext: the run has neither the first caller's values
// nor its cancellation, and its deadline is the latest waiter's.
func TestCoalescerRunContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	base := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		deadlines []time.Time // zero: no deadline
		want      time.Time
		bounded   bool
	}{
		{"single", []time.Time{base}, base, true},
		{"later waiter extends", []time.Time{base, base.Add(time.Minute)}, base.Add(time.Minute), true},
		{"earlier waiter does not shrink", []time.Time{base, base.Add(-time.Minute)}, base, true},
		{"a waiter without deadline unbounds", []time.Time{base, {}}, time.Time{}, false},
		{"no deadlines", []time.Time{{}}, time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewCoalescer[int]()
			release := make(chan struct{})
			seen := make(chan context.Context, 1)
			fn := func(ctx context.Context) (int, error) {
				seen <- ctx
				<-release
				return 1, nil
			}
			var wg sync.WaitGroup
			for i, d := range tc.deadlines {
				ctx := context.WithValue(t.Context(), key{}, fmt.Sprint("caller", i))
				cancel := context.CancelFunc(func() {})
				if !d.IsZero() {
					ctx, cancel = context.WithDeadline(ctx, d)
				}
				defer cancel()
				wg.Go(func() {
					if _, _, err := c.Do(ctx, "k", fn); err != nil {
						t.Errorf("Do: %v", err) // not require: this is not the test goroutine
					}
				})
				waitForWaiters(t, c, "k", i+1)
			}
			ctx := <-seen
			got, ok := ctx.Deadline()
			require.Equal(t, tc.bounded, ok)
			require.True(t, tc.want.Equal(got), "deadline %s, want %s", got, tc.want)
			require.Nil(t, ctx.Value(key{}), "a shared run carries no caller's values")

			// Derived contexts still see the run's cancellation.
			child, cancelChild := context.WithTimeout(ctx, time.Hour)
			defer cancelChild()
			close(release)
			wg.Wait()
			<-child.Done()
			require.ErrorIs(t, context.Cause(child), errFlightDone)
		})
	}
}

func TestCoalescerPanicBecomesError(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	release := make(chan struct{})
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, _, err := c.Do(t.Context(), "k", func(context.Context) (string, error) {
				<-release
				panic("bad upstream answer")
			})
			errs <- err
		}()
	}
	waitForWaiters(t, c, "k", 3)
	close(release)
	for range 3 {
		err := <-errs
		var pe *PanicError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "bad upstream answer", pe.Value)
		require.NotEmpty(t, pe.Stack)
		require.Contains(t, err.Error(), "coalesced call panicked: bad upstream answer")
	}
	v, _, err := c.Do(t.Context(), "k", func(context.Context) (string, error) { return "ok", nil })
	require.NoError(t, err, "the coalescer still works after a panic")
	require.Equal(t, "ok", v)
}

// TestCoalescerGoexit: a function that ends its goroutine without returning
// (t.FailNow, runtime.Goexit) still releases its waiters.
func TestCoalescerGoexit(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	_, _, err := c.Do(t.Context(), "k", func(context.Context) (string, error) {
		runtime.Goexit()
		return "", nil
	})
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), "runtime.Goexit")
}

func TestCoalescerErrorsAreShared(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	boom := errors.New("upstream 503")
	_, shared, err := c.Do(t.Context(), "k", func(context.Context) (string, error) { return "", boom })
	require.ErrorIs(t, err, boom)
	require.False(t, shared)
}

func TestCoalescerCallerAlreadyGone(t *testing.T) {
	t.Parallel()
	c := NewCoalescer[string]()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := c.Do(ctx, "k", func(context.Context) (string, error) {
		t.Error("fn must not run for a caller that has gone")
		return "", nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, c.Waiters("k"))
}
