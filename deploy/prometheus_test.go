package deploy_test

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ruleFile is alerts.yml as Prometheus reads it.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         *string           `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTests is alerts_test.yml as promtool reads it.
type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertRules holds every rule of alerts.yml to the file's conventions
// and checks every metric it reads is one the gateway's metric set can
// export — runs everywhere, no promtool needed.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	decodeYAML(t, "deploy/prometheus/alerts.yml", &rf)
	anchors := markdownAnchors(t, "docs/operations.md")
	known := describedMetrics(t)
	known["up"] = true // written by Prometheus for every target
	sc := liveScrape(t)
	for name := range sc.samples {
		known[name] = true
	}

	seen := map[string]bool{}
	var refs []metricRef
	for _, g := range rf.Groups {
		require.NotEmpty(t, g.Rules, "group %s", g.Name)
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s: only alerting rules belong in alerts.yml (record %q)", g.Name, r.Record)
			require.False(t, seen[r.Alert], "alert %s defined twice", r.Alert)
			seen[r.Alert] = true
			require.NotNil(t, r.For, "%s: no for: (write for: 0m to fire at once)", r.Alert)
			require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], "%s: severity label", r.Alert)
			for _, a := range []string{"summary", "description", "runbook_url"} {
				require.NotEmpty(t, r.Annotations[a], "%s: annotation %s", r.Alert, a)
			}
			u, err := url.Parse(r.Annotations["runbook_url"])
			require.NoError(t, err, r.Alert)
			require.True(t, strings.HasSuffix(u.Path, "/docs/operations.md"), "%s: runbook_url %s points outside docs/operations.md", r.Alert, u)
			require.True(t, anchors[u.Fragment], "%s: runbook_url anchor #%s is no heading of docs/operations.md", r.Alert, u.Fragment)
			names := promqlMetrics(r.Expr)
			require.NotEmpty(t, names, "%s reads no metric", r.Alert)
			for _, n := range names {
				refs = append(refs, metricRef{n, r.Alert})
			}
		}
	}
	require.NotEmpty(t, seen)
	requireMetricsExist(t, "alerts.yml", refs, known, sc.histograms())
}

// TestAlertRulesHaveUnitTests: every rule has a promtool case that expects
// it to fire and one that expects it silent, and the test file tests only
// rules that exist.
func TestAlertRulesHaveUnitTests(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	decodeYAML(t, "deploy/prometheus/alerts.yml", &rf)
	var rt ruleTests
	decodeYAML(t, "deploy/prometheus/alerts_test.yml", &rt)
	require.Equal(t, []string{"alerts.yml"}, rt.RuleFiles)

	fires, silent := map[string]int{}, map[string]int{}
	for _, tc := range rt.Tests {
		for _, a := range tc.AlertRuleTests {
			if len(a.ExpAlerts) == 0 {
				silent[a.Alertname]++
				continue
			}
			fires[a.Alertname]++
			for _, e := range a.ExpAlerts {
				require.NotEmpty(t, e.ExpLabels["severity"], "%s at %s: expected alert without its severity", a.Alertname, a.EvalTime)
			}
		}
	}
	defined := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			defined[r.Alert] = true
			require.Positive(t, fires[r.Alert], "%s: no case in alerts_test.yml where it fires", r.Alert)
			require.Positive(t, silent[r.Alert], "%s: no case in alerts_test.yml where it stays silent", r.Alert)
		}
	}
	for name := range fires {
		require.True(t, defined[name], "alerts_test.yml tests %s, which alerts.yml does not define", name)
	}
	for name := range silent {
		require.True(t, defined[name], "alerts_test.yml tests %s, which alerts.yml does not define", name)
	}
}

// TestAlertRulesPromtool: Prometheus accepts the rules, and every unit test
// passes (each rule fires and stays silent where the test says).
func TestAlertRulesPromtool(t *testing.T) {
	t.Parallel()
	pt := promtool(t)
	dir := t.TempDir()
	copyFiles(t, dir, "deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml")
	out := run(t, dir, pt, "check", "rules", "alerts.yml")
	require.Contains(t, out, "SUCCESS")
	out = run(t, dir, pt, "test", "rules", "alerts_test.yml")
	require.Contains(t, out, "SUCCESS")
}

// scrapeConfig is the part of prometheus.yml the checks read.
type scrapeConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		Scheme        string `yaml:"scheme"`
		Authorization *struct {
			Type            string `yaml:"type"`
			Credentials     string `yaml:"credentials"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestPrometheusConfig: both scrape variants are there — metrics_listen
// without credentials, the main listener over https with a Bearer token read
// from a file (never inline) — the rules are loaded, and job names match the
// rules' up{job=~"intelgate.*"}. With promtool, the whole file is checked,
// rules included, with the token file pointed at a temporary one.
func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	var pc scrapeConfig
	decodeYAML(t, "deploy/prometheus/prometheus.yml", &pc)
	require.Equal(t, []string{"alerts.yml"}, pc.RuleFiles)
	var plain, bearer int
	tokenFile := ""
	for _, sc := range pc.ScrapeConfigs {
		require.True(t, strings.HasPrefix(sc.JobName, "intelgate"), "job %s: alerts.yml matches job=~\"intelgate.*\"", sc.JobName)
		require.NotEmpty(t, sc.StaticConfigs, sc.JobName)
		if sc.Authorization == nil {
			plain++
			require.Contains(t, sc.StaticConfigs[0].Targets, "127.0.0.1:9464", "%s: the metrics_listen default", sc.JobName)
			continue
		}
		bearer++
		require.Equal(t, "https", sc.Scheme, "%s: a Bearer token over plaintext", sc.JobName)
		require.Equal(t, "Bearer", sc.Authorization.Type, sc.JobName)
		require.Empty(t, sc.Authorization.Credentials, "%s: the token belongs in credentials_file, not in the config", sc.JobName)
		require.NotEmpty(t, sc.Authorization.CredentialsFile, sc.JobName)
		tokenFile = sc.Authorization.CredentialsFile
	}
	require.Equal(t, 1, plain, "one metrics_listen job")
	require.Equal(t, 1, bearer, "one main-listener job with an admin token")

	pt := promtool(t)
	dir := t.TempDir()
	copyFiles(t, dir, "deploy/prometheus/alerts.yml")
	token := filepath.Join(dir, "intelgate.token")
	require.NoError(t, os.WriteFile(token, []byte("igt_placeholder\n"), 0o600))
	cfg := strings.ReplaceAll(string(readRepoFile(t, "deploy/prometheus/prometheus.yml")), tokenFile, token)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600))
	out := run(t, dir, pt, "check", "config", "prometheus.yml")
	var rf ruleFile
	decodeYAML(t, "deploy/prometheus/alerts.yml", &rf)
	rules := 0
	for _, g := range rf.Groups {
		rules += len(g.Rules)
	}
	require.Contains(t, out, fmt.Sprintf("SUCCESS: %d rules found", rules), "promtool checked the rule file through rule_files")
}

// markdownAnchors returns the GitHub anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, rel string) map[string]bool {
	t.Helper()
	keep := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(readRepoFile(t, rel)), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(keep.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		anchors[slug] = true
	}
	return anchors
}

func TestMarkdownAnchors(t *testing.T) {
	t.Parallel()
	a := markdownAnchors(t, "docs/operations.md")
	for _, want := range []string{"audit-log", "floods-authentication-failures", "rotating-the-data-at-rest-key"} {
		require.True(t, a[want], "anchor %s; have %v", want, slices.Sorted(maps.Keys(a)))
	}
}
