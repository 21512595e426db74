package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// ignoreHangups keeps SIGHUP from ending a long-running command. Go's
// default for an unhandled SIGHUP is to exit at once (status 129) with no
// graceful shutdown, and operators send SIGHUP expecting a reload — which
// a later issue implements. Until then each SIGHUP is logged as not
// supported and the process keeps running on the configuration it started
// with. Call it before anything starts serving; stop undoes it.
func ignoreHangups(log *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				log.Warn("SIGHUP received: configuration reload is not supported yet; still running with the configuration loaded at start")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
