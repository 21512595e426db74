package callback

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/intelgate/intelgate/internal/buildinfo"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/retryafter"
	"github.com/intelgate/intelgate/internal/tlspolicy"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// Options configure a Deliverer. Zero values take the defaults named.
type Options struct {
	// RootCAs verifies receivers' certificates (nil: the system roots).
	RootCAs *x509.CertPool
	// Resolver resolves host names (nil: net.DefaultResolver). Whatever
	// it answers, the dialer checks the address it connects to.
	Resolver *net.Resolver

	DialTimeout           time.Duration // 5s
	TLSHandshakeTimeout   time.Duration // 5s
	ResponseHeaderTimeout time.Duration // 10s
	// Timeout bounds one attempt, from dial to the end of the response
	// (15s).
	Timeout time.Duration
	// MaxResponseBytes of a response body are read (so the connection can
	// be reused) and discarded; past them the connection is closed
	// (64 KiB).
	MaxResponseBytes int64

	// Retry is DeliverWithRetries' schedule.
	Retry RetryPolicy
	// Clock signs timestamps, stamps Records and times the waits between
	// attempts (nil: the system clock).
	Clock clock.Clock
	// Rand is the jitter source, uniform in [0, 1) (nil: math/rand/v2).
	Rand func() float64
}

// RetryPolicy is DeliverWithRetries' schedule: full-jitter backoff from
// Base doubling to Max between attempts, and a receiver's Retry-After
// (on 429 or 5xx) honoured up to MaxRetryAfter.
type RetryPolicy struct {
	MaxAttempts   int           // 5
	Base          time.Duration // 1s
	Max           time.Duration // 1m
	MaxRetryAfter time.Duration // 5m
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DialTimeout, 5*time.Second)
	def(&o.TLSHandshakeTimeout, 5*time.Second)
	def(&o.ResponseHeaderTimeout, 10*time.Second)
	def(&o.Timeout, 15*time.Second)
	def(&o.Retry.Base, time.Second)
	def(&o.Retry.Max, time.Minute)
	def(&o.Retry.MaxRetryAfter, 5*time.Minute)
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 64 << 10
	}
	if o.Retry.MaxAttempts <= 0 {
		o.Retry.MaxAttempts = 5
	}
	o.Clock = clock.Or(o.Clock)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}

// Deliverer sends callbacks. It is safe for concurrent use; Close drops
// its idle connections.
type Deliverer struct {
	o         Options
	userAgent string
	// Two connection pools, so that a connection one client's
	// AllowPrivate let through is never reused for a client without it.
	public, private *http.Transport
}

// New returns a Deliverer.
func New(o Options) *Deliverer {
	o = o.withDefaults()
	return &Deliverer{
		o:         o,
		userAgent: "intelgate-callbacks/" + buildinfo.Version(),
		public:    newTransport(o, false),
		private:   newTransport(o, true),
	}
}

func newTransport(o Options, allowPrivate bool) *http.Transport {
	d := &net.Dialer{
		Timeout:        o.DialTimeout,
		KeepAlive:      30 * time.Second,
		Resolver:       o.Resolver,
		ControlContext: guard(allowPrivate),
	}
	return &http.Transport{
		Proxy:       nil, // a proxy would connect for us, past the guard
		DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion:   tlspolicy.MinVersion,
			CipherSuites: tlspolicy.CipherSuites(),
			RootCAs:      o.RootCAs,
		},
		TLSHandshakeTimeout:    o.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  o.ResponseHeaderTimeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
		DisableCompression:     true, // the body is discarded
	}
}

// Close drops idle connections.
func (d *Deliverer) Close() {
	d.public.CloseIdleConnections()
	d.private.CloseIdleConnections()
}

// Outcome is what an attempt means for the delivery.
type Outcome string

const (
	Delivered Outcome = "delivered" // a 2xx
	Retryable Outcome = "retryable" // worth another attempt later
	Permanent Outcome = "permanent" // another attempt would fail the same way
)

// Class is what happened, for the record and for metrics.
type Class string

const (
	ClassDelivered Class = "delivered" // 2xx
	ClassStatus    Class = "status"    // a non-2xx, non-3xx status (Record.Status)
	ClassRedirect  Class = "redirect"  // 3xx, not followed
	ClassRefused   Class = "refused"   // the policy refused the URL or the address
	ClassTimeout   Class = "timeout"   // dial, handshake, headers or the attempt's Timeout
	ClassTLS       Class = "tls"       // handshake or certificate failure
	ClassNetwork   Class = "network"   // DNS, connection refused or reset, …
	ClassCanceled  Class = "canceled"  // the caller's context ended
	ClassInvalid   Class = "invalid"   // nothing to send: no key, or an id that cannot be signed
)

// Record is one attempt, for the job's delivery history. It never holds
// the URL, the signing secret or the receiver's response body.
type Record struct {
	Attempt    int // 1 for Deliver; DeliverWithRetries numbers them
	At         time.Time
	Duration   time.Duration
	Outcome    Outcome
	Class      Class
	Status     int           // the HTTP status, 0 when none was received
	RetryAfter time.Duration // the receiver's Retry-After, uncapped; 0 when none
	Detail     string        // what happened, in words safe to show the client
}

// AttemptError is a failed attempt. It unwraps to the *TargetError of a
// refused target, or the context's error of a canceled one.
type AttemptError struct {
	Record Record
	cause  error
}

func (e *AttemptError) Error() string {
	return fmt.Sprintf("callback attempt %d not delivered: %s", e.Record.Attempt, e.Record.Detail)
}

func (e *AttemptError) Unwrap() error { return e.cause }

// Deliver makes one signed attempt to POST body to target: webhook-id id
// (the receiver deduplicates on it, so it must be the same for every
// attempt of a delivery) and webhook-timestamp now, signed with key. The
// error is nil exactly when the Record's Outcome is Delivered, else an
// *AttemptError.
func (d *Deliverer) Deliver(ctx context.Context, target string, policy Policy, key webhooksig.Key, id string, body []byte) (Record, error) {
	return d.attempt(ctx, 1, target, policy, key, id, body)
}

func (d *Deliverer) attempt(ctx context.Context, n int, target string, policy Policy, key webhooksig.Key, id string, body []byte) (Record, error) {
	start := d.o.Clock.Now()
	rec := Record{Attempt: n, At: start}
	finish := func(class Class, outcome Outcome, detail string, cause error) (Record, error) {
		rec.Duration = d.o.Clock.Now().Sub(start)
		rec.Class, rec.Outcome, rec.Detail = class, outcome, detail
		if outcome == Delivered {
			return rec, nil
		}
		return rec, &AttemptError{Record: rec, cause: cause}
	}

	t, err := policy.target(target)
	if err != nil {
		return finish(ClassRefused, Permanent, err.Error(), err)
	}
	if key == (webhooksig.Key{}) {
		return finish(ClassInvalid, Permanent, "no signing key", nil)
	}
	headers, err := key.Sign(id, start, body)
	if err != nil {
		return finish(ClassInvalid, Permanent, err.Error(), nil) // names the id, never the key
	}

	actx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, t.url.String(), bytes.NewReader(body))
	if err != nil {
		return finish(ClassInvalid, Permanent, "building the request failed", nil)
	}
	req.Host = t.host
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.userAgent)

	tr := d.public
	if policy.AllowPrivate {
		tr = d.private
	}
	// The transport, not an http.Client: it never follows a redirect, and
	// its errors do not quote the URL.
	resp, err := tr.RoundTrip(req)
	if err != nil {
		class, detail, cause := classifyErr(ctx, err)
		outcome := Retryable
		if class == ClassRefused || class == ClassCanceled {
			outcome = Permanent
		}
		return finish(class, outcome, detail, cause)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, d.o.MaxResponseBytes))
	_ = resp.Body.Close()

	s := resp.StatusCode
	rec.Status = s
	switch {
	case s >= 200 && s < 300:
		return finish(ClassDelivered, Delivered, fmt.Sprintf("the receiver answered %d", s), nil)
	case s >= 300 && s < 400:
		return finish(ClassRedirect, Permanent, fmt.Sprintf("the receiver answered %d, a redirect, which is not followed", s), nil)
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		if wait, ok := retryafter.Parse(resp.Header.Get("Retry-After"), d.o.Clock.Now()); ok {
			rec.RetryAfter = wait
		}
		return finish(ClassStatus, Retryable, fmt.Sprintf("the receiver answered %d", s), nil)
	default:
		return finish(ClassStatus, Permanent, fmt.Sprintf("the receiver answered %d", s), nil)
	}
}

// classifyErr turns a transport error into a class and words of our own:
// the transport's words hold addresses, and a url.Error the URL.
func classifyErr(ctx context.Context, err error) (Class, string, error) {
	var (
		te   *TargetError
		dns  *net.DNSError
		ne   net.Error
		cert *tls.CertificateVerificationError
		alrt tls.AlertError
		rhe  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &te):
		return ClassRefused, te.Error(), te
	case ctx.Err() != nil:
		return ClassCanceled, "the delivery was canceled", context.Cause(ctx)
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return ClassNetwork, "the host name does not resolve", nil
		}
		if dns.IsTimeout {
			return ClassTimeout, "resolving the host name timed out", nil
		}
		return ClassNetwork, "resolving the host name failed", nil
	case errors.As(err, &cert):
		return ClassTLS, "the receiver's certificate did not verify", nil
	case errors.As(err, &alrt), errors.As(err, &rhe):
		return ClassTLS, "the TLS handshake failed", nil
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout, "the receiver did not answer in time", nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassNetwork, "the connection was refused", nil
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassNetwork, "the connection was closed before the response", nil
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ClassNetwork, "the host is unreachable", nil
	}
	return ClassNetwork, "the connection failed", nil
}
