package gateway

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/auth"
)

// connLimiter bounds open inbound connections, in total and per source
// (IPv4 address, IPv6 /64). Held idle keep-alive connections cost the
// gateway memory and file descriptors but serve nobody, so when a limit is
// reached the limiter closes the connection that has waited longest — an
// idle keep-alive connection, or one that has not sent a request since it
// was accepted (StateNew) — to serve the new client; at the total limit it
// takes that connection from the source holding the most waiting ones
// (heaviestClosable). Only when every connection is busy with a request is
// the new one refused (closed at once). A request in flight is not cut off
// to make room — except in the instant between a connection being chosen as
// waiting and a request arriving on it, which the server cannot tell us
// about atomically; that client sees its connection closed and retries.
//
// It sees connections twice: at Accept (limitListener, below TLS, so the
// http.Server still gets the *tls.Conn it needs), and through the server's
// ConnState hook, which tells it which are idle. Connections are tracked by
// identity — the net.Conn Accept returned, recovered from a *tls.Conn with
// NetConn — never by wrapping them, which would hide the TCP connection's
// optional methods from the server.
type connLimiter struct {
	max, perSource int
	proxies        auth.Proxies
	log            *slog.Logger
	now            func() time.Time

	mu    sync.Mutex
	conns map[net.Conn]*trackedConn
	// sources holds, per source, its connection counts and the queue of
	// its closable connections (sourceConns). An entry lives while the
	// source has a tracked connection, so a keep-alive connection turning
	// active and idle again only relinks nodes it already has.
	sources map[netip.Prefix]*sourceConns
	// buckets[n] holds the sources with n connections waiting, oldest to
	// reach n first, and heaviest is the largest n with a source, so the
	// source to take room from is found in constant time however many
	// connections are open: the choice is made on every accept at the
	// limit, under mu. buckets[0] is unused; the slice grows to the most
	// connections one source has had waiting, and stays.
	buckets  []sourceBucket
	heaviest int
	nwaiting int // connections waiting, all sources
	idle     int // how many of them are StateIdle (for tests and logs)
	// Refusals and closes since the last log line: a flood of
	// connections must not become a flood of log lines.
	refused, closed int
	lastLog         time.Time
}

// sourceConns is one source's state. Its waiting queue holds the source's
// closable connections in the order they began to wait: StateNew ones from
// their accept (nothing sent yet, or a request header not yet complete),
// StateIdle ones from the end of their last answer. Head is oldest. Active
// connections are not in it. The queue and the bucket lists are intrusive
// (links in trackedConn and sourceConns), so changing a connection's state
// allocates nothing.
type sourceConns struct {
	key        netip.Prefix
	tracked    int // connections of this source, exempt or not
	limited    int // of them, those counted against the per-source limit
	nwaiting   int
	head, tail *trackedConn // waiting queue
	// prev and next link the sources in buckets[nwaiting].
	prev, next *sourceConns
}

// sourceBucket is a list of sources with the same number waiting.
type sourceBucket struct{ head, tail *sourceConns }

type trackedConn struct {
	conn    net.Conn
	src     *sourceConns
	exempt  bool // from the per-source limit
	waiting bool // in src's waiting queue; false while active
	idle    bool // waiting after an answer (StateIdle), not since accept
	// prev and next link the connection in src's waiting queue.
	prev, next *trackedConn
}

// connLogEvery bounds the limiter's log lines.
const connLogEvery = time.Minute

func newConnLimiter(max, perSource int, proxies auth.Proxies, log *slog.Logger) *connLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &connLimiter{max: max, perSource: perSource, proxies: proxies, log: log, now: time.Now,
		conns: make(map[net.Conn]*trackedConn), sources: make(map[netip.Prefix]*sourceConns)}
}

// peerSource is a connection's source key. exempt: trusted proxies (every
// client behind a proxy shares its address, so a per-source cap would cap
// them all together) and peers without an IP address (nothing to tell
// them apart by); both still count towards the total.
func (l *connLimiter) peerSource(c net.Conn) (key netip.Prefix, exempt bool) {
	var addr netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		addr = ta.AddrPort().Addr().Unmap().WithZone("")
	}
	if !addr.IsValid() {
		return netip.Prefix{}, true
	}
	return sourceKey(addr), l.proxies.Trusts(addr)
}

// admit registers c, first closing a waiting connection if a limit is
// reached, and reports whether c may be served.
func (l *connLimiter) admit(c net.Conn) bool {
	key, exempt := l.peerSource(c)
	var victims []net.Conn
	ok := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !exempt && l.sources[key].limitedCount() >= l.perSource {
			// Only this source's own connections make room for it: one
			// source must not push out everyone else's keep-alives.
			v := l.sources[key].oldest()
			if v == nil {
				return false
			}
			victims = append(victims, v.conn)
			l.forget(v)
		}
		if len(l.conns) >= l.max {
			v := l.heaviestClosable()
			if v == nil {
				return false
			}
			victims = append(victims, v.conn)
			l.forget(v)
		}
		src := l.sources[key]
		if src == nil {
			src = &sourceConns{key: key}
			l.sources[key] = src
		}
		src.tracked++
		if !exempt {
			src.limited++
		}
		t := &trackedConn{conn: c, src: src, exempt: exempt}
		l.list(t, false)
		l.conns[c] = t
		return true
	}()
	for _, v := range victims {
		_ = v.Close()
	}
	l.note(!ok, len(victims))
	if !ok {
		_ = c.Close()
	}
	return ok
}

// limitedCount is how many of the source's connections count against the
// per-source limit (0 for a nil source: one with no connection).
func (s *sourceConns) limitedCount() int {
	if s == nil {
		return 0
	}
	return s.limited
}

// oldest is the source's longest-waiting connection, or nil (also for a
// nil source: one with no connection).
func (s *sourceConns) oldest() *trackedConn {
	if s == nil {
		return nil
	}
	return s.head
}

// heaviestClosable is the longest-waiting connection of a source that
// holds the most waiting connections. Making room at the total limit from
// whoever holds most means a flood from a few sources closes its own
// connections first, not a client that has just connected and is still in
// its handshake; FIFO across everyone would let any source that keeps
// opening connections close other people's.
func (l *connLimiter) heaviestClosable() *trackedConn {
	if l.heaviest == 0 {
		return nil
	}
	return l.buckets[l.heaviest].head.oldest()
}

// list puts t at the back of its source's waiting queue; the caller holds mu.
func (l *connLimiter) list(t *trackedConn, idle bool) {
	s := l.unbucket(t.src)
	t.prev, t.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = t
	} else {
		s.head = t
	}
	s.tail = t
	s.nwaiting++
	t.waiting, t.idle = true, idle
	l.nwaiting++
	if idle {
		l.idle++
	}
	l.bucket(s)
}

func (l *connLimiter) unlist(t *trackedConn) {
	if !t.waiting {
		return
	}
	s := l.unbucket(t.src)
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		s.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		s.tail = t.prev
	}
	t.prev, t.next = nil, nil
	s.nwaiting--
	l.nwaiting--
	if t.idle {
		l.idle--
	}
	t.waiting, t.idle = false, false
	l.bucket(s)
}

// unbucket takes s out of the bucket for its waiting count, before the
// count changes, and returns it; the caller holds mu.
func (l *connLimiter) unbucket(s *sourceConns) *sourceConns {
	if s.nwaiting == 0 {
		return s
	}
	b := &l.buckets[s.nwaiting]
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		b.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		b.tail = s.prev
	}
	s.prev, s.next = nil, nil
	return s
}

// bucket puts s at the back of the bucket for its waiting count, after the
// count changed by one, and moves heaviest with it; the caller holds mu.
func (l *connLimiter) bucket(s *sourceConns) {
	if n := s.nwaiting; n > 0 {
		for len(l.buckets) <= n {
			l.buckets = append(l.buckets, sourceBucket{})
		}
		b := &l.buckets[n]
		s.prev = b.tail
		if b.tail != nil {
			b.tail.next = s
		} else {
			b.head = s
		}
		b.tail = s
		if n > l.heaviest {
			l.heaviest = n
		}
	}
	for l.heaviest > 0 && l.buckets[l.heaviest].head == nil {
		l.heaviest--
	}
}

// forget stops tracking t; the caller holds mu.
func (l *connLimiter) forget(t *trackedConn) {
	l.unlist(t)
	delete(l.conns, t.conn)
	s := t.src
	s.tracked--
	if !t.exempt {
		s.limited--
	}
	if s.tracked == 0 {
		delete(l.sources, s.key)
	}
}

// connState is the http.Server ConnState hook. Events for a connection the
// limiter no longer tracks (it closed it to make room) are ignored.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.conns[c]
	if t == nil {
		return
	}
	switch state {
	case http.StateActive:
		l.unlist(t)
	case http.StateIdle:
		l.unlist(t)
		l.list(t, true)
	case http.StateClosed, http.StateHijacked:
		l.forget(t)
	}
}

// note counts refusals and closes, and logs them at most once per
// connLogEvery, with the counts since the last line.
func (l *connLimiter) note(refused bool, closed int) {
	if !refused && closed == 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	if refused {
		l.refused++
	}
	l.closed += closed
	if now.Sub(l.lastLog) < connLogEvery {
		l.mu.Unlock()
		return
	}
	r, c, open := l.refused, l.closed, len(l.conns)
	l.refused, l.closed, l.lastLog = 0, 0, now
	l.mu.Unlock()
	l.log.Warn("connection limit reached: closing idle connections to serve new ones, refusing when none is idle",
		"event", "connection_limit", "refused", r, "closed_idle", c, "open", open,
		"max_connections", l.max, "max_connections_per_source", l.perSource)
}

// counts reports tracked connections: open, idle (StateIdle) and waiting
// (idle or not yet sent a request). For tests.
func (l *connLimiter) counts() (open, idle, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.idle, l.nwaiting
}

// limitListener admits accepted connections through a connLimiter. A
// refused connection is closed and Accept waits for the next: refusing one
// client is not an error of the listener.
type limitListener struct {
	net.Listener
	lim *connLimiter
}

func (ll limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ll.lim.admit(c) {
			return c, nil
		}
	}
}
