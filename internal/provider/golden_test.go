package provider

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

var update = flag.Bool("update", false, "rewrite the request and result sections of testdata/golden/*.txtar")

// TestGolden runs each testdata/golden/*.txtar: a provider config snippet,
// a lookup and a recorded upstream response (shapes from the vendors'
// public docs) in; the exact outbound request and the Result out.
//
// Sections: provider.yaml, lookup ("TYPE VALUE [UPSTREAM_TYPE]"), response
// (status line, then body), request and result (expected; -update rewrites
// them).
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txtar"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			ar := parseArchive(raw)

			cfg := goldenConfig(t, ar.section(t, "provider.yaml"))
			req := goldenLookup(t, ar.section(t, "lookup"))
			doer := goldenDoer(t, ar.section(t, "response"))

			p, err := NewWithDoer(strings.TrimSuffix(filepath.Base(file), ".txtar"), cfg, doer)
			require.NoError(t, err)
			require.True(t, p.Supports(req.Indicator.Type), "fixture's type is one the provider supports")
			res, err := p.Lookup(context.Background(), req, secret.NewValue(testKey))
			require.NoError(t, err)
			sent, body, _ := doer.only(t)

			gotRequest := render(sent, body, testKey)
			gotResult := "not_found\n"
			if !res.NotFound {
				gotResult = "ok\n" + string(res.Data) + "\n"
			}
			if *update {
				ar.set("request", gotRequest)
				ar.set("result", gotResult)
				require.NoError(t, os.WriteFile(file, ar.format(), 0o644))
				return
			}
			require.Equal(t, ar.section(t, "request"), gotRequest)
			require.Equal(t, ar.section(t, "result"), gotResult)
		})
	}
}

// goldenConfig decodes the provider snippet strictly. Only fields with
// plain YAML types appear in fixtures, so the test does not depend on
// config.Load (secrets, durations) to run.
func goldenConfig(t *testing.T, snippet string) *config.Provider {
	t.Helper()
	var c struct {
		Kind    string              `yaml:"kind"`
		BaseURL string              `yaml:"base_url"`
		Types   []indicator.Type    `yaml:"types"`
		Request *config.HTTPRequest `yaml:"request"`
	}
	dec := yaml.NewDecoder(strings.NewReader(snippet))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	return &config.Provider{Kind: c.Kind, BaseURL: c.BaseURL, Types: c.Types, Request: c.Request}
}

func goldenLookup(t *testing.T, line string) Request {
	t.Helper()
	f := strings.Fields(line)
	require.True(t, len(f) == 2 || len(f) == 3, "lookup: TYPE VALUE [UPSTREAM_TYPE]")
	req := Request{Indicator: indicator.Indicator{Raw: f[1], Value: f[1], Type: indicator.Type(f[0])}}
	if len(f) == 3 {
		req.UpstreamType = f[2]
	}
	return req
}

// goldenDoer answers like the real transport on a valid JSON response:
// 2xx is returned, a not-found status becomes KindNotFound.
func goldenDoer(t *testing.T, section string) *fakeDoer {
	t.Helper()
	statusLine, rest, _ := strings.Cut(section, "\n")
	status, err := strconv.Atoi(strings.TrimSpace(statusLine))
	require.NoError(t, err, "response: first line is the status")
	body := []byte(strings.TrimSpace(rest))
	return &fakeDoer{answer: func(v upstream.Validation) (*upstream.Response, error) {
		notFound := v.NotFoundStatus
		if len(notFound) == 0 {
			notFound = []int{http.StatusNotFound}
		}
		switch {
		case slices.Contains(notFound, status):
			return nil, &upstream.Error{Kind: upstream.KindNotFound, Status: status, Detail: "no data"}
		case status >= 200 && status < 300:
			return &upstream.Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, nil
		}
		return nil, &upstream.Error{Kind: upstream.KindRejected, Status: status, Detail: "unexpected status"}
	}}
}

// archive is a minimal txtar: a comment, then "-- name --" sections.
type archive struct {
	comment string
	names   []string
	data    map[string]string
}

func parseArchive(b []byte) *archive {
	ar := &archive{data: map[string]string{}}
	cur := ""
	var buf strings.Builder
	flush := func() {
		if cur == "" {
			ar.comment = buf.String()
		} else {
			ar.names = append(ar.names, cur)
			ar.data[cur] = buf.String()
		}
		buf.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			flush()
			cur = strings.TrimSpace(trimmed[3 : len(trimmed)-3])
			continue
		}
		buf.WriteString(line)
	}
	flush()
	return ar
}

func (ar *archive) section(t *testing.T, name string) string {
	t.Helper()
	s, ok := ar.data[name]
	require.True(t, ok || *update, "section %q missing", name)
	return s
}

func (ar *archive) set(name, value string) {
	if _, ok := ar.data[name]; !ok {
		ar.names = append(ar.names, name)
	}
	ar.data[name] = value
}

func (ar *archive) format() []byte {
	var b bytes.Buffer
	b.WriteString(ar.comment)
	for _, n := range ar.names {
		b.WriteString("-- " + n + " --\n" + ar.data[n])
	}
	return b.Bytes()
}
