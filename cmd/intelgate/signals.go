package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// hangups turns SIGHUP into a configuration reload. Go's default for an
// unhandled SIGHUP is to exit at once (status 129) with no graceful
// shutdown, and operators send SIGHUP expecting a reload, so it is caught
// before anything starts; until the gateway is built (set) a SIGHUP is
// logged and ignored. stop undoes it and waits for a running reload.
type hangups struct {
	reload atomic.Pointer[func()]
	ch     chan os.Signal
	done   chan struct{}
	wg     sync.WaitGroup
}

func watchHangups(log *slog.Logger) *hangups {
	h := &hangups{ch: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(h.ch, syscall.SIGHUP)
	h.wg.Go(func() {
		for {
			select {
			case <-h.ch:
				if f := h.reload.Load(); f != nil {
					(*f)()
					continue
				}
				log.Warn("SIGHUP received before the gateway was ready; ignored (send it again to reload)")
			case <-h.done:
				return
			}
		}
	})
	return h
}

// set makes each SIGHUP call reload (one at a time: signals that arrive
// meanwhile coalesce into one more).
func (h *hangups) set(reload func()) { h.reload.Store(&reload) }

func (h *hangups) stop() {
	signal.Stop(h.ch)
	close(h.done)
	h.wg.Wait()
}

// reloadOnHangup is the reload a SIGHUP runs: the outcome is logged by
// the reload itself (applied, or refused with the running config kept).
func reloadOnHangup(ctx context.Context, reload func(context.Context, string) error) func() {
	return func() { _ = reload(ctx, "sighup") }
}
