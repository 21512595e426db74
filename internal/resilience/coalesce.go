package resilience

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// ErrAllWaitersGone is the cause (context.Cause) of a shared call's context
// when every caller waiting for it has gone: nobody would read the answer,
// so the upstream call stops spending quota and time.
var ErrAllWaitersGone = errors.New("coalesced call abandoned: every waiter has gone")

// errFlightDone cancels a finished call's context to release its resources.
var errFlightDone = errors.New("coalesced call finished")

// PanicError is what waiters get when the shared function panicked: one bad
// upstream answer must not take the gateway down. Stack is for logs.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("coalesced call panicked: %v", e.Value) }

// Coalescer lets identical concurrent calls share one run of their function
// (singleflight), with two differences that matter on a request path:
//
//   - each waiter returns when its own context is done, while the shared run
//     continues for the others;
//   - the run's context belongs to no caller: it carries none of the first
//     caller's values (a shared call is nobody's in particular — whatever
//     identifies a caller travels explicitly, and each caller's own outcome
//     is reported to it) and none of its cancellation; it is cancelled,
//     with cause ErrAllWaitersGone, only when the last waiter has gone.
//
// Its Deadline reports the latest deadline among the waiters that joined
// (none if any waiter had none), so code inside the run — a retry loop
// deciding whether another attempt fits — plans for the most patient
// waiter. It never shrinks; the reference count, not a timer, ends the run
// when waiters leave.
//
// golang.org/x/sync/singleflight is not used: its waiters cannot leave on
// their own deadline without a second, separately locked map for the
// reference count (racing with its own key removal), and it re-panics a
// panicking function in a fresh goroutine, which would crash the process.
// One map under one lock is simpler to get right.
type Coalescer[T any] struct {
	mu    sync.Mutex
	calls map[string]*flight[T]
}

type flight[T any] struct {
	done    chan struct{} // closed when val and err are set
	val     T
	err     error
	ctx     flightCtx // the run's context, &ctx: part of the flight, one allocation less
	cancel  context.CancelCauseFunc
	waiters int // guarded by Coalescer.mu
}

// NewCoalescer returns an empty Coalescer.
func NewCoalescer[T any]() *Coalescer[T] {
	return &Coalescer[T]{calls: map[string]*flight[T]{}}
}

// Do runs fn once for all concurrent callers with the same key and returns
// its result. shared is true when this caller joined a run another caller
// started (so it cost no upstream call). A caller whose ctx ends first gets
// ctx.Err(); a panic in fn becomes a *PanicError for every waiter.
func (c *Coalescer[T]) Do(ctx context.Context, key string, fn func(ctx context.Context) (T, error)) (v T, shared bool, err error) {
	if err := ctx.Err(); err != nil {
		return v, false, err
	}
	c.mu.Lock()
	f, shared := c.calls[key]
	if shared {
		f.waiters++
		f.ctx.extend(ctx)
	} else {
		f = c.start(ctx)
		c.calls[key] = f
	}
	c.mu.Unlock()
	if !shared {
		go c.run(key, f, fn)
	}

	select {
	case <-f.done:
		return f.val, shared, f.err
	case <-ctx.Done():
	}
	select {
	case <-f.done: // finished as we gave up: the answer is better than an error
		return f.val, shared, f.err
	default:
	}
	c.leave(key, f)
	return v, shared, ctx.Err()
}

func (c *Coalescer[T]) start(ctx context.Context) *flight[T] {
	base, cancel := context.WithCancelCause(context.Background())
	f := &flight[T]{done: make(chan struct{}), cancel: cancel, waiters: 1}
	f.ctx.Context = base
	f.ctx.extend(ctx)
	return f
}

// run executes fn and publishes its result. The key is forgotten before
// waiters are released, so a caller arriving afterwards starts a fresh run
// instead of receiving an answer older than its question.
func (c *Coalescer[T]) run(key string, f *flight[T], fn func(context.Context) (T, error)) {
	returned := false
	defer func() {
		if !returned {
			r := recover()
			if r == nil {
				// runtime.Goexit (e.g. t.FailNow) ran in fn.
				r = "function exited without returning (runtime.Goexit)"
			}
			f.err = &PanicError{Value: r, Stack: debug.Stack()}
		}
		c.mu.Lock()
		if c.calls[key] == f {
			delete(c.calls, key)
		}
		c.mu.Unlock()
		close(f.done)
		f.cancel(errFlightDone)
	}()
	f.val, f.err = fn(&f.ctx)
	returned = true
}

// leave drops one waiter; the last one out cancels the run and forgets the
// key, so the next caller starts afresh rather than joining a cancelled run.
func (c *Coalescer[T]) leave(key string, f *flight[T]) {
	c.mu.Lock()
	f.waiters--
	last := f.waiters == 0
	if last && c.calls[key] == f {
		delete(c.calls, key)
	}
	c.mu.Unlock()
	if last {
		f.cancel(ErrAllWaitersGone)
	}
}

// flightCtx is the run's context: the detached, cancellable base with a
// Deadline that grows as waiters with later deadlines join. Cancellation
// is the base's; context.WithTimeout and friends derived from it still
// find the base's cancellation through Value, as the context package
// expects of wrappers.
type flightCtx struct {
	context.Context
	mu        sync.Mutex
	deadline  time.Time
	unbounded bool
}

func (f *flightCtx) extend(waiter context.Context) {
	d, ok := waiter.Deadline()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !ok:
		f.unbounded = true
	case d.After(f.deadline):
		f.deadline = d
	}
}

// Deadline returns the latest waiter deadline, or none when a waiter had
// none.
func (f *flightCtx) Deadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unbounded {
		return time.Time{}, false
	}
	return f.deadline, true
}

// Waiters reports how many callers wait on key's run (0 when none is in
// flight): how much a coalesced call is saving right now, and what tests
// wait for before releasing a run, instead of sleeping.
func (c *Coalescer[T]) Waiters(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.calls[key]; ok {
		return f.waiters
	}
	return 0
}
