// Package deploy_test checks the ecosystem files under deploy/: each file is
// parsed and held to what docs/deployment.md promises, and, where the tool is
// installed, checked by the tool that will consume it (promtool,
// systemd-analyze). Metric names in the alerting rules and the dashboard are
// checked against the metric set intelgate builds and against a scrape of a
// running gateway (live_test.go), so a renamed metric breaks this package,
// not someone's on-call night.
//
// External tools: promtool (Debian package "prometheus") and systemd-analyze
// (package "systemd"). Without them their checks skip, saying so; with
// INTELGATE_TEST_REQUIRE_PROMTOOL=1 a missing promtool fails instead.
package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/monitor"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopLiveGateway()
	os.Exit(code)
}

// deployDir is this package's directory: the tests read the files beside
// them, whatever the working directory.
func deployDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Dir(file)
}

// repoPath is a path relative to the repository root.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(deployDir(t), "..", filepath.FromSlash(rel))
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, rel))
	require.NoError(t, err)
	return b
}

// decodeYAML decodes a repository file strictly enough to catch a file that
// is not the YAML it claims to be: one document, into v.
func decodeYAML(t *testing.T, rel string, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readRepoFile(t, rel)))
	require.NoError(t, dec.Decode(v), rel)
}

// promtool returns promtool's path, or skips (fails with
// INTELGATE_TEST_REQUIRE_PROMTOOL=1) when it is not installed.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("INTELGATE_TEST_REQUIRE_PROMTOOL") == "1" {
		t.Fatal("promtool is not on PATH and INTELGATE_TEST_REQUIRE_PROMTOOL=1: install the Debian package \"prometheus\" (apt-get install --no-install-recommends prometheus)")
	}
	t.Skip("promtool is not on PATH: install the Debian package \"prometheus\" to run this check (INTELGATE_TEST_REQUIRE_PROMTOOL=1 makes it mandatory)")
	return ""
}

// run runs a command in dir with a test-sized timeout and returns its
// combined output; a failure fails the test with that output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, dir, name, args...)
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return out
}

func runErr(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyFiles copies repository files into dir under their base names.
func copyFiles(t *testing.T, dir string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(rel)), readRepoFile(t, rel), 0o600))
	}
}

// describedMetrics is every metric name intelgate's metric set can export
// (monitor.New, which the gateway uses): the descriptors of every collector
// on its registry, whether or not a series exists yet.
func describedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() {
		monitor.New(monitor.Options{Providers: []string{"p"}}).Registry().Describe(ch)
		close(ch)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		require.NotNil(t, m, "descriptor without a name: %s", d)
		names[m[1]] = true
	}
	require.True(t, names["intelgate_http_requests_total"], "the metric set has no intelgate_http_requests_total: the descriptor format changed?")
	return names
}

// metricRef is one metric name a PromQL expression reads.
type metricRef struct{ name, expr string }

// promqlMetrics returns the metric names expr reads: identifiers outside
// string literals and label matchers that name intelgate's, Go's, the
// process's or Prometheus's own series. Function names, label names and
// keywords never start with those prefixes.
func promqlMetrics(expr string) []string {
	var names []string
	for _, tok := range promqlIdents(expr) {
		if isMetricName(tok) && !slices.Contains(names, tok) {
			names = append(names, tok)
		}
	}
	return names
}

func isMetricName(tok string) bool {
	for _, p := range []string{"intelgate_", "go_", "process_", "promhttp_"} {
		if strings.HasPrefix(tok, p) {
			return true
		}
	}
	return tok == "up"
}

// promqlIdents splits expr into identifiers, skipping string literals
// ("…", '…', `…`), numbers and durations (5m, 1e3), and the insides of
// {…} label matchers (label names only; their values are strings).
func promqlIdents(expr string) []string {
	var out []string
	depth := 0
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '{':
			depth++
			i++
		case c == '}':
			depth--
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(expr) && (isIdentByte(expr[j]) || expr[j] == '.') {
				j++
			}
			i = j
		case isIdentByte(c) || c == ':':
			j := i
			for j < len(expr) && (isIdentByte(expr[j]) || expr[j] == ':') {
				j++
			}
			if depth == 0 {
				out = append(out, expr[i:j])
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func TestPromQLMetricNames(t *testing.T) {
	t.Parallel()
	got := promqlMetrics(`sum by (provider, le) (rate(intelgate_x_bucket{route="intelgate_not_a_metric", job=~"$job"}[5m]))
		/ on (instance) group_left up{job='intelgate'} > 1e3 and go_goroutines offset 10m`)
	require.Equal(t, []string{"intelgate_x_bucket", "up", "go_goroutines"}, got)
}

// requireMetricsExist fails for every name in refs that is not in known,
// allowing a histogram's _bucket, _sum and _count series when the
// histogram is.
func requireMetricsExist(t *testing.T, what string, refs []metricRef, known map[string]bool, histograms map[string]bool) {
	t.Helper()
	var missing []string
	for _, r := range refs {
		if known[r.name] {
			continue
		}
		base := ""
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(r.name, suffix); ok {
				base = b
			}
		}
		if base != "" && histograms[base] {
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (in %s)", r.name, r.expr))
	}
	require.Empty(t, missing, "%s reads metrics intelgate does not export", what)
}

// TestDeploymentDoc: every relative link of docs/deployment.md leads to a
// file that exists and, with an anchor, to a heading of it.
func TestDeploymentDoc(t *testing.T) {
	t.Parallel()
	doc := string(readRepoFile(t, "docs/deployment.md"))
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(doc, -1)
	require.NotEmpty(t, links)
	for _, l := range links {
		target := l[1]
		if strings.Contains(target, "://") {
			continue
		}
		path, anchor, _ := strings.Cut(target, "#")
		rel := "docs/deployment.md"
		if path != "" {
			rel = filepath.ToSlash(filepath.Clean(filepath.Join("docs", path)))
			_, err := os.Stat(repoPath(t, rel))
			require.NoError(t, err, "docs/deployment.md links to %s", target)
		}
		if anchor != "" {
			require.True(t, markdownAnchors(t, rel)[anchor], "docs/deployment.md links to %s: no such heading in %s", target, rel)
		}
	}
}
