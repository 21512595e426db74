package app

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/monitor"
)

// newMetrics builds the Prometheus metrics: the request path's observer,
// plus the governor's quotas and the cache's sizes read at scrape time.
func newMetrics(a *App, gov *govern.Governor) *monitor.Metrics {
	return monitor.New(monitor.Options{
		Providers: slices.Sorted(maps.Keys(a.cfg.Providers)),
		Quota:     quotaGauges{a: a, gov: gov},
		Cache:     cacheStats{a: a},
		Log:       a.log,
	})
}

// quotaGauges reads every key's day and month quota from the governor.
type quotaGauges struct {
	a   *App
	gov *govern.Governor
}

func (q quotaGauges) QuotaGauges(ctx context.Context) ([]monitor.QuotaGauge, error) {
	var out []monitor.QuotaGauge
	var errs []error
	cfg := q.a.live.Load().cfg // keys and their environments change with a reload
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		envs := map[string]bool{}
		for _, k := range cfg.Providers[name].Keys {
			envs[k.Environment] = true
		}
		for _, env := range slices.Sorted(maps.Keys(envs)) {
			keys, err := q.gov.ProviderStatus(ctx, name, env)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, k := range keys {
				if k.Day != nil {
					out = append(out, monitor.QuotaGauge{Provider: name, KeyID: k.ID, Period: "day", Remaining: k.Day.Remaining, Limit: k.Day.Limit})
				}
				if k.Month != nil {
					out = append(out, monitor.QuotaGauge{Provider: name, KeyID: k.ID, Period: "month", Remaining: k.Month.Remaining, Limit: k.Month.Limit})
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// cacheStats reports the hot tier's size (the durable tier's is the
// database's or Redis's own to report).
type cacheStats struct{ a *App }

func (c cacheStats) CacheStats() []monitor.TierStats {
	if m, ok := c.a.hot.(*cache.Memory); ok && m != nil {
		return []monitor.TierStats{{Tier: "memory", Bytes: m.Bytes(), Entries: int64(m.Len())}}
	}
	return nil
}

// listenMetrics opens server.metrics_listen, when set, at start-up, so a
// port in use fails the start rather than the first scrape.
func (a *App) listenMetrics(ctx context.Context) error {
	addr := a.cfg.Server.MetricsListen
	if addr == "" {
		return nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	a.metricsListener = ln
	// Close releases it when Run never served it; after Run, the server's
	// shutdown has closed it already, which is not a failure of Close.
	a.closers = append(a.closers, closerFunc(func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}))
	return nil
}

// MetricsAddr is the address /metrics listens on of its own; "" when it is
// served on the main listener.
func (a *App) MetricsAddr() string {
	if a.metricsListener == nil {
		return ""
	}
	return a.metricsListener.Addr().String()
}

// serveMetrics serves /metrics alone on its listener until ctx ends.
func (a *App) serveMetrics(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		a.log.Error("metrics listener failed", "addr", ln.Addr().String(), "error", err)
	}
	<-done
}
