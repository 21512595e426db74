package postgres_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/store/postgres"
)

// waitFor bounds every wait of these tests: generous for a loaded 2-core
// machine under -race; a passing test never waits it out.
const waitFor = 20 * time.Second

// subscriber runs Subscribe in a goroutine and hands its calls to the test.
type subscriber struct {
	got    chan cache.Scope
	cancel context.CancelFunc
	done   chan error
}

func subscribe(t *testing.T, b cache.Broadcaster) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{got: make(chan cache.Scope, 64), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- b.Subscribe(ctx, func(sc cache.Scope) { s.got <- sc }) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends Subscribe and checks it returned nil; safe to call twice.
func (s *subscriber) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			require.NoError(t, err)
			close(s.done)
		}
	case <-time.After(waitFor):
		t.Error("Subscribe did not return after its context ended")
	}
}

func (s *subscriber) next(t *testing.T) cache.Scope {
	t.Helper()
	select {
	case sc := <-s.got:
		return sc
	case <-time.After(waitFor):
		t.Fatal("no purge received")
		return cache.Scope{}
	}
}

// listeners polls until n sessions of the server sit in LISTEN on
// channel (as pg_stat_activity shows their last statement), so nothing is
// published before the subscriptions exist; it returns their pids.
func listeners(t *testing.T, c *pgx.Conn, channel string, n int) []int32 {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		rows, err := c.Query(t.Context(), "SELECT pid FROM pg_stat_activity WHERE query = $1",
			"LISTEN "+pgx.Identifier{channel}.Sanitize())
		require.NoError(t, err)
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		require.NoError(t, err)
		if len(pids) == n {
			return pids
		}
		require.True(t, time.Now().Before(deadline), "%d sessions listen on %s, want %d", len(pids), channel, n)
		<-tick.C
	}
}

// TestNotifierAcrossReplicas: three replicas on one schema all receive
// every purge, the publisher's own included; per-indicator purges arrive
// widened to their provider; junk on the channel is ignored; a replica of
// another schema hears nothing.
func TestNotifierAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var stores []*postgres.Store
	var subs []*subscriber
	for range 3 {
		s := open(t, dsn, postgres.Options{})
		stores = append(stores, s)
		subs = append(subs, subscribe(t, s.PurgeBus()))
	}
	other := open(t, pgtest.DSN(t), postgres.Options{})
	otherSub := subscribe(t, other.PurgeBus())
	channel := postgres.ChannelForTest(stores[0])
	require.NotEqual(t, channel, postgres.ChannelForTest(other))
	admin := pgtest.Conn(t, dsn)
	listeners(t, admin, channel, 3)
	listeners(t, admin, postgres.ChannelForTest(other), 1)
	ctx := t.Context()

	for _, junk := range []string{"not json", `{"v":2,"all":true}`, `{"v":1}`, `{"v":1,"all":true,"provider":"x"}`, strings.Repeat("x", 2000)} {
		_, err := admin.Exec(ctx, "SELECT pg_notify($1, $2)", channel, junk)
		require.NoError(t, err)
	}
	pub := stores[0].PurgeBus()
	tests := []struct {
		publish, want cache.Scope
	}{
		{cache.Scope{Provider: "socialeye"}, cache.Scope{Provider: "socialeye"}},
		{cache.Scope{Provider: "socialeye", Indicators: []string{"10.99.88.77"}}, cache.Scope{Provider: "socialeye"}},
		{cache.Scope{}, cache.Scope{}},
	}
	for _, tc := range tests {
		require.NoError(t, pub.Publish(ctx, tc.publish))
		for i, s := range subs {
			require.Equal(t, tc.want, s.next(t), "subscriber %d", i)
		}
	}
	require.Error(t, pub.Publish(ctx, cache.Scope{Indicators: []string{"x"}}), "indicators need a provider")

	require.NoError(t, other.PurgeBus().Publish(ctx, cache.Scope{Provider: "mine"}))
	require.Equal(t, cache.Scope{Provider: "mine"}, otherSub.next(t), "the other schema's first purge is its own")
	var n int
	require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM cache_purges").Scan(&n))
	require.Equal(t, 3, n, "each publish is recorded")
}

// TestNotifierReconnects: a listen connection killed by the server is
// reported, replaced after a backoff, and, since purges may have been
// missed meanwhile, followed first by a purge of everything.
func TestNotifierReconnects(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	errs := make(chan string, 16)
	s := open(t, dsn, postgres.Options{OnError: func(op string) { errs <- op }})
	sub := subscribe(t, s.Notifier(postgres.NotifierOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}))
	admin := pgtest.Conn(t, dsn)
	channel := postgres.ChannelForTest(s)
	pid := listeners(t, admin, channel, 1)[0]
	ctx := t.Context()
	require.NoError(t, s.PurgeBus().Publish(ctx, cache.Scope{Provider: "before"}))
	require.Equal(t, cache.Scope{Provider: "before"}, sub.next(t))

	_, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	require.Equal(t, cache.Scope{}, sub.next(t), "reconnected: clear everything")
	require.Equal(t, "Subscribe", <-errs)
	require.NotEqual(t, pid, listeners(t, admin, channel, 1)[0], "a new session listens")
	require.NoError(t, s.PurgeBus().Publish(ctx, cache.Scope{Provider: "after"}))
	require.Equal(t, cache.Scope{Provider: "after"}, sub.next(t))
	require.Empty(t, sub.got)
}

// TestNotifierFirstAttemptFails: when Subscribe cannot listen at first (no
// connection to be had from the pool), purges published meanwhile are
// lost to it, so its first call once listening is a purge of everything.
func TestNotifierFirstAttemptFails(t *testing.T) {
	t.Parallel()
	errs := make(chan string, 64)
	s := open(t, pgtest.DSN(t), postgres.Options{MaxConns: 1, OpTimeout: 100 * time.Millisecond,
		OnError: func(op string) { errs <- op }})
	held, err := s.Pool().Acquire(t.Context())
	require.NoError(t, err)
	sub := subscribe(t, s.Notifier(postgres.NotifierOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}))
	select {
	case op := <-errs:
		require.Equal(t, "Subscribe", op)
	case <-time.After(waitFor):
		t.Fatal("the failed attempt was not reported")
	}
	require.Empty(t, sub.got, "nothing is delivered before it listens")
	held.Release()
	require.Equal(t, cache.Scope{}, sub.next(t))
}

// TestSubscribeEndsAndLeavesNoListener: Subscribe returns nil when its
// context ends, its session is closed rather than returned to the pool
// still listening, and Close does not wait for anything else.
func TestSubscribeEndsAndLeavesNoListener(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn, postgres.Options{MaxConns: 2})
	admin := pgtest.Conn(t, dsn)
	channel := postgres.ChannelForTest(s)
	sub := subscribe(t, s.PurgeBus())
	listeners(t, admin, channel, 1)
	sub.stop(t)
	listeners(t, admin, channel, 0)
	// The pool is whole again: both connections can be had at once.
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	a, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	b, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	a.Release()
	b.Release()
}

// TestSubscribeEndsWhenStoreCloses: closing the store ends a running
// Subscribe with ErrClosed instead of Close waiting for it forever.
func TestSubscribeEndsWhenStoreCloses(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn, postgres.Options{})
	done := make(chan error, 1)
	go func() { done <- s.PurgeBus().Subscribe(context.Background(), func(cache.Scope) {}) }()
	listeners(t, pgtest.Conn(t, dsn), postgres.ChannelForTest(s), 1)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Close waited for Subscribe")
	}
	select {
	case err := <-done:
		require.ErrorIs(t, err, postgres.ErrClosed)
	case <-time.After(waitFor):
		t.Fatal("Subscribe outlived its store")
	}
	require.ErrorIs(t, s.PurgeBus().Subscribe(context.Background(), func(cache.Scope) {}), postgres.ErrClosed)
}

// TestNotifierFindsASilentDeath: a listen connection that stops carrying
// anything without closing (a firewall dropping the flow) is found by
// the idle ping, replaced, and followed by a purge of everything.
func TestNotifierFindsASilentDeath(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	px := newFreezer(t, dsn)
	errs := make(chan string, 64)
	s := open(t, px.dsn, postgres.Options{OpTimeout: time.Second, OnError: func(op string) { errs <- op }})
	sub := subscribe(t, s.Notifier(postgres.NotifierOptions{Idle: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}))
	pub := open(t, dsn, postgres.Options{}).PurgeBus()
	waitSubscribed(t, pub, sub)

	px.freeze()
	select {
	case op := <-errs:
		require.Equal(t, "Subscribe", op, "the idle ping timed out")
	case <-time.After(waitFor):
		t.Fatal("the silent connection was not found")
	}
	px.thaw()
	require.Equal(t, cache.Scope{}, sub.next(t), "reconnected: clear everything")
	require.NoError(t, pub.Publish(t.Context(), cache.Scope{Provider: "after"}))
	for {
		// Pings may have raced the freeze: more zero scopes are fine.
		if sc := sub.next(t); sc.Provider != "" || sc.Indicators != nil {
			require.Equal(t, cache.Scope{Provider: "after"}, sc)
			return
		}
	}
}

// waitSubscribed publishes probes until sub receives one: the
// subscription is live. (pg_stat_activity cannot tell here: with a 50ms
// idle ping the listen session's last statement is soon the ping, not
// LISTEN — on a loaded machine before a poll sees it.) A probe published
// before LISTEN is lost, and notifications arrive in order, so none is
// left to arrive after the one received.
func waitSubscribed(t *testing.T, pub cache.Broadcaster, sub *subscriber) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		require.NoError(t, pub.Publish(t.Context(), cache.Scope{Provider: "probe"}))
		select {
		case sc := <-sub.got:
			if sc.Provider == "probe" {
				return
			}
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the subscription never received a probe")
	}
}

// freezer forwards TCP to the test server until frozen: then it keeps
// every connection open and silently drops what either side sends, as a
// firewall that forgot the flow does; thaw closes the frozen connections
// and forwards new ones again.
type freezer struct {
	ln     net.Listener
	target string
	dsn    string // the test schema's DSN, through the freezer
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newFreezer(t *testing.T, dsn string) *freezer {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Skip("the silent-death test needs " + pgtest.EnvDSN + " as a postgres:// URL")
	}
	target := u.Host
	if !strings.Contains(target, ":") {
		target += ":5432"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u.Host = ln.Addr().String()
	f := &freezer{ln: ln, target: target, dsn: u.String()}
	f.wg.Go(f.serve)
	t.Cleanup(f.close)
	return f
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		f.wg.Go(func() { f.pipe(up, c) })
		f.wg.Go(func() { f.pipe(c, up) })
	}
}

// pipe copies from src to dst, dropping what it reads while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			frozen := f.frozen
			f.mu.Unlock()
			if !frozen {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = true
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = false
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
}

func (f *freezer) close() {
	_ = f.ln.Close()
	f.thaw()
	f.wg.Wait()
}
