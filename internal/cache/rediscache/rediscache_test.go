package rediscache_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/cache/cachetest"
	"github.com/intelgate/intelgate/internal/cache/rediscache"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/seal"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// Subscribe that outlives its context, or a client nobody closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOpTimeout is generous: these tests check behaviour, not latency,
// on a loaded CI machine under -race (the timeout path has its own tests).
const testOpTimeout = 10 * time.Second

// newClient is a client of its own (own connections) on the test Redis,
// or on addr when not empty, with the context deadlines New relies on.
func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	if addr != "" {
		o.Addr = addr
	}
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func open(t *testing.T, prefix string) *rediscache.Records {
	t.Helper()
	return cleaned(t, rediscache.New(newClient(t, ""), rediscache.Options{Prefix: prefix, OpTimeout: testOpTimeout}))
}

// cleaned purges r's records when the test ends, so runs do not leave
// hours-long keys on a shared Redis (leases expire within a minute).
func cleaned(t *testing.T, r *rediscache.Records) *rediscache.Records {
	t.Helper()
	t.Cleanup(func() { _, _ = r.Purge(context.Background(), "", nil) })
	return r
}

func rec(provider, tag, id, body string, expires time.Time) cache.Record {
	return cache.Record{Ref: cache.Ref{ID: id, Tag: tag}, Provider: provider, Body: []byte(body), Expires: expires}
}

// TestKeyLayout pins the documented key layout and that every key the
// Records write expires, so Redis never grows without bound.
func TestKeyLayout(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	r, raw := open(t, p), newClient(t, "")
	ctx := t.Context()
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	require.NoError(t, r.Put(ctx, rec("socialeye", "tag1", "id1", "sealed", expires)))
	require.NoError(t, r.Put(ctx, rec("socialeye", "tag1", "id2", "sealed", time.Now().Add(time.Minute))))
	held, release, err := r.Lease(ctx, "id1", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	defer release()

	tests := []struct {
		key      string
		min, max time.Duration
	}{
		{p + "cache:socialeye:id1", time.Hour - time.Minute, time.Hour},
		{p + "cache-tag:socialeye:tag1", time.Hour - time.Minute, time.Hour}, // its longest record's
		{p + "cache-lease:id1", time.Minute - 10*time.Second, time.Minute},
	}
	for _, tc := range tests {
		ttl, err := raw.PTTL(ctx, tc.key).Result()
		require.NoError(t, err)
		require.GreaterOrEqual(t, ttl, tc.min, tc.key)
		require.LessOrEqual(t, ttl, tc.max, tc.key)
	}
	fields, err := raw.HGetAll(ctx, p+"cache:socialeye:id1").Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"t": "tag1", "b": "sealed", "e": fmt.Sprint(expires.UnixMilli())}, fields)
	ids, err := raw.SMembers(ctx, p+"cache-tag:socialeye:tag1").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"id1", "id2"}, ids)
}

func TestRecordsBehaviour(t *testing.T) {
	t.Parallel()
	hour := time.Now().Add(time.Hour)
	tests := []struct {
		name string
		run  func(t *testing.T, r *rediscache.Records)
	}{
		{"first present ref wins, in refs order", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			require.NoError(t, r.Put(ctx, rec("p", "t1", "new", "under-new-key", hour)))
			require.NoError(t, r.Put(ctx, rec("p", "t0", "old", "under-old-key", hour)))
			got, ok, err := r.Get(ctx, "p", []cache.Ref{{ID: "missing", Tag: "t9"}, {ID: "old", Tag: "t0"}, {ID: "new", Tag: "t1"}})
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "under-old-key", string(got.Body))
			require.Equal(t, cache.Ref{ID: "old", Tag: "t0"}, got.Ref)
			require.Equal(t, "p", got.Provider)
			require.Equal(t, hour.UnixMilli(), got.Expires.UnixMilli(), "Expires as written, to the millisecond")
			_, ok, err = r.Get(ctx, "other", []cache.Ref{{ID: "old", Tag: "t0"}})
			require.NoError(t, err)
			require.False(t, ok, "records are per provider")
		}},
		{"expired put replaces with nothing", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			require.NoError(t, r.Put(ctx, rec("p", "t", "id", "v1", hour)))
			require.NoError(t, r.Put(ctx, rec("p", "t", "id", "v2", time.Now().Add(-time.Second))))
			_, ok, err := r.Get(ctx, "p", []cache.Ref{{ID: "id", Tag: "t"}})
			require.NoError(t, err)
			require.False(t, ok)
		}},
		{"delete is idempotent", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			require.NoError(t, r.Put(ctx, rec("p", "t", "id", "v", hour)))
			for range 2 {
				require.NoError(t, r.Delete(ctx, "p", cache.Ref{ID: "id", Tag: "t"}))
			}
			_, ok, err := r.Get(ctx, "p", []cache.Ref{{ID: "id", Tag: "t"}})
			require.NoError(t, err)
			require.False(t, ok)
		}},
		{"scan parses keys back", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			want := map[string]cache.Record{}
			for i := range 1200 { // several SCAN batches
				x := rec("prov-"+string(rune('a'+i%3)), "tag"+hex.EncodeToString([]byte{byte(i)}), "id"+hex.EncodeToString([]byte{byte(i >> 8), byte(i)}), "body", hour)
				want[x.ID] = x
				require.NoError(t, r.Put(ctx, x))
			}
			got := map[string]cache.Record{}
			require.NoError(t, r.Scan(ctx, func(x cache.Record) error {
				require.NotContains(t, got, x.ID, "each record once")
				got[x.ID] = x
				return r.Delete(ctx, x.Provider, x.Ref) // fn may write
			}))
			require.Len(t, got, len(want))
			for id, w := range want {
				require.Equal(t, w.Ref, got[id].Ref)
				require.Equal(t, w.Provider, got[id].Provider)
				require.Equal(t, w.Body, got[id].Body)
				require.Equal(t, w.Expires.UnixMilli(), got[id].Expires.UnixMilli())
			}
			n := 0
			require.NoError(t, r.Scan(ctx, func(cache.Record) error { n++; return nil }))
			require.Zero(t, n, "fn's deletes took effect")
		}},
		{"scan stops at fn's error", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			require.NoError(t, r.Put(ctx, rec("p", "t", "1", "x", hour)))
			require.NoError(t, r.Put(ctx, rec("p", "t", "2", "x", hour)))
			calls := 0
			err := r.Scan(ctx, func(cache.Record) error { calls++; return io.ErrUnexpectedEOF })
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			require.Equal(t, 1, calls)
		}},
		{"refused parts", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			for _, x := range []cache.Record{rec("", "t", "i", "x", hour), rec("p:q", "t", "i", "x", hour), rec("p", "", "i", "x", hour), rec("p", "t", "", "x", hour)} {
				require.Error(t, r.Put(ctx, x), "%+v", x.Ref)
			}
			_, err := r.Purge(ctx, "p:q", nil)
			require.Error(t, err)
		}},
		{"a tag purge skips ids deleted or re-tagged since", func(t *testing.T, r *rediscache.Records) {
			ctx := t.Context()
			require.NoError(t, r.Put(ctx, rec("p", "t1", "moved", "x", hour)))
			require.NoError(t, r.Put(ctx, rec("p", "t1", "deleted", "x", hour)))
			require.NoError(t, r.Put(ctx, rec("p", "t1", "kept", "x", hour)))
			require.NoError(t, r.Put(ctx, rec("p", "t2", "moved", "x", hour)))
			require.NoError(t, r.Delete(ctx, "p", cache.Ref{ID: "deleted"}))
			n, err := r.Purge(ctx, "p", []string{"t1"})
			require.NoError(t, err)
			require.Equal(t, 1, n, "only the record still tagged t1")
			got, ok, err := r.Get(ctx, "p", []cache.Ref{{ID: "moved"}})
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "t2", got.Tag)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t, redistest.Prefix(t)))
		})
	}
}

// TestLease: one holder at a time; a release gives up only the caller's
// own lease; an expired lease can be taken.
func TestLease(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	a, b, raw := open(t, p), open(t, p), newClient(t, "")
	ctx := t.Context()

	heldA, releaseA, err := a.Lease(ctx, "id", time.Minute)
	require.NoError(t, err)
	require.True(t, heldA)
	heldB, releaseB, err := b.Lease(ctx, "id", time.Minute)
	require.NoError(t, err)
	require.False(t, heldB, "two holders: one wins")
	releaseB() // not the holder: does nothing
	heldB, _, err = b.Lease(ctx, "id", time.Minute)
	require.NoError(t, err)
	require.False(t, heldB, "the loser's release left the winner's lease alone")
	releaseA()
	releaseA() // at most once
	heldB, releaseB, err = b.Lease(ctx, "id", time.Minute)
	require.NoError(t, err)
	require.True(t, heldB, "released: free for the next")

	// A holder whose lease expired must not release its successor's.
	require.NoError(t, raw.PExpire(ctx, p+"cache-lease:id", time.Millisecond).Err())
	deadline := time.Now().Add(5 * time.Second)
	var heldA2 bool
	var releaseA2 func()
	for !heldA2 {
		require.True(t, time.Now().Before(deadline), "the expired lease was never free")
		heldA2, releaseA2, err = a.Lease(ctx, "id", time.Minute)
		require.NoError(t, err)
	}
	releaseB() // B's lease expired: A's must survive
	heldB, _, err = b.Lease(ctx, "id", time.Minute)
	require.NoError(t, err)
	require.False(t, heldB)
	releaseA2()

	_, release, err := a.Lease(ctx, "", time.Minute)
	require.Error(t, err)
	require.NotNil(t, release)
	_, release, err = a.Lease(ctx, "id", 0)
	require.Error(t, err)
	require.NotNil(t, release)
}

// subscriber runs Subscribe in a goroutine and hands its calls to the test.
type subscriber struct {
	got    chan cache.Scope
	cancel context.CancelFunc
	done   chan error
}

func subscribe(t *testing.T, r *rediscache.Records) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{got: make(chan cache.Scope, 64), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- r.Subscribe(ctx, func(sc cache.Scope) { s.got <- sc }) }()
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
	case <-time.After(10 * time.Second):
		t.Error("Subscribe did not return after its context ended")
	}
}

func (s *subscriber) next(t *testing.T) cache.Scope {
	t.Helper()
	select {
	case sc := <-s.got:
		return sc
	case <-time.After(10 * time.Second):
		t.Fatal("no purge received within 10s")
		return cache.Scope{}
	}
}

// waitSubscribers polls until channel has n subscribers, so a publish is
// not sent before the subscriptions exist.
func waitSubscribers(t *testing.T, raw *redis.Client, channel string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := raw.PubSubNumSub(t.Context(), channel).Result()
		require.NoError(t, err)
		if m[channel] == n {
			return
		}
		require.True(t, time.Now().Before(deadline), "channel has %d subscribers, want %d", m[channel], n)
		<-tick.C
	}
}

// TestPubSub: three replicas, each on its own client, all receive every
// purge, per-indicator purges arrive widened to their provider, and junk
// on the channel is ignored.
func TestPubSub(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	raw := newClient(t, "")
	var subs []*subscriber
	for range 3 {
		subs = append(subs, subscribe(t, open(t, p)))
	}
	waitSubscribers(t, raw, p+"cache-purge", 3)
	pub := open(t, p)
	ctx := t.Context()

	require.NoError(t, raw.Publish(ctx, p+"cache-purge", "not json").Err())
	require.NoError(t, raw.Publish(ctx, p+"cache-purge", `{"v":2,"all":true}`).Err())
	require.NoError(t, raw.Publish(ctx, p+"cache-purge", `{"v":1}`).Err())
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
	for _, s := range subs {
		s.stop(t)
	}
}

// proxy forwards TCP to Redis until it is taken down: then it drops every
// connection and refuses new ones (accepts and closes them), as a Redis
// restart looks to a client.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
		p.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.setDown(true)
	p.wg.Wait()
}

// TestSubscribeSurvivesRestart: a subscription whose Redis goes away and
// comes back resubscribes by itself, first telling fn to clear everything
// (purges published meanwhile were lost to it), then receives purges
// again.
func TestSubscribeSurvivesRestart(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	raw := newClient(t, "")
	px := newProxy(t, raw.Options().Addr)
	sub := subscribe(t, rediscache.New(newClient(t, px.addr()), rediscache.Options{Prefix: p, OpTimeout: testOpTimeout}))
	pub := open(t, p)
	ctx := t.Context()
	channel := p + "cache-purge"

	waitSubscribers(t, raw, channel, 1)
	require.NoError(t, pub.Publish(ctx, cache.Scope{Provider: "before"}))
	require.Equal(t, cache.Scope{Provider: "before"}, sub.next(t))

	px.setDown(true)
	waitSubscribers(t, raw, channel, 0)
	require.NoError(t, pub.Publish(ctx, cache.Scope{Provider: "missed"}))
	px.setDown(false)

	require.Equal(t, cache.Scope{}, sub.next(t), "resubscribed: clear everything")
	waitSubscribers(t, raw, channel, 1)
	require.NoError(t, pub.Publish(ctx, cache.Scope{Provider: "after"}))
	require.Equal(t, cache.Scope{Provider: "after"}, sub.next(t))
	sub.stop(t)
}

// failOpTimeout is short so failure tests are quick; failSlack covers a
// loaded CI machine running -race.
const (
	failOpTimeout = 100 * time.Millisecond
	failSlack     = 900 * time.Millisecond
)

// TestRedisUnavailable: with Redis refusing connections or never
// answering, every operation fails within OpTimeout, with an error that
// says what failed and never quotes the password; nothing panics, and
// Subscribe still ends with its context.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	const password = "hunter2-pa55word-7f3a"
	for name, addr := range map[string]func(*testing.T) string{"refused": redistest.ClosedPort, "hung": func(t *testing.T) string { return redistest.NewBlackHole(t).Addr() }} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := redis.NewClient(&redis.Options{Addr: addr(t), Password: password, ContextTimeoutEnabled: true, MaxRetries: -1})
			t.Cleanup(func() { _ = c.Close() })
			r := rediscache.New(c, rediscache.Options{Prefix: redistest.Prefix(t), OpTimeout: failOpTimeout})
			ref := cache.Ref{ID: "id", Tag: "tag"}
			ops := map[string]func(ctx context.Context) error{
				"get": func(ctx context.Context) error {
					_, _, err := r.Get(ctx, "p", []cache.Ref{ref})
					return err
				},
				"put": func(ctx context.Context) error {
					return r.Put(ctx, rec("p", "tag", "id", "x", time.Now().Add(time.Hour)))
				},
				"delete": func(ctx context.Context) error { return r.Delete(ctx, "p", ref) },
				"purge": func(ctx context.Context) error {
					_, err := r.Purge(ctx, "p", nil)
					return err
				},
				"scan":    func(ctx context.Context) error { return r.Scan(ctx, func(cache.Record) error { return nil }) },
				"publish": func(ctx context.Context) error { return r.Publish(ctx, cache.Scope{Provider: "p"}) },
				"lease": func(ctx context.Context) error {
					held, release, err := r.Lease(ctx, "id", time.Second)
					require.False(t, held)
					require.NotNil(t, release)
					release()
					return err
				},
			}
			for op, fn := range ops {
				start := time.Now()
				err := fn(t.Context())
				require.Error(t, err, op)
				require.Less(t, time.Since(start), failOpTimeout+failSlack, op)
				require.Contains(t, err.Error(), "rediscache: ", op)
				require.NotContains(t, err.Error(), password, op)
			}

			sub := subscribe(t, r)
			sub.stop(t)
			select {
			case sc := <-sub.got:
				t.Fatalf("a subscription that never connected delivered %+v", sc)
			default:
			}
		})
	}
}

// openAt is Records on a fresh prefix reading clk, for the suites.
func openAt(t *testing.T, clk *clocktest.Clock) *rediscache.Records {
	t.Helper()
	return cleaned(t, rediscache.New(newClient(t, ""), rediscache.Options{Prefix: redistest.Prefix(t), OpTimeout: testOpTimeout, Clock: clk}))
}

// Both suites run twice: on the fake clock, which the Records honour for
// liveness as the SQLite store does, and in real time, where what expires
// a record is Redis's own PX.
var suiteModes = map[string]cachetest.Options{
	"FakeClock": {},
	"RealTime":  {RealTime: true},
}

func TestRecordsConformance(t *testing.T) {
	t.Parallel()
	redistest.URL(t)
	for name, o := range suiteModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cachetest.RunRecords(t, func(t *testing.T, clk *clocktest.Clock) cache.Records { return openAt(t, clk) }, o)
		})
	}
}

func TestSealedConformance(t *testing.T) {
	t.Parallel()
	redistest.URL(t)
	for name, o := range suiteModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cachetest.Run(t, func(t *testing.T, clk *clocktest.Clock) cache.Tier {
				return cache.NewSealed(openAt(t, clk), testKeyring(t), clk)
			}, o)
		})
	}
}

func testKeyring(t *testing.T) *seal.Keyring {
	t.Helper()
	r, err := seal.NewKeyring([]seal.Key{{ID: "test-1", Secret: bytes.Repeat([]byte{7}, seal.MinSecretLen)}})
	require.NoError(t, err)
	return r
}

// Markers the plaintext scan looks for: an indicator and a body phrase
// that appear nowhere else.
const (
	markerIndicator = "10.99.88.77"
	markerBody      = "needle-body-5d1e"
)

// requireNoMarkers fails if b holds a marker raw, in hex or in base64 at
// any alignment (leak.Forms).
func requireNoMarkers(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, m := range []string{markerIndicator, markerBody} {
		for _, f := range leak.Forms(m) {
			require.False(t, bytes.Contains(b, []byte(f)), "%s holds %q", what, f)
		}
	}
}

// TestRedisHoldsNoPlaintext: entries written through the sealed tier, a
// fill lease and a purge announcement leave neither the indicator nor the
// body in any key name, value (read and DUMPed) or pub/sub message.
func TestRedisHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	r, raw := open(t, p), newClient(t, "")
	keys := testKeyring(t)
	tier := cache.NewSealed(r, keys, nil)
	ctx := t.Context()

	listener := raw.Subscribe(ctx, p+"cache-purge")
	t.Cleanup(func() { _ = listener.Close() })
	_, err := listener.Receive(ctx) // the subscription's confirmation
	require.NoError(t, err)

	now := time.Now()
	body := []byte(`{"verdict":"malicious","note":"` + markerBody + `","ip":"` + markerIndicator + `"}`)
	for i, typ := range []string{"ipv4", "ipv4-raw", "url"} {
		k := cache.Key{Provider: "socialeye", Environment: "prod", Type: typ, Indicator: markerIndicator, UpstreamType: "ip", Client: fmt.Sprint("c", i)}
		e := cache.Entry{Data: body, FetchedAt: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}
		require.NoError(t, tier.Put(ctx, k, e))
		got, ok, err := tier.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, body, got.Data, "the sealed tier serves the plaintext back")
		held, _, err := r.Lease(ctx, keys.Index(k.String())[0], time.Minute) // what the Cache's LeaseID is
		require.NoError(t, err)
		require.True(t, held)
	}
	require.NoError(t, r.Publish(ctx, cache.Scope{Provider: "socialeye", Indicators: []string{markerIndicator}}))
	msg, err := listener.ReceiveMessage(ctx)
	require.NoError(t, err)
	requireNoMarkers(t, "the purge message", []byte(msg.Payload))

	var all []string
	iter := raw.Scan(ctx, 0, p+"*", 100).Iterator()
	for iter.Next(ctx) {
		all = append(all, iter.Val())
	}
	require.NoError(t, iter.Err())
	require.Len(t, all, 3+3+1, "three records, three leases, one tag set")
	for _, k := range all {
		requireNoMarkers(t, "key name "+k, []byte(k))
		dump, err := raw.Dump(ctx, k).Result()
		require.NoError(t, err)
		requireNoMarkers(t, "DUMP of "+k, []byte(dump))
		var values []string
		switch typ := raw.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range raw.HGetAll(ctx, k).Val() {
				values = append(values, f, v)
			}
		case "set":
			values = raw.SMembers(ctx, k).Val()
		case "string":
			values = []string{raw.Get(ctx, k).Val()}
		default:
			t.Fatalf("%s is a %s", k, typ)
		}
		require.NotEmpty(t, values, k)
		for _, v := range values {
			requireNoMarkers(t, "value of "+k, []byte(v))
		}
	}
}
