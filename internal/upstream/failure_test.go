package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// partialBody sends headers and the start of a body, then waits for the
// client to hang up.
func partialBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "100")
	_, _ = io.WriteString(w, `{"a":`)
	http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// resetMidBody promises 100 bytes, sends 5, then resets the TCP connection
// (SO_LINGER 0) underneath TLS.
func resetMidBody(w http.ResponseWriter, _ *http.Request) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
	_ = rw.Flush()
	raw := conn.(*tls.Conn).NetConn().(*net.TCPConn)
	_ = raw.SetLinger(0)
	_ = raw.Close()
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	short := time.Second
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		opts       Options
		wantDetail string
	}{
		{"slow response headers", blockUntilGone, Options{ResponseHeaderTimeout: short, Timeout: time.Minute},
			"timed out while waiting for response headers"},
		{"overall timeout before headers", blockUntilGone, Options{Timeout: short},
			"no complete response within 1s (timed out "},
		{"overall timeout mid-body", partialBody, Options{Timeout: short},
			"no complete response within 1s (timed out while reading the response body)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startTLS(t, p.leaf, tc.handler, nil)
			tc.opts.CAFile = p.caFile
			c := newClient(t, tc.opts)
			_, err := get(t.Context(), t, c, srv.URL, Validation{})
			ue := requireKind(t, err, KindTimeout)
			require.Contains(t, ue.Detail, tc.wantDetail)
		})
	}
}

// TestTLSHandshakeTimeout: a peer that accepts TCP and never answers the
// ClientHello.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn); _ = conn.Close() }()
		}
	}()
	c := newClient(t, Options{TLSHandshakeTimeout: 150 * time.Millisecond})
	_, err = get(t.Context(), t, c, "https://"+ln.Addr().String(), Validation{})
	ue := requireKind(t, err, KindTimeout)
	require.Equal(t, "timed out during the TLS handshake", ue.Detail)
}

func TestCallerContext(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	c := newClient(t, Options{CAFile: p.caFile})
	url := startTLS(t, p.leaf, http.HandlerFunc(blockUntilGone), nil).URL

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := get(ctx, t, c, url, Validation{})
	ue := requireKind(t, err, KindTimeout)
	require.Contains(t, ue.Detail, "the caller's deadline expired ")

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	_, err = get(ctx, t, c, url, Validation{})
	requireKind(t, err, KindConnect)
	require.ErrorIs(t, err, context.Canceled)
}

func TestConnectFailures(t *testing.T) {
	t.Parallel()
	p := newPKI(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c := newClient(t, Options{CAFile: p.caFile})
	_, err = get(t.Context(), t, c, "https://"+closedAddr, Validation{})
	ue := requireKind(t, err, KindConnect)
	require.Equal(t, "connection refused while connecting", ue.Detail)
	var urlErr interface{ URL() string }
	require.False(t, errors.As(err, &urlErr))

	srv := startTLS(t, p.leaf, http.HandlerFunc(resetMidBody), nil)
	resp, err := get(t.Context(), t, c, srv.URL, Validation{})
	require.Nil(t, resp)
	ue = requireKind(t, err, KindConnect)
	require.Contains(t, ue.Detail, "while reading the response body")
}

// TestErrorsNeverContainRequestSecrets puts a key in the query string and
// in two headers and checks every failure kind's text.
func TestErrorsNeverContainRequestSecrets(t *testing.T) {
	t.Parallel()
	const key = "sk_live_9f8e7d6c5b4a3210"
	p := newPKI(t)
	now := time.Date(2026, time.November, 27, 9, 0, 0, 0, time.UTC)
	schema := compileSchema(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	tlsServer := func(h http.HandlerFunc, tweak func(*tls.Config)) string {
		return startTLS(t, p.leaf, h, tweak).URL
	}
	tests := []struct {
		name string
		base string
		opts Options
		v    Validation
		kind Kind
	}{
		{"unknown authority", tlsServer(okJSON, nil), Options{}, Validation{}, KindTLS},
		{"pin mismatch", tlsServer(okJSON, nil), Options{CAFile: p.caFile, Pins: []string{randomPin(t)}}, Validation{}, KindTLS},
		{"protocol version", tlsServer(okJSON, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }),
			Options{CAFile: p.caFile}, Validation{}, KindTLS},
		{"refused", "https://" + closedAddr, Options{}, Validation{}, KindConnect},
		{"reset mid-body", tlsServer(resetMidBody, nil), Options{CAFile: p.caFile}, Validation{}, KindConnect},
		{"header timeout", tlsServer(blockUntilGone, nil), Options{CAFile: p.caFile, ResponseHeaderTimeout: 100 * time.Millisecond}, Validation{}, KindTimeout},
		{"overall timeout", tlsServer(partialBody, nil), Options{CAFile: p.caFile, Timeout: 100 * time.Millisecond}, Validation{}, KindTimeout},
		{"too large", tlsServer(reply(200, "application/json", jsonOfSize(100)), nil), Options{CAFile: p.caFile, MaxResponseBytes: 50}, Validation{}, KindTooLarge},
		{"content type", tlsServer(reply(200, "text/"+key, `{}`), nil), Options{CAFile: p.caFile}, Validation{}, KindContentType},
		{"malformed", tlsServer(reply(200, "application/json", `{"`+key), nil), Options{CAFile: p.caFile}, Validation{}, KindMalformed},
		{"array", tlsServer(reply(200, "application/json", `["`+key+`"]`), nil), Options{CAFile: p.caFile}, Validation{}, KindMalformed},
		{"schema", tlsServer(reply(200, "application/json", `{"score":"`+key+`"}`), nil), Options{CAFile: p.caFile}, Validation{Schema: schema}, KindSchema},
		{"auth", tlsServer(reply(401, "application/json", `{"bad_key":"`+key+`"}`), nil), Options{CAFile: p.caFile}, Validation{}, KindAuth},
		{"not found", tlsServer(reply(404, "application/json", `{}`), nil), Options{CAFile: p.caFile}, Validation{}, KindNotFound},
		{"rate limited", tlsServer(reply(429, "application/json", `{}`), nil), Options{CAFile: p.caFile}, Validation{}, KindRateLimited},
		{"upstream", tlsServer(reply(500, "text/plain", key), nil), Options{CAFile: p.caFile}, Validation{}, KindUpstream},
		{"rejected", tlsServer(reply(400, "application/json", `{}`), nil), Options{CAFile: p.caFile}, Validation{}, KindRejected},
		{"redirect", tlsServer(http.RedirectHandler("https://elsewhere.test/?apikey="+key, 302).ServeHTTP, nil),
			Options{CAFile: p.caFile}, Validation{}, KindRejected},
		{"plaintext", "http://api.example.test", Options{}, Validation{}, KindRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, tc.opts)
			c.now = func() time.Time { return now }
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tc.base+"/v1/resolve?query=1.2.3.4&apikey="+key, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("X-Api-Key", key)
			_, err = c.Do(t.Context(), req, tc.v)
			ue := requireKind(t, err, tc.kind)
			for _, text := range []string{err.Error(), ue.Detail} {
				require.NotContains(t, text, key)
				require.NotContains(t, text, "apikey=")
				require.NotContains(t, text, "/v1/resolve")
			}
			for e := error(ue); e != nil; e = errors.Unwrap(e) {
				require.NotContains(t, e.Error(), key)
			}
		})
	}
}

// TestRedactBackstop: if a cause ever does carry request material, the text
// is withheld rather than leaked.
func TestRedactBackstop(t *testing.T) {
	t.Parallel()
	const key = "sk_live_9f8e7d6c5b4a3210"
	req, err := http.NewRequest(http.MethodGet, "https://api.example.test/v1/resolve?apikey="+key, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json")

	e := redact(&Error{Kind: KindConnect, Detail: "saw " + key, Err: errors.New("dial " + key)}, req, Validation{})
	require.NotContains(t, e.Error(), key)
	require.Contains(t, e.Detail, "withheld")

	kept := redact(&Error{Kind: KindContentType, Detail: "response has Content-Type text/html; want application/json"}, req, Validation{})
	require.Equal(t, "response has Content-Type text/html; want application/json", kept.Detail,
		"benign header values do not trigger redaction")
}

// TestRedactWithholdsOnlyCredentials: when the caller names the key, a
// detail that quotes the indicator (which the client sent and knows) is
// kept; one that quotes the key, in any wire form, is withheld. The cause,
// which only logs see, is withheld for either.
func TestRedactWithholdsOnlyCredentials(t *testing.T) {
	t.Parallel()
	const key = "sk_live 9f8e/7d6c"
	req, err := http.NewRequest(http.MethodGet, "https://api.example.test/v1/check?"+
		url.Values{"indicator": {"evil.example.com"}, "apikey": {key}}.Encode(), nil)
	require.NoError(t, err)
	v := Validation{Secret: key}

	e := redact(&Error{Kind: KindRejected, Detail: "no record for evil.example.com", Err: errors.New("GET ?indicator=evil.example.com")}, req, v)
	require.Equal(t, "no record for evil.example.com", e.Detail, "an indicator is not a secret")
	require.Contains(t, e.Err.Error(), "withheld", "causes go to logs: no request material at all")

	for _, form := range []string{key, url.QueryEscape(key), url.PathEscape(key)} {
		e := redact(&Error{Kind: KindRejected, Detail: "saw " + form}, req, v)
		require.Contains(t, e.Detail, "withheld", form)
		require.NotContains(t, e.Detail, form)
	}
	// Without named secrets the transport cannot tell the key parameter
	// from the indicator: both are withheld.
	e = redact(&Error{Kind: KindRejected, Detail: "no record for evil.example.com"}, req, Validation{})
	require.Contains(t, e.Detail, "withheld")
}

// lyingDeadline reports a deadline it never enforces, like a coalesced
// call's context reporting its waiters' deadlines.
type lyingDeadline struct{ context.Context }

func (lyingDeadline) Deadline() (time.Time, bool) { return time.Now().Add(10 * time.Millisecond), true }

// TestOwnTimeoutFiresWhateverTheParentReports: our timeout is armed even
// when the parent claims an earlier deadline, and it is a deadline (the
// breaker counts it), not a cancellation.
func TestOwnTimeoutFiresWhateverTheParentReports(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := startTLS(t, p.leaf, http.HandlerFunc(blockUntilGone), nil)
	c := newClient(t, Options{CAFile: p.caFile, Timeout: 200 * time.Millisecond})
	_, err := get(lyingDeadline{t.Context()}, t, c, srv.URL, Validation{})
	requireKind(t, err, KindTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, context.Canceled)
}
