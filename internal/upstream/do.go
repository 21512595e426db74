package upstream

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

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
	tr := newTracker()
	out := req.WithContext(tr.attach(ctx)) // shallow: URL and Header stay the caller's, read only
	out.Header = c.outboundHeader(req)

	// The transport itself, not an http.Client: a Client adds nothing we
	// use (we refuse redirects, keep no cookies, set our own timeout) and
	// clones every request's headers for a redirect that never comes.
	resp, err := c.transport.RoundTrip(out)
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
	res.ExhaustedFor = c.exhausted(resp.Header, v)
	if matchesAny(body, v.NotFoundWhen) {
		// A "no data" answer in a 2xx body: the same result as a
		// not-found status, with the same pause hint.
		return nil, &Error{Kind: KindNotFound, Status: resp.StatusCode, RetryAfter: res.ExhaustedFor,
			Detail: "upstream has no data for this query (its answer says so)"}
	}
	return res, nil
}

// exhausted is the proactive pause hint of an answer's rate-limit headers:
// the vendor's own names when v has them, else the common spellings.
func (c *Client) exhausted(h http.Header, v Validation) time.Duration {
	if r := v.RateLimit; r != nil {
		d, _ := retryafter.ExhaustedNamed(h, r.Remaining, r.Reset, r.ResetFormat, c.now())
		return d
	}
	d, _ := retryafter.Exhausted(h, c.now())
	return d
}

// outboundHeader is req's header as sent: the caller's own map when it
// already has Accept, User-Agent and no URL credentials (providers set
// them), else a copy with them added. The copy shares the caller's value
// slices: the transport only reads them.
func (c *Client) outboundHeader(req *http.Request) http.Header {
	h := req.Header
	accept, agent := h.Get("Accept") == "", h.Get("User-Agent") == ""
	basic := req.URL.User != nil && h.Get("Authorization") == ""
	if !accept && !agent && !basic {
		return h
	}
	out := make(http.Header, len(h)+3)
	maps.Copy(out, h)
	// One backing array for the added values; each slice is capped at its
	// own element so an append by anyone later cannot spill into the next.
	vals := make([]string, 0, 3)
	add := func(name, value string) {
		vals = append(vals, value)
		out[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if accept {
		add("Accept", "application/json")
	}
	if agent {
		add("User-Agent", c.userAgent)
	}
	if basic {
		// What http.Client would do with userinfo; base_url refuses
		// userinfo, so only direct users of Do can get here.
		pw, _ := req.URL.User.Password()
		add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(req.URL.User.Username()+":"+pw)))
	}
	return out
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
	body, pooled, e := c.readBody(ctx, resp)
	if pooled != nil {
		defer putBuffer(pooled)
	}
	if e != nil {
		return nil, e
	}
	if e := checkBody(body, v.Schema, v.AllowArray); e != nil {
		return nil, e
	}
	if pooled != nil {
		// body lies in a pooled buffer that the next call will reuse:
		// hand out a copy of the validated bytes, never the buffer.
		body = append(make([]byte, 0, len(body)), body...)
	}
	return body, nil
}

// checkBody applies the JSON rules: one JSON object, I-JSON, the schema.
func checkBody(body []byte, schema *jsonschema.Schema, allowArray bool) *Error {
	if e := checkJSONObject(body); e != nil && !(allowArray && isJSONArray(body)) {
		return e
	}
	if e := checkIJSON(body); e != nil {
		return e
	}
	if schema != nil {
		return checkSchema(schema, body)
	}
	return nil
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
	if code == http.StatusOK || code == http.StatusCreated || code == http.StatusNonAuthoritativeInfo {
		if !slices.Contains(notFound, code) {
			return nil // the common case, with no text to build
		}
	}
	status := strconv.Itoa(code) + " " + http.StatusText(code)
	switch {
	case slices.Contains(notFound, code):
		// A "no data" answer usually spends quota too, so it carries the
		// same proactive pause hint as a success.
		hint := c.exhausted(resp.Header, v)
		return &Error{Kind: KindNotFound, Status: code, RetryAfter: hint,
			Detail: "upstream has no data for this query (" + status + ")"}
	case code == http.StatusOK || code == http.StatusCreated || code == http.StatusNonAuthoritativeInfo:
		return nil
	case slices.Contains(v.OKStatus, code):
		// A vendor's documented success with a full body (GreyNoise
		// answers 206 when the plan hides some fields).
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
//
// A small answer whose length is declared is read straight into a slice
// of exactly that size, which the caller owns (pooled is nil). Any other is
// read into a pooled buffer (pooled, which the caller must return with
// putBuffer, error or not): the caller checks it in place and copies out
// what it keeps, so a pooled buffer never leaves this package.
func (c *Client) readBody(ctx context.Context, resp *http.Response) (body []byte, pooled *[]byte, e *Error) {
	if resp.ContentLength > c.maxBytes {
		return nil, nil, c.tooLarge(resp)
	}
	if n := resp.ContentLength; n >= 0 && n <= exactReadMax {
		// One allocation, no copy. Bounded by exactReadMax, not by the
		// cap: a declared length is only a claim, and memory should grow
		// with bytes that actually arrived.
		buf := make([]byte, n+1) // one spare byte to catch a body longer than declared
		got, err := readFull(resp.Body, buf)
		switch {
		case int64(got) > n:
			return nil, nil, &Error{Kind: KindMalformed, Status: resp.StatusCode,
				Detail: "response body is longer than its Content-Length"}
		case err != nil && err != io.EOF:
			return nil, nil, c.classify(ctx, phaseBody, err)
		case int64(got) < n:
			return nil, nil, c.classify(ctx, phaseBody, io.ErrUnexpectedEOF)
		}
		return buf[:n:n], nil, nil
	}
	limit := c.maxBytes
	if limit < math.MaxInt64 {
		limit++
	}
	pb := getBuffer()
	b, err := readLimited(resp.Body, (*pb)[:0], limit)
	*pb = b
	if err != nil {
		return nil, pb, c.classify(ctx, phaseBody, err)
	}
	if int64(len(b)) > c.maxBytes {
		return nil, pb, c.tooLarge(resp)
	}
	return b, pb, nil
}

func (c *Client) tooLarge(resp *http.Response) *Error {
	return &Error{Kind: KindTooLarge, Status: resp.StatusCode,
		Detail: "response body exceeds the " + strconv.FormatInt(c.maxBytes, 10) + "-byte limit"}
}

// checkTarget refuses requests that could leak a key: anything but https,
// except plain http to a loopback host (a local sidecar or a test server,
// where no network carries the key).
func checkTarget(req *http.Request) *Error {
	if req == nil || req.URL == nil {
		return &Error{Kind: KindRejected, Detail: "no request URL"}
	}
	if req.RequestURI != "" {
		// A server's inbound request passed on as is (http.Client refuses
		// these too): its headers are a client's, not ours to forward.
		return &Error{Kind: KindRejected, Detail: "refusing to send a server request upstream (RequestURI is set)"}
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
