package gateway

import (
	"container/list"
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

	mu       sync.Mutex
	conns    map[net.Conn]*trackedConn
	bySource map[netip.Prefix]int
	// waiting holds each source's closable connections in the order they
	// began to wait: StateNew ones from their accept (nothing sent yet, or
	// a request header not yet complete), StateIdle ones from the end of
	// their last answer. Front is oldest. Active connections are not in it.
	waiting map[netip.Prefix]*list.List
	// byWaiting indexes sources by how many connections they have waiting,
	// and heaviest is the largest such count, so the source to take room
	// from is found in constant time however many connections are open: the
	// choice is made on every accept at the limit, under mu.
	byWaiting map[int]map[netip.Prefix]struct{}
	heaviest  int
	nwaiting  int // connections waiting, all sources
	idle      int // how many of them are StateIdle (for tests and logs)
	// Refusals and closes since the last log line: a flood of
	// connections must not become a flood of log lines.
	refused, closed int
	lastLog         time.Time
}

type trackedConn struct {
	conn   net.Conn
	source netip.Prefix
	exempt bool          // from the per-source limit
	el     *list.Element // in waiting; nil while active
	idle   bool          // waiting after an answer (StateIdle), not since accept
}

// connLogEvery bounds the limiter's log lines.
const connLogEvery = time.Minute

func newConnLimiter(max, perSource int, proxies auth.Proxies, log *slog.Logger) *connLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &connLimiter{max: max, perSource: perSource, proxies: proxies, log: log, now: time.Now,
		conns: make(map[net.Conn]*trackedConn), bySource: make(map[netip.Prefix]int),
		waiting: make(map[netip.Prefix]*list.List), byWaiting: make(map[int]map[netip.Prefix]struct{})}
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
		if !exempt && l.bySource[key] >= l.perSource {
			// Only this source's own connections make room for it: one
			// source must not push out everyone else's keep-alives.
			v := l.oldestOf(key)
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
		t := &trackedConn{conn: c, source: key, exempt: exempt}
		l.list(t, false)
		l.conns[c] = t
		if !exempt {
			l.bySource[key]++
		}
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

// oldestOf is the longest-waiting connection of source, or nil.
func (l *connLimiter) oldestOf(source netip.Prefix) *trackedConn {
	q := l.waiting[source]
	if q == nil || q.Len() == 0 {
		return nil
	}
	return q.Front().Value.(*trackedConn)
}

// heaviestClosable is the longest-waiting connection of a source that
// holds the most waiting connections. Making room at the total limit from
// whoever holds most means a flood from a few sources closes its own
// connections first, not a client that has just connected and is still in
// its handshake; FIFO across everyone would let any source that keeps
// opening connections close other people's.
func (l *connLimiter) heaviestClosable() *trackedConn {
	for src := range l.byWaiting[l.heaviest] {
		return l.oldestOf(src)
	}
	return nil
}

// list puts t at the back of its source's waiting queue; the caller holds mu.
func (l *connLimiter) list(t *trackedConn, idle bool) {
	q := l.waiting[t.source]
	if q == nil {
		q = list.New()
		l.waiting[t.source] = q
	}
	t.el, t.idle = q.PushBack(t), idle
	l.nwaiting++
	if idle {
		l.idle++
	}
	l.reindex(t.source, q.Len()-1, q.Len())
}

// reindex moves source from the byWaiting bucket of from to that of to.
func (l *connLimiter) reindex(source netip.Prefix, from, to int) {
	if b := l.byWaiting[from]; b != nil {
		delete(b, source)
		if len(b) == 0 {
			delete(l.byWaiting, from)
		}
	}
	if to > 0 {
		if l.byWaiting[to] == nil {
			l.byWaiting[to] = make(map[netip.Prefix]struct{})
		}
		l.byWaiting[to][source] = struct{}{}
	}
	if to > l.heaviest {
		l.heaviest = to
	}
	for l.heaviest > 0 && len(l.byWaiting[l.heaviest]) == 0 {
		l.heaviest--
	}
}

// forget stops tracking t; the caller holds mu.
func (l *connLimiter) forget(t *trackedConn) {
	l.unlist(t)
	delete(l.conns, t.conn)
	if !t.exempt {
		if l.bySource[t.source]--; l.bySource[t.source] <= 0 {
			delete(l.bySource, t.source)
		}
	}
}

func (l *connLimiter) unlist(t *trackedConn) {
	if t.el == nil {
		return
	}
	q := l.waiting[t.source]
	q.Remove(t.el)
	l.nwaiting--
	if t.idle {
		l.idle--
	}
	t.el, t.idle = nil, false
	l.reindex(t.source, q.Len()+1, q.Len())
	if q.Len() == 0 {
		delete(l.waiting, t.source)
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
