package provider

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// FuzzHTTPPath checks the escaping property for any indicator: either the
// lookup is refused as unsafe, or the request stays on the base host, the
// path keeps the template's segment count, and the indicator's segment
// decodes back to exactly the indicator — it can never be read as syntax.
func FuzzHTTPPath(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "../../admin", "..", ".", "a/b", "?x=1", "#frag", "%2e%2e", "jörg",
		"//evil.example", "a\\b", "\x00", " ", "@evil.example", "%", "a;b,c"} {
		f.Add(s)
	}
	cfg := httpConfig("https://api.example.org/base", config.HTTPRequest{Path: "/v1/{indicator}/info",
		Query: map[string]string{"q": "{indicator}"}})
	f.Fuzz(func(t *testing.T, value string) {
		doer := &fakeDoer{}
		p, err := NewWithDoer("p", cfg, doer)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: value, Type: indicator.Username}}, secret.NewValue(testKey))
		if errors.Is(err, ErrUnsafeIndicator) {
			if doer.calls() != 0 {
				t.Fatal("refused lookup still sent a request")
			}
			return
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		req, _, _ := doer.only(t)
		if req.URL.Host != "api.example.org" || req.Host != "api.example.org" || req.URL.Scheme != "https" {
			t.Fatalf("request left the base host: %s", req.URL.Redacted())
		}
		segs := strings.Split(req.URL.EscapedPath(), "/")
		if len(segs) != 5 || segs[1] != "base" || segs[2] != "v1" || segs[4] != "info" {
			t.Fatalf("path shape changed: %q", req.URL.EscapedPath())
		}
		if got, err := url.PathUnescape(segs[3]); err != nil || got != value {
			t.Fatalf("segment %q decodes to %q, want %q", segs[3], got, value)
		}
		// No decoding a proxy chain may apply — percent-decoding once or
		// twice, NFKC — turns the accepted segment into a separator or a
		// dot segment.
		dec := segs[3]
		for range 3 {
			if d, err := url.PathUnescape(dec); err == nil {
				dec = d
			}
			dec = norm.NFKC.String(dec)
			if strings.ContainsAny(dec, "/\\?#;") || (strings.Contains(dec, ".") && strings.Trim(dec, ". ") == "") {
				t.Fatalf("accepted segment %q decodes to syntax %q", segs[3], dec)
			}
		}
		if got := req.URL.Query().Get("q"); got != value {
			t.Fatalf("query value %q, want %q", got, value)
		}
	})
}
