package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/sim"
)

// cutProxy forwards TCP connections to target until cut: then it closes
// every open connection and each new one at once, as a database host that
// went away would look, until restored.
type cutProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.closeAll() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cut.Load() {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) setCut(cut bool) {
	p.cut.Store(cut)
	if cut {
		p.closeAll()
	}
}

// viaProxy is dsn (a postgres:// URL) with its host replaced by addr.
func viaProxy(t *testing.T, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Host = addr
	return u.String()
}

// In the distributed mode, PostgreSQL going away while serving does not
// stop lookups (quota, pauses and the cache live in Redis): /readyz says
// the store is degraded, failed operations are counted, audit records wait
// in their queue, and once the database is back every one of them is
// written, in one chain.
func TestPostgresLostWhileServing(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	base, err := url.Parse(schema.DSN)
	require.NoError(t, err)
	proxy := newCutProxy(t, base.Host)
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pg.dsn"), []byte(viaProxy(t, schema.DSN, proxy.ln.Addr().String())+"\n"), 0o600))
	cfg := writeGovConfig(t, dir, s, hash, govCfg{
		// The store's default operation timeout: the cut refuses
		// connections at once, so failures are fast without a short one,
		// and a short one (it was 500ms) fails healthy writes on a loaded
		// machine — the shutdown flush then ran out of time.
		storage: `{driver: postgres, dsn: "file:pg.dsn"}`,
		top:     redisShared(t, redistest.URL(t), dir),
		cache:   "{ttl: 1h}",
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)
	lookup := func(i int) {
		t.Helper()
		r := c.get(t, gw.url, fmt.Sprintf("/v1/lookup?indicator=lost%d.example.org&type=domain", i))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	lookup(0)

	proxy.setCut(true)
	const during = 5
	for i := 1; i <= during; i++ {
		lookup(i)
	}
	r := c.get(t, gw.url, "/readyz")
	require.Equal(t, http.StatusOK, r.status, "degraded, not unready: a load balancer must not pull every replica")
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(r.body, &ready))
	require.Equal(t, "degraded", ready.Status)
	require.Equal(t, "degraded", ready.Checks["store"])
	require.NotContains(t, string(r.body), "postgres://", "the DSN is never shown")
	require.Positive(t, storeErrors(t, gw.app))

	proxy.setCut(false)
	require.True(t, govPoll(20*time.Second, 50*time.Millisecond, func() bool {
		r, err := c.do(gw.url, "/readyz")
		return err == nil && strings.Contains(string(r.body), `"store":"ok"`)
	}))
	gw.stop() // flushes what waited

	recs := exportAll(t, openAuditOf(t, cfg))
	require.Len(t, ofKind(recs, audit.KindLookup), 1+during, "every lookup made while the database was away is recorded")
	require.Empty(t, ofKind(recs, audit.KindDropped))
}

func storeErrors(t *testing.T, a *App) float64 {
	t.Helper()
	mfs, err := a.metrics.Registry().Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "intelgate_store_errors_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// PostgreSQL unreachable at start: the error names storage.dsn and never
// holds the password.
func TestPostgresUnreachableAtStart(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	_, hash := newGovToken(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	const password = "pg-s3cret-pw-77"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pg.dsn"), []byte("postgres://intelgate:"+password+"@"+addr+"/db?connect_timeout=2\n"), 0o600))
	rcWriteKey(t, dir)
	path := writeGovConfig(t, dir, s, hash, govCfg{storage: `{driver: postgres, dsn: "file:pg.dsn", timeout: 1s}`, top: rcEncryption})
	cfg, err := config.Load(path)
	require.NoError(t, err)
	log, logs := logtest.JSONLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = New(ctx, cfg, log, Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "storage.dsn")
	require.NotContains(t, err.Error(), password)
	require.NotContains(t, logs.String(), password)
}
