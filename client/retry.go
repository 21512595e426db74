package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/intelgate/intelgate/internal/backoff"
	"github.com/intelgate/intelgate/internal/retryafter"
)

// reply is a successful (2xx) answer, fully read.
type reply struct {
	header http.Header
	body   []byte
}

// verdict says whether a failed attempt may be retried and after how long.
type verdict struct {
	retry bool
	// wait is the server's Retry-After, already capped at MaxWait; valid
	// only when fromServer is set, else the backoff decides.
	wait       time.Duration
	fromServer bool
}

// request is one call to the gateway, the same whatever the attempt.
type request struct {
	method string // "" is GET
	path   string // below the base URL; elements already path-escaped
	query  url.Values
	header http.Header // extra headers (markings, Idempotency-Key)
	accept string      // "" is JSON
	// contentType and body are the request body's, if any; body opens it
	// once per attempt.
	contentType string
	body        requestBody
}

// get sends GET {base}/{path}?{query} until it succeeds, fails in a way not
// worth retrying, runs out of attempts, or would have to wait past ctx's
// deadline. GET is idempotent, so resending after a connection failure is
// safe.
func (c *Client) get(ctx context.Context, path string, query url.Values) (*reply, error) {
	return c.getWith(ctx, path, query, nil)
}

// getWith is get with extra request headers (markings).
func (c *Client) getWith(ctx context.Context, path string, query url.Values, header http.Header) (*reply, error) {
	return c.send(ctx, request{path: path, query: query, header: header})
}

// send sends rq with get's retry policy. Only idempotent requests may come
// here: a GET, or a POST carrying an Idempotency-Key (SubmitJob always
// sends one), whose resending the gateway answers with what the first
// sending created.
func (c *Client) send(ctx context.Context, rq request) (*reply, error) {
	u := c.base.JoinPath(rq.path)
	u.RawQuery = rq.query.Encode()
	target := u.String()
	for n := 1; ; n++ {
		var payload io.Reader
		if rq.body != nil {
			p, err := rq.body.open(ctx)
			if err != nil {
				return nil, err
			}
			payload = p
		}
		rep, v, err := c.attempt(ctx, rq, target, payload)
		if err == nil {
			return rep, nil
		}
		if !v.retry || n >= c.maxAttempts || ctx.Err() != nil {
			return nil, err
		}
		if rq.body != nil {
			// Before waiting: a body that cannot be sent again ends the
			// call now, with the answer that would have been retried.
			if rerr := rq.body.rewind(ctx); rerr != nil {
				return nil, fmt.Errorf("not retrying: %w: %w", rerr, err)
			}
		}
		wait := v.wait
		if !v.fromServer {
			wait = c.backoff(n)
		}
		if deadline, ok := ctx.Deadline(); ok && !c.now().Add(wait).Before(deadline) {
			return nil, fmt.Errorf("not retrying: waiting %s would pass the context deadline: %w", wait, err)
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%w (stopped waiting to retry: %w)", err, serr)
		}
	}
}

// attempt sends the request once.
func (c *Client) attempt(ctx context.Context, rq request, target string, payload io.Reader) (*reply, verdict, error) {
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, target, payload)
	if err != nil {
		return nil, verdict{}, fmt.Errorf("building request: %w", err)
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	accept := rq.accept
	if accept == "" {
		accept = "application/json, application/problem+json"
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, verdict{retry: ctx.Err() == nil && transient(err)}, withoutQuery(err, req.URL)
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
	}()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBytes+1))
		if err != nil {
			return nil, verdict{}, fmt.Errorf("reading response from %s: %w", stripQuery(resp.Request.URL), err)
		}
		if len(body) > maxSuccessBytes {
			return nil, verdict{}, fmt.Errorf("response larger than %d bytes", maxSuccessBytes)
		}
		return &reply{header: resp.Header, body: body}, verdict{}, nil
	}

	ra, hasRA := retryafter.Parse(resp.Header.Get("Retry-After"), c.now())
	e := errorFromResponse(resp, ra)
	v := verdict{retry: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable}
	if hasRA {
		v.wait, v.fromServer = retryafter.Cap(ra, c.maxWait), true
	}
	return nil, v, e
}

// backoff is the wait before retry n (n ≥ 1) when the gateway gave no
// Retry-After: uniform in [0, min(backoffMax, base·2^(n-1), maxWait)).
// Full jitter spreads clients that failed together.
//
// The law is the gateway's own (internal/backoff), so an SDK and a gateway
// that failed together spread their retries the same way.
func (c *Client) backoff(n int) time.Duration {
	return backoff.Jitter(backoff.Ceiling(c.backoffBase, min(c.backoffMax, c.maxWait), n), c.rand())
}

// transient reports whether err is a connection failure that happened before
// any response arrived, so resending the idempotent request (a GET, or a
// job submission under its Idempotency-Key) is safe and may succeed:
// refused or reset connections, a peer closing early, dial timeouts and
// temporary DNS failures. TLS verification failures, refused redirects
// and response-header timeouts are not retried: repeating them only delays
// the same answer.
func transient(err error) bool {
	if errors.Is(err, errCrossOriginRedirect) {
		return false
	}
	for _, target := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, target) {
			return true
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" && op.Timeout() {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) && (dns.IsTemporary || dns.IsTimeout)
}
