package provider

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/upstream"
)

// testKey contains characters that escape differently in a header, a query
// and a path, so every redaction form is exercised.
const testKey = "k3y+/=s3cr3t"

// fakeDoer records each request and answers with a canned response or error.
type fakeDoer struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	vals   []upstream.Validation
	resp   *upstream.Response
	err    error
	// answer, when set, decides the reply from the validation the provider
	// asked for, the way the real transport does.
	answer func(v upstream.Validation) (*upstream.Response, error)
}

func (f *fakeDoer) Do(ctx context.Context, req *http.Request, v upstream.Validation) (*upstream.Response, error) {
	var body string
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = string(b)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	f.bodies = append(f.bodies, body)
	f.vals = append(f.vals, v)
	if f.answer != nil {
		return f.answer(v)
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.resp != nil {
		return f.resp, nil
	}
	return &upstream.Response{Status: http.StatusOK, Body: []byte(`{}`)}, nil
}

// only returns the single recorded request, failing if there is not exactly one.
func (f *fakeDoer) only(t *testing.T) (*http.Request, string, upstream.Validation) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.reqs, 1, "requests sent upstream")
	return f.reqs[0], f.bodies[0], f.vals[0]
}

func (f *fakeDoer) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// render writes a request as "METHOD URL", sorted "Name: value" header lines
// and, after a blank line, the body — with the key shown as {key} so a
// golden file states exactly where the key goes.
func render(req *http.Request, body, key string) string {
	var b strings.Builder
	b.WriteString(req.Method + " " + req.URL.String() + "\n")
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range req.Header[name] {
			b.WriteString(name + ": " + v + "\n")
		}
	}
	if body != "" {
		b.WriteString("\n" + body + "\n")
	}
	out := b.String()
	for _, form := range keyForms(key) {
		out = strings.ReplaceAll(out, form, "{key}")
	}
	return out
}
