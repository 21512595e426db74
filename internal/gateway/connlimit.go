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
	// waiting holds the closable connections in the order they began to
	// wait: StateNew ones from their accept (nothing sent yet, or a
	// request header not yet complete), StateIdle ones from the end of
	// their last answer. Front is oldest. Active connections are not in it.
	waiting list.List
	idle    int // how many of waiting are StateIdle (for tests and logs)
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
		conns: make(map[net.Conn]*trackedConn), bySource: make(map[netip.Prefix]int)}
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
			v := l.oldestClosable(func(t *trackedConn) bool { return t.source == key && !t.exempt })
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
		t.el = l.waiting.PushBack(t)
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

// oldestClosable is the longest-waiting connection that matches. A linear
// scan: it runs only when a limit is reached, over at most max_connections
// entries, and usually stops at the first.
func (l *connLimiter) oldestClosable(match func(*trackedConn) bool) *trackedConn {
	for el := l.waiting.Front(); el != nil; el = el.Next() {
		if t := el.Value.(*trackedConn); match(t) {
			return t
		}
	}
	return nil
}

// heaviestClosable is the longest-waiting connection of the source that
// holds the most waiting connections. Making room at the total limit from
// whoever holds most means a flood from a few sources closes its own
// connections first, not a client that has just connected and is still in
// its handshake; FIFO across everyone would let any source that keeps
// opening connections close other people's. A scan of at most
// max_connections entries, run only when the limit is reached.
func (l *connLimiter) heaviestClosable() *trackedConn {
	counts := make(map[netip.Prefix]int)
	var heaviest netip.Prefix
	most := 0
	for el := l.waiting.Front(); el != nil; el = el.Next() {
		t := el.Value.(*trackedConn)
		counts[t.source]++
		if counts[t.source] > most {
			heaviest, most = t.source, counts[t.source]
		}
	}
	if most == 0 {
		return nil
	}
	return l.oldestClosable(func(t *trackedConn) bool { return t.source == heaviest })
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
	l.waiting.Remove(t.el)
	if t.idle {
		l.idle--
	}
	t.el, t.idle = nil, false
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
		t.el, t.idle = l.waiting.PushBack(t), true
		l.idle++
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
	return len(l.conns), l.idle, l.waiting.Len()
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
