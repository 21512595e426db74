package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
)

// phase is how far a call got; it makes timeout and connection details say
// where things stopped ("during the TLS handshake").
type phase int32

const (
	phaseStart phase = iota
	phaseConnect
	phaseTLS
	phaseAwaitHeaders
	phaseBody
)

func (p phase) String() string {
	switch p {
	case phaseConnect:
		return "while connecting"
	case phaseTLS:
		return "during the TLS handshake"
	case phaseAwaitHeaders:
		return "while waiting for response headers"
	case phaseBody:
		return "while reading the response body"
	default:
		return "before connecting"
	}
}

// tracker records how far one call got. Its hooks may run on transport
// goroutines, even after Do returned: a dial the call started goes on for
// the pool's sake. So each call has its own tracker (never pooled), and the
// phase only moves forward: a late hook from such a dial, or from the
// dial of a retry after the request may already have been written, cannot
// make a call look as if it was never sent. NotSent errs towards "sent".
//
// Three hooks, set up with as few allocations as the APIs allow: the dial
// (connecting, DNS included) is seen by the transport's DialContext, which
// finds the tracker in the dial's context (see attach); the TLS handshake
// and the moment a connection is assigned through an httptrace.ClientTrace
// with just those two callbacks, which also keeps httptrace from adding
// its own net-level trace to the context.
type tracker struct {
	p     atomic.Int32
	trace httptrace.ClientTrace
}

// trackerKey is the context key under which attach stores a call's tracker.
type trackerKey struct{}

func newTracker() *tracker {
	t := &tracker{}
	t.trace.TLSHandshakeStart = func() { t.set(phaseTLS) }
	t.trace.GotConn = func(httptrace.GotConnInfo) { t.set(phaseAwaitHeaders) }
	return t
}

// attach returns ctx carrying t, for the transport's hooks and our dialer.
func (t *tracker) attach(ctx context.Context) context.Context {
	return context.WithValue(httptrace.WithClientTrace(ctx, &t.trace), trackerKey{}, t)
}

// set moves the phase forward to p; an earlier phase is ignored.
func (t *tracker) set(p phase) {
	for {
		cur := t.p.Load()
		if int32(p) <= cur || t.p.CompareAndSwap(cur, int32(p)) {
			return
		}
	}
}

func (t *tracker) current() phase { return phase(t.p.Load()) }

// trackingDialer marks the calling request as connecting before it dials.
// The transport dials with a context that keeps the request's values (but
// not its cancellation), so the tracker is found there.
func trackingDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if t, ok := ctx.Value(trackerKey{}).(*tracker); ok {
			t.set(phaseConnect)
		}
		return dial(ctx, network, addr)
	}
}

// classify turns a transport error into an *Error. The *url.Error layer is
// removed first: its text is the full request URL, query-string key
// included.
func (c *Client) classify(ctx context.Context, p phase, err error) *Error {
	e := c.classifyKind(ctx, p, err)
	e.NotSent = p < phaseAwaitHeaders
	return e
}

func (c *Client) classifyKind(ctx context.Context, p phase, err error) *Error {
	err = stripURL(err)
	switch {
	case errors.Is(context.Cause(ctx), errOverallTimeout):
		// Err is our timeout, not the transport's "context canceled".
		return &Error{Kind: KindTimeout, Err: errOverallTimeout,
			Detail: fmt.Sprintf("no complete response within %s (timed out %s)", c.timeout, p)}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Err: err, Detail: "the caller's deadline expired " + p.String()}
	case errors.Is(ctx.Err(), context.Canceled):
		return &Error{Kind: KindConnect, Err: context.Canceled, Detail: "request canceled by the caller " + p.String()}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &Error{Kind: KindTimeout, Err: err, Detail: "timed out " + p.String()}
	}
	if detail, ok := c.tlsDetail(err, p); ok {
		return &Error{Kind: KindTLS, Err: err, Detail: detail}
	}
	return &Error{Kind: KindConnect, Err: err, Detail: connectDetail(err) + " " + p.String()}
}

// tlsDetail names the TLS check that failed, so an operator knows whether
// to fix a clock, a hostname, a CA file, a pin or the server's versions.
func (c *Client) tlsDetail(err error, p phase) (string, bool) {
	var (
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		unknownCA  x509.UnknownAuthorityError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		opErr      *net.OpError
	)
	switch {
	case errors.Is(err, errPinMismatch):
		return errPinMismatch.Error(), true
	case errors.As(err, &hostErr):
		return "certificate is not valid for host " + hostErr.Host, true
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.Expired:
		return "certificate has expired or is not yet valid", true
	case errors.As(err, &invalidErr):
		return "certificate chain is not valid for server authentication", true
	case errors.As(err, &unknownCA):
		return "certificate signed by unknown authority", true
	case errors.As(err, &verifyErr):
		return "certificate verification failed", true
	case strings.Contains(err.Error(), "protocol version"):
		// Either the server's protocol_version alert or our own refusal
		// of the version it picked; crypto/tls exports neither as a type.
		return fmt.Sprintf("server does not support TLS %s or later (protocol version)", c.minVersionName), true
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &recordErr):
		return "server did not answer with TLS", true
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return "TLS handshake failed: server sent " + opErr.Err.Error(), true
	case p == phaseTLS:
		return "TLS handshake failed", true
	}
	return "", false
}

func connectDetail(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed early"
	default:
		return "connection failed"
	}
}

// stripURL drops every *url.Error layer, keeping only its cause.
func stripURL(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}
