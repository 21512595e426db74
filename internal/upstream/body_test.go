package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// response is an in-memory 200 application/json answer. contentLength
// is what the headers claim; -1 for none.
func response(body string, contentLength int64) *http.Response {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		ContentLength: contentLength,
		Body:          io.NopCloser(strings.NewReader(body)),
	}
}

func TestReadBodyLimits(t *testing.T) {
	t.Parallel()
	big := jsonOfSize(exactReadMax + 10) // past the exact-read bound: pooled path
	tests := []struct {
		name          string
		body          string
		contentLength int64
		maxBytes      int64
		kind          Kind   // "" for success
		detail        string // substring of the failure's detail
	}{
		{name: "declared length", body: `{"a":1}`, contentLength: 7},
		{name: "unknown length", body: `{"a":1}`, contentLength: -1},
		{name: "exactly the cap, declared", body: jsonOfSize(50), contentLength: 50, maxBytes: 50},
		{name: "exactly the cap, unknown", body: jsonOfSize(50), contentLength: -1, maxBytes: 50},
		{name: "declared over the cap", body: jsonOfSize(51), contentLength: 51, maxBytes: 50,
			kind: KindTooLarge, detail: "exceeds the 50-byte limit"},
		{name: "unknown over the cap", body: jsonOfSize(51), contentLength: -1, maxBytes: 50,
			kind: KindTooLarge, detail: "exceeds the 50-byte limit"},
		{name: "claims less than it sends", body: `{"a":1}  `, contentLength: 7,
			kind: KindMalformed, detail: "longer than its Content-Length"},
		{name: "claims more than it sends", body: `{"a":1}`, contentLength: 20,
			kind: KindConnect, detail: "connection closed early"},
		{name: "large declared", body: big, contentLength: int64(len(big))},
		{name: "large declared, over the cap", body: big, contentLength: int64(len(big)), maxBytes: int64(len(big) - 1),
			kind: KindTooLarge},
		{name: "empty", body: "", contentLength: 0, kind: KindMalformed, detail: "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, Options{MaxResponseBytes: tc.maxBytes})
			body, e := c.judge(t.Context(), response(tc.body, tc.contentLength), Validation{})
			if tc.kind == "" {
				require.Nil(t, e)
				require.Equal(t, tc.body, string(body))
				require.Equal(t, len(body), cap(body), "the body is exactly sized, so no append can reach beyond it")
				return
			}
			require.NotNil(t, e)
			require.Nil(t, body)
			require.Equal(t, tc.kind, e.Kind, e.Detail)
			require.Contains(t, e.Detail, tc.detail)
		})
	}
}

// TestBodyNeverAliasesAPooledBuffer: an answer read through a pooled
// buffer is handed out as a copy, so the next answer read into the same
// buffer cannot change it.
func TestBodyNeverAliasesAPooledBuffer(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	first, e := c.judge(t.Context(), response(`{"first":"aaaaaaaaaaaaaaaa"}`, -1), Validation{})
	require.Nil(t, e)
	for range 100 { // the pool hands the same buffer back to this goroutine, usually at once
		_, e := c.judge(t.Context(), response(`{"other":"bbbbbbbbbbbbbbbb"}`, -1), Validation{})
		require.Nil(t, e)
		_, e = c.judge(t.Context(), response(`{"a":`, -1), Validation{}) // refused: buffer returned early
		require.NotNil(t, e)
	}
	require.Equal(t, `{"first":"aaaaaaaaaaaaaaaa"}`, string(first))
}

// TestPooledWalkerForgetsTheBody: a pooled I-JSON walker keeps no pointer
// into the last answer it checked.
func TestPooledWalkerForgetsTheBody(t *testing.T) {
	w := walkerPool.Get().(*ijsonWalker)
	w.body = []byte(`{"a":{"b":1},"c":2}`)
	require.Empty(t, w.value())
	w.release()
	require.Nil(t, w.body)
	for _, n := range w.names[:cap(w.names)] {
		require.Nil(t, n)
	}
}

// TestReadLimited never reads past its limit, whatever the reader offers.
func TestReadLimited(t *testing.T) {
	t.Parallel()
	r := strings.NewReader(strings.Repeat("x", 100))
	b, err := readLimited(r, make([]byte, 0, 8), 30)
	require.NoError(t, err)
	require.Len(t, b, 30)
	require.Equal(t, 70, r.Len(), "nothing read beyond the limit")

	b, err = readLimited(strings.NewReader("short"), nil, 30)
	require.NoError(t, err)
	require.Equal(t, "short", string(b))

	_, err = readLimited(io.MultiReader(strings.NewReader("ab"), errReader{}), nil, 30)
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestPhaseOnlyMovesForward: a late hook (a dial that outlived its call, or
// a retry's dial after the request was written) cannot make a call look as
// if it never reached the upstream.
func TestPhaseOnlyMovesForward(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	require.Equal(t, phaseStart, tr.current())
	tr.set(phaseConnect)
	tr.trace.TLSHandshakeStart()
	require.Equal(t, phaseTLS, tr.current())
	tr.trace.GotConn(httptrace.GotConnInfo{})
	require.Equal(t, phaseAwaitHeaders, tr.current())
	tr.set(phaseConnect)
	tr.trace.TLSHandshakeStart()
	require.Equal(t, phaseAwaitHeaders, tr.current())
}

func TestRequestURIRefused(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	req, err := http.NewRequest(http.MethodGet, "https://api.example.test/v1/resolve", nil)
	require.NoError(t, err)
	req.RequestURI = "/v1/resolve"
	_, err = c.Do(context.Background(), req, Validation{})
	requireKind(t, err, KindRejected)
}

// TestURLUserinfoBecomesBasicAuth, as http.Client would do it, without
// touching the caller's headers.
func TestURLUserinfoBecomesBasicAuth(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	srv := httptestPlain(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Authorization")
		okJSON(w, r)
	}))
	c := newClient(t, Options{})
	req, err := http.NewRequest(http.MethodGet, strings.Replace(srv.URL, "http://", "http://user:pa55word@", 1), nil)
	require.NoError(t, err)
	_, err = c.Do(t.Context(), req, Validation{})
	require.NoError(t, err)
	require.Equal(t, "Basic dXNlcjpwYTU1d29yZA==", <-seen)
	require.Empty(t, req.Header, "the caller's request is not modified")
}
