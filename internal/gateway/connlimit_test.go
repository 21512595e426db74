package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
)

// limitServer serves on real loopback through a connection limiter the
// test can watch. GET /block waits until release is closed.
type limitServer struct {
	addr    string
	lim     *connLimiter
	entered chan struct{}
	release chan struct{}
	tls     *tls.Config // client config when serving TLS
}

func startLimitServer(t *testing.T, max, perSource int, trusted []netip.Prefix, o ListenerOptions) *limitServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &limitServer{addr: ln.Addr().String(), lim: newConnLimiter(max, perSource, auth.NewProxies(trusted), nil),
		entered: make(chan struct{}, 16), release: make(chan struct{})}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			s.entered <- struct{}{}
			<-s.release
		}
		_, _ = io.WriteString(w, "ok")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, h, o, s.lim) }()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		cancel()
		require.NoError(t, <-done)
	})
	return s
}

// client is one raw keep-alive connection, so the test decides exactly
// which connections exist.
type client struct {
	conn net.Conn
	br   *bufio.Reader
}

func (s *limitServer) dial(t *testing.T, from string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", s.addr)
	require.NoError(t, err)
	if s.tls != nil {
		tc := tls.Client(c, s.tls)
		require.NoError(t, tc.Handshake())
		c = tc
	}
	t.Cleanup(func() { _ = c.Close() })
	// A deadline only so a broken test fails instead of hanging.
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	return &client{conn: c, br: bufio.NewReader(c)}
}

// get sends one request on the connection and reads the answer.
func (c *client) get(path string) (string, error) {
	if _, err := io.WriteString(c.conn, "GET "+path+" HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// closedByServer reports whether the server closed the connection: a read
// ends with EOF or a reset rather than data (or the test's deadline).
func (c *client) closedByServer() bool {
	_, err := c.br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// waitIdle waits until the limiter counts n idle connections: the server
// reports a connection idle just after writing its answer, so the client
// may read the answer first.
func (s *limitServer) waitIdle(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { _, idle, _ := s.lim.counts(); return idle == n },
		20*time.Second, time.Millisecond, "waiting for %d idle connections", n)
}

// idleClients opens n keep-alive connections from `from`, each served once
// and then idle, in order (the first is the oldest idle).
func (s *limitServer) idleClients(t *testing.T, from string, n, idleBefore int) []*client {
	t.Helper()
	var cs []*client
	for i := range n {
		c := s.dial(t, from)
		body, err := c.get("/")
		require.NoError(t, err)
		require.Equal(t, "ok", body)
		s.waitIdle(t, idleBefore+i+1)
		cs = append(cs, c)
	}
	return cs
}

func TestConnLimitClosesOldestIdleToServeNewClient(t *testing.T) {
	t.Parallel()
	const max = 3
	s := startLimitServer(t, max, max, nil, ListenerOptions{})
	idle := s.idleClients(t, "", max, 0)

	fresh := s.dial(t, "")
	body, err := fresh.get("/")
	require.NoError(t, err, "a new client is served although the limit was reached")
	require.Equal(t, "ok", body)

	require.True(t, idle[0].closedByServer(), "the oldest idle connection was closed to make room")
	for i, c := range idle[1:] {
		body, err := c.get("/")
		require.NoError(t, err, "idle connection %d was not closed", i+1)
		require.Equal(t, "ok", body)
	}
	open, _, _ := s.lim.counts()
	require.LessOrEqual(t, open, max)
}

func TestConnLimitNeverClosesActiveConnections(t *testing.T) {
	t.Parallel()
	const max = 2
	s := startLimitServer(t, max, max, nil, ListenerOptions{})
	type result struct {
		body string
		err  error
	}
	results := make(chan result, max)
	for range max {
		c := s.dial(t, "")
		go func() {
			body, err := c.get("/block")
			results <- result{body, err}
		}()
		<-s.entered
	}
	// Every connection is in flight: the new one is refused (closed), not
	// served by cutting one off.
	refused := s.dial(t, "")
	_, err := refused.get("/")
	require.Error(t, err, "a connection beyond the limit, with none idle, is refused")

	close(s.release)
	for range max {
		r := <-results
		require.NoError(t, r.err, "an in-flight request is never cut off to make room")
		require.Equal(t, "ok", r.body)
	}
}

func TestConnLimitPerSource(t *testing.T) {
	t.Parallel()
	const perSource = 2
	proxy := netip.MustParsePrefix("127.0.0.4/32")
	s := startLimitServer(t, 100, perSource, []netip.Prefix{proxy}, ListenerOptions{})

	other := s.idleClients(t, "127.0.0.3", 1, 0)[0]
	mine := s.idleClients(t, "127.0.0.2", perSource, 1)

	// A third connection from the same source: its own oldest idle one
	// makes room; nobody else's.
	third := s.dial(t, "127.0.0.2")
	body, err := third.get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)
	require.True(t, mine[0].closedByServer(), "the source's oldest idle connection was closed")
	body, err = other.get("/")
	require.NoError(t, err, "another source's idle connection is untouched")
	require.Equal(t, "ok", body)
	body, err = mine[1].get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)

	// A trusted proxy carries many clients: it is exempt.
	viaProxy := s.idleClients(t, "127.0.0.4", perSource+2, 3)
	for i, c := range viaProxy {
		body, err := c.get("/")
		require.NoError(t, err, "proxy connection %d", i)
		require.Equal(t, "ok", body)
	}
}

func TestConnLimitPerSourceRefusesWhenAllBusy(t *testing.T) {
	t.Parallel()
	const perSource = 2
	s := startLimitServer(t, 100, perSource, nil, ListenerOptions{})
	errs := make(chan error, perSource)
	for range perSource {
		c := s.dial(t, "127.0.0.5")
		go func() {
			_, err := c.get("/block")
			errs <- err
		}()
		<-s.entered
	}
	_, err := s.dial(t, "127.0.0.5").get("/")
	require.Error(t, err, "the source is at its limit with every connection busy")
	body, err := s.dial(t, "127.0.0.6").get("/")
	require.NoError(t, err, "another source is still served")
	require.Equal(t, "ok", body)
	close(s.release)
	for range perSource {
		require.NoError(t, <-errs)
	}
}

// TestConnLimitWithTLS: the limiter sits below TLS and still recognises
// the server's *tls.Conn as the connection it admitted.
func TestConnLimitWithTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, certPEM := writeServerCert(t)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))

	const max = 2
	s := startLimitServer(t, max, max, nil, ListenerOptions{TLS: &config.ServerTLS{CertFile: certFile, KeyFile: keyFile}})
	s.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
	idle := s.idleClients(t, "", max, 0)
	body, err := s.dial(t, "").get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)
	require.True(t, idle[0].closedByServer())
	body, err = idle[1].get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)
}

// TestConnLimitClosesSilentConnections: a connection that has sent nothing
// since it was accepted waits like an idle one, and the longest waiting is
// closed first.
func TestConnLimitClosesSilentConnections(t *testing.T) {
	t.Parallel()
	const max = 2
	s := startLimitServer(t, max, max, nil, ListenerOptions{})
	silent := s.dial(t, "")
	require.Eventually(t, func() bool { open, _, _ := s.lim.counts(); return open == 1 },
		20*time.Second, time.Millisecond, "waiting for the server to accept")
	idle := s.idleClients(t, "", 1, 0)[0]

	body, err := s.dial(t, "").get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)
	require.True(t, silent.closedByServer(), "the silent connection waited longest")
	body, err = idle.get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)
}

// At the total limit the connection closed to make room is one of the
// source holding the most, not whoever connected first: a client that has
// just connected (still silent) survives a flood from other sources.
func TestConnLimitTakesRoomFromTheHeaviestSource(t *testing.T) {
	t.Parallel()
	const max = 4
	s := startLimitServer(t, max, max, nil, ListenerOptions{})
	legit := s.dial(t, "127.0.0.2") // connected first, request not sent yet
	require.Eventually(t, func() bool { open, _, _ := s.lim.counts(); return open == 1 },
		20*time.Second, time.Millisecond, "waiting for the server to accept")
	flood := s.idleClients(t, "127.0.0.3", 3, 0)

	fresh := s.dial(t, "127.0.0.4")
	body, err := fresh.get("/")
	require.NoError(t, err)
	require.Equal(t, "ok", body)
	require.True(t, flood[0].closedByServer(), "the heaviest source's oldest connection made room")
	body, err = legit.get("/")
	require.NoError(t, err, "the client that connected first was not the one closed")
	require.Equal(t, "ok", body)
}

// fakeConn is a net.Conn with a chosen peer address and nothing behind it.
type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { return nil }

// BenchmarkConnLimitAdmitAtLimit is the cost of an accept when the limit
// is reached and every connection comes from its own source: choosing the
// connection to close must not grow with max_connections.
func BenchmarkConnLimitAdmitAtLimit(b *testing.B) {
	const max = 4096
	l := newConnLimiter(max, 256, auth.NewProxies(nil), nil)
	addr := func(i int) net.Addr {
		return &net.TCPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 4000}
	}
	for i := range max {
		l.admit(&fakeConn{remote: addr(i)})
	}
	b.ReportAllocs()
	i := max
	for b.Loop() {
		if !l.admit(&fakeConn{remote: addr(i)}) {
			b.Fatal("refused while connections were waiting")
		}
		i++
	}
}

// BenchmarkConnLimitKeepAlive is the limiter's share of one request on a
// keep-alive connection: the server reports it active, then idle again.
// With one connection per source the source's queue empties and refills on
// every request; with four, the heaviest-source index moves between counts.
func BenchmarkConnLimitKeepAlive(b *testing.B) {
	for _, perSource := range []int{1, 4} {
		b.Run(fmt.Sprintf("per_source=%d", perSource), func(b *testing.B) {
			l := newConnLimiter(4096, 256, auth.NewProxies(nil), nil)
			var conns []net.Conn
			for i := range 256 {
				src := i / perSource
				c := &fakeConn{remote: &net.TCPAddr{IP: net.IPv4(10, 0, byte(src>>8), byte(src)), Port: 4000 + i}}
				if !l.admit(c) {
					b.Fatal("refused below the limit")
				}
				l.connState(c, http.StateIdle)
				conns = append(conns, c)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := conns[i%len(conns)]
				l.connState(c, http.StateActive)
				l.connState(c, http.StateIdle)
				i++
			}
		})
	}
}

// closeConn is a fakeConn that records being closed.
type closeConn struct {
	fakeConn
	closed bool
}

func (c *closeConn) Close() error { c.closed = true; return nil }

// TestConnLimitBookkeepingMatchesModel drives the limiter through random
// accepts and state changes and checks, after each, its queues and its
// heaviest-source index against a plain model: which connections wait, in
// what order, and that a connection closed to make room was a legal choice.
func TestConnLimitBookkeepingMatchesModel(t *testing.T) {
	t.Parallel()
	const maxConns, perSource = 9, 3
	proxy := netip.MustParseAddr("10.0.0.9")
	l := newConnLimiter(maxConns, perSource, auth.NewProxies([]netip.Prefix{netip.PrefixFrom(proxy, 32)}), nil)
	type mconn struct {
		c       *closeConn
		key     netip.Prefix
		exempt  bool
		waiting bool
		idle    bool
		since   int // when it began to wait
	}
	var open []*mconn
	step := 0
	waitingOf := func(key netip.Prefix) (ws []*mconn) {
		for _, m := range open {
			if m.waiting && m.key == key {
				ws = append(ws, m)
			}
		}
		slices.SortFunc(ws, func(a, b *mconn) int { return a.since - b.since })
		return ws
	}
	heaviest := func() int {
		n := 0
		for _, m := range open {
			n = max(n, len(waitingOf(m.key)))
		}
		return n
	}
	// legal reports whether closing m to make room at the total limit
	// was allowed: the oldest waiting connection of a heaviest source.
	legal := func(m *mconn) bool {
		ws := waitingOf(m.key)
		return len(ws) > 0 && ws[0] == m && len(ws) == heaviest()
	}
	drop := func(m *mconn) { open = slices.DeleteFunc(open, func(o *mconn) bool { return o == m }) }
	check := func() {
		t.Helper()
		nopen, idle, waiting := l.counts()
		wantIdle, wantWaiting := 0, 0
		for _, m := range open {
			if m.waiting {
				wantWaiting++
				if m.idle {
					wantIdle++
				}
			}
		}
		require.Equal(t, [3]int{len(open), wantIdle, wantWaiting}, [3]int{nopen, idle, waiting}, "step %d", step)
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, m := range open {
			var got []net.Conn
			for tc := l.sources[m.key].oldest(); tc != nil; tc = tc.next {
				got = append(got, tc.conn)
			}
			var want []net.Conn
			for _, w := range waitingOf(m.key) {
				want = append(want, w.c)
			}
			require.Equal(t, want, got, "step %d: waiting queue of %s", step, m.key)
		}
		require.Len(t, l.sources, len(func() map[netip.Prefix]bool {
			keys := map[netip.Prefix]bool{}
			for _, m := range open {
				keys[m.key] = true
			}
			return keys
		}()), "step %d: a source without connections is forgotten", step)
		require.Equal(t, heaviest(), l.heaviest, "step %d", step)
		if v := l.heaviestClosable(); v != nil {
			var m *mconn
			for _, o := range open {
				if o.c == v.conn {
					m = o
				}
			}
			require.True(t, legal(m), "step %d: heaviestClosable", step)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step = range 20000 {
		if len(open) == 0 || rng.IntN(3) == 0 {
			ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(5 + rng.IntN(5))}) // 10.0.0.9 is the proxy
			c := &closeConn{fakeConn: fakeConn{remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 4000))}}
			m := &mconn{c: c, key: netip.PrefixFrom(ip, 32), exempt: ip == proxy, waiting: true, since: step}
			own := 0
			for _, o := range open {
				if o.key == m.key && !o.exempt {
					own++
				}
			}
			before := slices.Clone(open)
			ok := l.admit(c)
			var victims []*mconn
			for _, o := range before {
				if o.c.closed {
					victims = append(victims, o)
				}
			}
			if !m.exempt && own >= perSource {
				ws := waitingOf(m.key)
				if len(ws) == 0 {
					require.False(t, ok, "step %d: refused at the per-source limit with none waiting", step)
					require.Empty(t, victims)
					require.True(t, c.closed)
					check()
					continue
				}
				require.NotEmpty(t, victims, "step %d", step)
				require.Same(t, ws[0], victims[0], "step %d: the source's own oldest waiting one", step)
				drop(victims[0])
				victims = victims[1:]
			}
			if len(open) >= maxConns {
				if heaviest() == 0 {
					require.False(t, ok, "step %d: refused at the limit with none waiting", step)
					require.Empty(t, victims)
					require.True(t, c.closed)
					check()
					continue
				}
				require.Len(t, victims, 1, "step %d", step)
				require.True(t, legal(victims[0]), "step %d: closed to make room", step)
				drop(victims[0])
				victims = victims[1:]
			}
			require.True(t, ok, "step %d", step)
			require.Empty(t, victims, "step %d: nothing else closed", step)
			open = append(open, m)
			check()
			continue
		}
		m := open[rng.IntN(len(open))]
		switch rng.IntN(4) {
		case 0:
			l.connState(m.c, http.StateActive)
			m.waiting, m.idle = false, false
		case 1, 2:
			l.connState(m.c, http.StateIdle)
			m.waiting, m.idle, m.since = true, true, step
		case 3:
			l.connState(m.c, http.StateClosed)
			drop(m)
		}
		check()
	}
}
