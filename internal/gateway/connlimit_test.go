package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
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
