package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/retryafter"
)

// errOverallTimeout is the cause of our own deadline, so a timeout can say
// whether it was the configured limit or the caller's deadline.
// It wraps context.DeadlineExceeded: an upstream that runs out its
// timeout is a failure (the breaker counts it), never a cancellation.
var errOverallTimeout = fmt.Errorf("upstream call exceeded its overall timeout: %w", context.DeadlineExceeded)

// maxDrain bounds how much of an error response we read to let the
// connection be reused; more than that, and closing it is cheaper.
const maxDrain = 64 << 10

// Do sends req and returns a validated Response or an *Error. It sets
// Accept and User-Agent when absent and never follows redirects. The caller's
// req is not modified.
func (c *Client) Do(ctx context.Context, req *http.Request, v Validation) (*Response, error) {
	if err := checkTarget(req); err != nil {
		return nil, redact(err, req, v)
	}
	if ctx.Err() != nil {
		// Do not touch the network for a caller that has already gone.
		return nil, redact(c.classify(ctx, phaseStart, ctx.Err()), req, v)
	}
	// Our own timer, not context.WithTimeout: that one arms no timer when
	// the parent reports an earlier deadline, and a coalesced call's parent
	// reports its waiters' deadlines without enforcing them.
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.timeout, func() { cancel(errOverallTimeout) })
	defer func() {
		timer.Stop()
		cancel(nil)
	}()
	tr := &tracker{}
	out := req.Clone(httptrace.WithClientTrace(ctx, tr.clientTrace()))
	if out.Header.Get("Accept") == "" {
		out.Header.Set("Accept", "application/json")
	}
	if out.Header.Get("User-Agent") == "" {
		out.Header.Set("User-Agent", c.userAgent)
	}

	resp, err := c.http.Do(out)
	if err != nil {
		return nil, redact(c.classify(ctx, tr.current(), err), req, v)
	}
	defer resp.Body.Close()
	tr.set(phaseBody)
	if ctx.Err() != nil {
		// A response that races our own deadline is not trusted: the
		// transport half-closes the connection on cancel, and the upstream
		// may answer that (an empty 200 from a handler that saw EOF) before
		// the client notices its own timeout. It is a timeout.
		return nil, redact(c.classify(ctx, phaseAwaitHeaders, context.Cause(ctx)), req, v)
	}

	body, uerr := c.judge(ctx, resp, v)
	if uerr != nil {
		return nil, redact(uerr, req, v)
	}
	res := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	res.ExhaustedFor, _ = retryafter.Exhausted(resp.Header, c.now())
	return res, nil
}

// judge applies the status, content-type, size and JSON rules, in that
// order: the cheap header checks first, so a wrong answer is not read.
func (c *Client) judge(ctx context.Context, resp *http.Response, v Validation) ([]byte, *Error) {
	if e := c.statusError(resp, v); e != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil, e
	}
	if e := checkContentType(resp.Header); e != nil {
		return nil, e
	}
	body, e := c.readBody(ctx, resp)
	if e != nil {
		return nil, e
	}
	if e := checkJSONObject(body); e != nil {
		return nil, e
	}
	if e := checkIJSON(body); e != nil {
		return nil, e
	}
	if v.Schema != nil {
		if e := checkSchema(v.Schema, body); e != nil {
			return nil, e
		}
	}
	return body, nil
}

// statusError maps a non-success status to its Kind; nil means 2xx.
// StatusText is used rather than resp.Status, whose reason phrase is
// upstream-controlled text.
func (c *Client) statusError(resp *http.Response, v Validation) *Error {
	code := resp.StatusCode
	notFound := v.NotFoundStatus
	if len(notFound) == 0 {
		notFound = []int{http.StatusNotFound}
	}
	status := fmt.Sprintf("%d %s", code, http.StatusText(code))
	switch {
	case slices.Contains(notFound, code):
		// A "no data" answer usually spends quota too, so it carries the
		// same proactive pause hint as a success.
		hint, _ := retryafter.Exhausted(resp.Header, c.now())
		return &Error{Kind: KindNotFound, Status: code, RetryAfter: hint,
			Detail: "upstream has no data for this query (" + status + ")"}
	case code == http.StatusOK || code == http.StatusCreated || code == http.StatusNonAuthoritativeInfo:
		return nil
	case code >= 200 && code <= 299:
		// 204 has no body to validate, 206 is a partial body (we never
		// send Range): neither is a complete answer.
		return &Error{Kind: KindRejected, Status: code, Detail: "upstream answered " + status + ", not a complete JSON answer"}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &Error{Kind: KindAuth, Status: code, Detail: "upstream refused the gateway's credentials (" + status + ")"}
	case code == http.StatusTooManyRequests:
		return &Error{Kind: KindRateLimited, Status: code, RetryAfter: c.retryAfter(resp),
			Detail: "upstream rate limit reached (" + status + ")"}
	case code >= 300 && code <= 399:
		return &Error{Kind: KindRejected, Status: code,
			Detail: "upstream answered with a redirect (" + status + "); redirects are refused"}
	case code >= 500 && code <= 599:
		e := &Error{Kind: KindUpstream, Status: code, Detail: "upstream server error (" + status + ")"}
		if code == http.StatusServiceUnavailable {
			e.RetryAfter = c.retryAfter(resp)
		}
		return e
	default:
		return &Error{Kind: KindRejected, Status: code, Detail: "upstream rejected the request (" + status + ")"}
	}
}

// retryAfter reads every "slow down" signal an upstream may send with a 429
// or 503: Retry-After first, then the IETF and X- rate-limit headers.
func (c *Client) retryAfter(resp *http.Response) time.Duration {
	d, _ := retryafter.FromHeaders(resp.Header, c.now())
	return d
}

// readBody reads at most maxBytes+1 bytes so that "exactly the cap" and
// "over the cap" are told apart without buffering an unbounded body. Over
// the cap nothing is returned: a truncated JSON object must never be used.
func (c *Client) readBody(ctx context.Context, resp *http.Response) ([]byte, *Error) {
	tooLarge := &Error{Kind: KindTooLarge, Status: resp.StatusCode,
		Detail: fmt.Sprintf("response body exceeds the %d-byte limit", c.maxBytes)}
	if resp.ContentLength > c.maxBytes {
		return nil, tooLarge
	}
	limit := c.maxBytes
	if limit < math.MaxInt64 {
		limit++
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, c.classify(ctx, phaseBody, err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, tooLarge
	}
	return body, nil
}

// checkTarget refuses requests that could leak a key: anything but https,
// except plain http to a loopback host (a local sidecar or a test server,
// where no network carries the key).
func checkTarget(req *http.Request) *Error {
	if req == nil || req.URL == nil {
		return &Error{Kind: KindRejected, Detail: "no request URL"}
	}
	switch req.URL.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(req.URL.Hostname()) {
			return nil
		}
		return &Error{Kind: KindRejected, Detail: "refusing plaintext http to a non-loopback host; use https"}
	default:
		return &Error{Kind: KindRejected, Detail: "unsupported URL scheme; use https"}
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact is the last line of defence behind "errors never carry secrets".
// A Detail reaches clients, who know their own indicator, so it is withheld
// only when it holds credential material: v.Secret (the key, in the forms
// it takes on the wire), a credential-bearing header's value or token, or
// URL userinfo — and, when the caller named no secrets, any query value,
// since one of them may be a key. A cause (Err) reaches logs only, where
// indicators are kept out by default, so it is withheld when it holds any
// request material at all. The classifiers above already avoid such text;
// this catches what a future standard-library message might add.
func redact(e *Error, req *http.Request, v Validation) *Error {
	if req == nil || req.URL == nil {
		return e
	}
	credentials := credentialMaterial(req, v.Secret)
	query := queryMaterial(req)
	detailBars := credentials
	if v.Secret == "" {
		detailBars = append(slices.Clone(credentials), query...)
	}
	if containsAny(e.Detail, detailBars) {
		e.Detail = "[detail withheld: it contained credential material]"
	}
	if e.Err != nil && containsAny(e.Err.Error(), append(credentials, query...)) {
		e.Err = errors.New("[cause withheld: it contained request material]")
	}
	return e
}

// benignHeaders never carry credentials; their values ("application/json")
// would otherwise withhold innocent details.
var benignHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true,
	"Content-Type": true, "Content-Length": true, "User-Agent": true,
}

// minSecretLen skips short values ("1", "ip") that would match innocently.
const minSecretLen = 6

// credentialMaterial is what in req is, or may be, a credential: the
// secret in its wire forms (whatever its length: it is known to be one),
// URL userinfo and the values (and each token, e.g. the key after
// "Bearer ") of every header that is not known benign.
func credentialMaterial(req *http.Request, secret string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecretLen {
			out = append(out, s)
		}
	}
	if secret != "" {
		out = append(out, secret, url.QueryEscape(secret), url.PathEscape(secret))
	}
	if pw, ok := req.URL.User.Password(); ok {
		add(pw)
	}
	for name, vs := range req.Header {
		if benignHeaders[http.CanonicalHeaderKey(name)] {
			continue
		}
		for _, v := range vs {
			add(v)
			for _, f := range strings.Fields(v) {
				add(f)
			}
		}
	}
	return out
}

// queryMaterial is the query string and each of its values.
func queryMaterial(req *http.Request) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecretLen {
			out = append(out, s)
		}
	}
	add(req.URL.RawQuery)
	if q, err := url.ParseQuery(req.URL.RawQuery); err == nil {
		for _, vs := range q {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
