package provider

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// traversalSpellings are ways an attacker spells "leave this segment":
// raw, single and double percent-encoded, backslash, Unicode compatibility
// forms, Java path parameters, query and fragment starters, controls. Each
// is refused in a path, with the reason the client is told. Shared with the
// nginx integration test.
var traversalSpellings = []struct {
	name, value, reason string
}{
	{"dot-dot-slash", "../admin", "contains '/'"},
	{"encoded slash", "..%2Fadmin", "contains '%'"},
	{"double-encoded slash", "..%252Fadmin", "contains '%'"},
	{"encoded dots", "%2e%2e/admin", "contains '%'"},
	{"half-encoded dots", ".%2e/admin", "contains '%'"},
	{"backslash", `..\admin`, `contains '\'`},
	{"encoded backslash", "..%5cadmin", "contains '%'"},
	{"overlong UTF-8 slash, encoded", "..%c0%afadmin", "contains '%'"},
	{"full-width dots and solidus", "\uff0e\uff0e\uff0fadmin", "contains '/', a path separator once Unicode-normalised (NFKC)"},
	{"full-width reverse solidus", "..\uff3cadmin", `contains '\', which many servers read as a path separator once Unicode-normalised (NFKC)`},
	{"full-width percent", "..\uff052fadmin", "contains '%', which a server that decodes twice would read as an escape once Unicode-normalised (NFKC)"},
	{"two dot leader and slash", "\u2025/admin", "contains '/'"},
	{"two dot leader alone", "\u2025", "is a dot segment ('.' or '..') once Unicode-normalised (NFKC)"},
	{"one dot leader pair", "\u2024\u2024", "is a dot segment ('.' or '..') once Unicode-normalised (NFKC)"},
	{"full-width full stop", "\uff0e", "is a dot segment ('.' or '..') once Unicode-normalised (NFKC)"},
	{"small full stop pair", "\ufe52\ufe52", "is a dot segment ('.' or '..') once Unicode-normalised (NFKC)"},
	{"Java path parameter then slash", "..;/admin", "contains ';'"},
	{"Java path parameter", "..;", "contains ';'"},
	{"dot", ".", "is a dot segment"},
	{"dot-dot", "..", "is a dot segment"},
	{"three dots", "...", "is a dot segment"},
	{"dots and a space (Windows trims)", ".. ", "is a dot segment"},
	{"slash", "a/b", "contains '/'"},
	{"question mark", "a?b", "contains '?'"},
	{"full-width question mark", "a\uff1fb", "contains '?', which ends the path once decoded once Unicode-normalised (NFKC)"},
	{"hash", "a#b", "contains '#'"},
	{"NUL", "a\x00b", "contains a control character"},
	{"newline", "a\r\nb", "contains a control character"},
	{"DEL", "a\x7fb", "contains a control character"},
	{"C1 control", "a\u0085b", "contains a control character"},
	{"invalid UTF-8 (overlong slash)", "..\xc0\xafadmin", "is not valid UTF-8"},
	{"division slash", "..\u2215admin", "contains a character that some servers map to '/'"},
	{"yen sign (code page 932 backslash)", "..\u00a5admin", `contains a character that some servers map to '\'`},
	{"a URL", "https://evil.example/x", "contains '/'"},
	{"soft hyphen after dots", "..\u00ad", "contains an invisible formatting character"},
	{"zero-width space before dots", "\u200b..", "contains an invisible formatting character"},
	{"byte order mark", "..\ufeff", "contains an invisible formatting character"},
	{"tag characters", "..\U000e0001\U000e0061", "contains an invisible formatting character"},
	{"line separator", "..\u2028", "contains an invisible formatting character"},
	{"ideographic full stops", "\u3002\u3002", "is a dot segment"},
	{"half-width ideographic full stops", "\uff61\uff61", "is a dot segment"},
}

func pathProvider(t *testing.T, doer *fakeDoer) Provider {
	t.Helper()
	p, err := NewWithDoer("p", httpConfig("https://api.example.org/api", config.HTTPRequest{Path: "/v1/user/{indicator}/info"}), doer)
	require.NoError(t, err)
	return p
}

func TestHTTPPathRefusesTraversalSpellings(t *testing.T) {
	t.Parallel()
	for _, tt := range traversalSpellings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			_, err := pathProvider(t, doer).Lookup(context.Background(),
				Request{Indicator: indicator.Indicator{Value: tt.value, Type: indicator.Username}}, secret.NewValue(testKey))
			require.ErrorIs(t, err, ErrUnsafeIndicator)
			var unsafe *UnsafeIndicatorError
			require.True(t, errors.As(err, &unsafe), "the reason travels with the error: %v", err)
			require.True(t, strings.HasPrefix(unsafe.Reason, tt.reason), "reason %q, want prefix %q", unsafe.Reason, tt.reason)
			require.Zero(t, doer.calls(), "nothing sent upstream")
			require.NotContains(t, err.Error(), testKey)
			if len(tt.value) > 3 {
				require.NotContains(t, err.Error(), tt.value, "the value is the indicator; it stays out of errors")
			}
		})
	}
}

// TestHTTPQueryPlacementIsUnaffected: the same values as query or form
// values are form-encoded, sent, and decode back to exactly the value.
func TestHTTPQueryPlacementIsUnaffected(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GET", "POST"} {
		for _, tt := range traversalSpellings {
			doer := &fakeDoer{}
			p, err := NewWithDoer("p", httpConfig("https://api.example.org", config.HTTPRequest{Method: method, Path: "/v1/check",
				Query: map[string]string{"q": "{indicator}"}}), doer)
			require.NoError(t, err)
			_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: tt.value, Type: indicator.Username}}, secret.NewValue(testKey))
			require.NoError(t, err, tt.name)
			req, body, _ := doer.only(t)
			require.Equal(t, "/v1/check", req.URL.EscapedPath(), tt.name)
			raw := req.URL.RawQuery
			if method == "POST" {
				raw = body
			}
			require.NotContains(t, raw, "/", "query-escaped: %s", tt.name)
			require.NotContains(t, raw, "#", tt.name)
			vals, err := url.ParseQuery(raw)
			require.NoError(t, err, tt.name)
			require.Equal(t, []string{tt.value}, vals["q"], tt.name)
		}
	}
}

func TestHTTPPathPlacesOrdinaryIndicators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		typ     indicator.Type
		segment string // as sent
	}{
		{"203.0.113.7", indicator.IPv4, "203.0.113.7"},
		{"2001:db8::1", indicator.IPv6, "2001:db8::1"},
		{"::ffff:192.0.2.1", indicator.IPv6, "::ffff:192.0.2.1"},
		{"evil.example", indicator.Domain, "evil.example"},
		{"xn--bcher-kva.example", indicator.Domain, "xn--bcher-kva.example"},
		{"_dmarc.example.com", indicator.Domain, "_dmarc.example.com"},
		{"d41d8cd98f00b204e9800998ecf8427e", indicator.MD5, "d41d8cd98f00b204e9800998ecf8427e"},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", indicator.SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"Bob.Smith+tag@example.org", indicator.Email, "Bob.Smith+tag@example.org"},
		{"+442079460958", indicator.Phone, "+442079460958"},
		{"jane.doe", indicator.Username, "jane.doe"},
		{"a..b", indicator.Username, "a..b"},
		{".hidden", indicator.Username, ".hidden"},
		{"~user_name-1", indicator.Username, "~user_name-1"},
		{"jörg", indicator.Username, "j%C3%B6rg"},
		{"\uff4a\uff41\uff4e\uff45", indicator.Username, "%EF%BD%8A%EF%BD%81%EF%BD%8E%EF%BD%85"}, // full-width letters: sent as given
		{"a&b=c,d!$'()*", indicator.Username, "a&b=c%2Cd%21$%27%28%29%2A"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			_, err := pathProvider(t, doer).Lookup(context.Background(),
				Request{Indicator: indicator.Indicator{Value: tt.value, Type: tt.typ}}, secret.NewValue(testKey))
			require.NoError(t, err)
			req, _, _ := doer.only(t)
			require.Equal(t, "/api/v1/user/"+tt.segment+"/info", req.URL.EscapedPath())
			require.Equal(t, "https://api.example.org/api/v1/user/"+tt.segment+"/info", req.URL.String(), "net/url did not re-encode RawPath")
			got, err := url.PathUnescape(tt.segment)
			require.NoError(t, err)
			require.Equal(t, tt.value, got)
		})
	}
}

func TestUnsafeIndicatorErrorMatchesTheSentinel(t *testing.T) {
	t.Parallel()
	err := error(&UnsafeIndicatorError{Reason: "contains '/', a path separator"})
	require.ErrorIs(t, err, ErrUnsafeIndicator)
	require.Equal(t, "indicator cannot be placed in a path segment: it contains '/', a path separator", err.Error())
	require.NotErrorIs(t, errors.New("other"), ErrUnsafeIndicator)
}
