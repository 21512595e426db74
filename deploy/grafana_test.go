package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// eventOnly are metrics the dashboard reads that a healthy gateway has no
// series of until something goes wrong (a labelled counter is born at its
// first event): the live scrape cannot show them, so they must at least be
// in the metric set. Keep this list short: anything a lookup against the
// simulator can produce belongs in the live fixture instead.
var eventOnly = map[string]string{
	"intelgate_store_errors_total":      "needs a failing store",
	"intelgate_retention_errors_total":  "needs a failing retention sweep",
	"intelgate_key_restorations_total":  "needs a revoked key to pass a re-check, a minute after its revocation at the earliest",
	"intelgate_cache_evictions_total":   "needs the hot tier full, or an entry expired",
	"intelgate_lookups_coalesced_total": "needs two identical lookups in flight at once: a race the fixture cannot win every time",
}

type dashboard struct {
	raw    map[string]any
	panels []map[string]any // every panel, rows' nested panels included
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	require.NoError(t, json.Unmarshal(readRepoFile(t, "deploy/grafana/intelgate.json"), &d.raw))
	var walk func(list any)
	walk = func(list any) {
		ps, _ := list.([]any)
		for _, p := range ps {
			pm, ok := p.(map[string]any)
			require.True(t, ok, "a panel that is not an object")
			d.panels = append(d.panels, pm)
			walk(pm["panels"])
		}
	}
	walk(d.raw["panels"])
	require.NotEmpty(t, d.panels)
	return d
}

// dashboardExprs are the dashboard's PromQL: each target's expr, and each
// query variable's query.
func (d dashboard) exprs(t *testing.T) []metricRef {
	t.Helper()
	var out []metricRef
	for _, p := range d.panels {
		if p["type"] == "row" {
			continue
		}
		targets, _ := p["targets"].([]any)
		require.NotEmpty(t, targets, "panel %q has no query", p["title"])
		refIDs := map[string]bool{}
		for _, tg := range targets {
			tm := tg.(map[string]any)
			expr, _ := tm["expr"].(string)
			require.NotEmpty(t, expr, "panel %q: a target without expr", p["title"])
			id, _ := tm["refId"].(string)
			require.False(t, refIDs[id], "panel %q: refId %q twice", p["title"], id)
			refIDs[id] = true
			out = append(out, metricRef{expr: expr, name: fmt.Sprint(p["title"])})
		}
	}
	for _, v := range d.variables() {
		if v["type"] != "query" {
			continue
		}
		q := v["query"]
		if qm, ok := q.(map[string]any); ok {
			q = qm["query"]
		}
		s, _ := q.(string)
		require.NotEmpty(t, s, "variable %v has no query", v["name"])
		out = append(out, metricRef{expr: s, name: "variable " + fmt.Sprint(v["name"])})
	}
	return out
}

func (d dashboard) variables() []map[string]any {
	tmpl, _ := d.raw["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	var out []map[string]any
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

// TestGrafanaDashboard: a dashboard Grafana 10.4+ imports into any
// organisation — a ${datasource} variable and no data source uid of anyone's
// — laid out without overlaps, reading only metrics a running gateway
// exports, and covering what docs/deployment.md says it shows.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	sv, _ := d.raw["schemaVersion"].(float64)
	require.GreaterOrEqual(t, sv, 39.0, "schemaVersion")
	require.NotEmpty(t, d.raw["uid"])
	require.NotContains(t, d.raw, "__inputs", "exported-for-sharing form: import would ask for a data source instead of using the variable")

	var dsVar map[string]any
	for _, v := range d.variables() {
		if v["name"] == "datasource" {
			dsVar = v
		}
	}
	require.NotNil(t, dsVar, "no datasource variable")
	require.Equal(t, "datasource", dsVar["type"])
	require.Equal(t, "prometheus", dsVar["query"])

	// Every data source reference, anywhere in the document, is the variable.
	var refs int
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "datasource" {
					ds, ok := child.(map[string]any)
					require.True(t, ok, "%s.datasource is %v: write {type: prometheus, uid: ${datasource}}", path, child)
					require.Equal(t, "prometheus", ds["type"], path)
					require.Equal(t, "${datasource}", ds["uid"], "%s: a hard-coded data source uid", path)
					refs++
					continue
				}
				walk(path+"."+k, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), child)
			}
		}
	}
	walk("", d.raw)
	require.Positive(t, refs)

	// Layout: unique ids, inside the 24-column grid, nothing overlapping.
	type rect struct{ x, y, w, h float64 }
	ids := map[float64]bool{}
	var rects []rect
	var titles []string
	for _, p := range d.panels {
		id, _ := p["id"].(float64)
		require.False(t, ids[id], "panel id %v twice", id)
		ids[id] = true
		g, _ := p["gridPos"].(map[string]any)
		r := rect{g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)}
		require.LessOrEqual(t, r.x+r.w, 24.0, "panel %q leaves the grid", p["title"])
		require.Positive(t, r.w*r.h, "panel %q has no size", p["title"])
		for i, o := range rects {
			overlap := r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h
			require.False(t, overlap, "panels %q and %q overlap", p["title"], titles[i])
		}
		rects = append(rects, r)
		titles = append(titles, fmt.Sprint(p["title"]))
	}

	// Metrics: each one in the live scrape (or described, for the few that
	// need a failure to exist).
	sc := liveScrape(t)
	described := describedMetrics(t)
	known := map[string]bool{}
	for name := range sc.samples {
		known[name] = true
	}
	for name, why := range eventOnly {
		require.True(t, described[name], "eventOnly lists %s (%s), which the metric set does not define", name, why)
		require.False(t, sc.samples[name], "eventOnly lists %s (%s), but the live gateway exports it: take it off the list", name, why)
		known[name] = true
	}
	var metrics []metricRef
	read := map[string]bool{}
	for _, e := range d.exprs(t) {
		for _, n := range promqlMetrics(e.expr) {
			metrics = append(metrics, metricRef{n, e.name})
			read[strings.TrimSuffix(n, "_bucket")] = true
		}
	}
	requireMetricsExist(t, "the dashboard", metrics, known, sc.histograms())

	// What docs/deployment.md promises the dashboard shows.
	for _, m := range []string{
		"intelgate_http_requests_total",               // requests by route and status class
		"intelgate_http_request_duration_seconds",     // latency by route
		"intelgate_upstream_requests_total",           // upstream outcomes per provider
		"intelgate_upstream_request_duration_seconds", // upstream latency per provider
		"intelgate_quota_remaining",                   // quota remaining: day and month
		"intelgate_quota_limit",                       // (as a share of the quota)
		"intelgate_governor_acquisitions_total",       // the rate: acquisitions and refusals
		"intelgate_lookups_total",                     // cache hit ratio
		"intelgate_breaker_state",                     // breaker state
		"intelgate_key_revocations_total",             // key revocations
		"intelgate_audit_queue_depth",                 // audit queue
		"intelgate_audit_records_dropped_total",       // audit drops
		"intelgate_store_errors_total",                // store errors
	} {
		require.True(t, read[m], "the dashboard reads no %s", m)
	}
}

// TestGrafanaDashboardPromQL: every expression parses as PromQL, checked by
// promtool as recording rules with Grafana's variables filled in.
func TestGrafanaDashboardPromQL(t *testing.T) {
	t.Parallel()
	pt := promtool(t)
	fill := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m",
		"$job", ".*", "$instance", ".*", "$provider", ".*")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range loadDashboard(t).exprs(t) {
		expr := fill.Replace(e.expr)
		require.NotContains(t, expr, "$", "%s: a Grafana variable this test does not fill: %s", e.name, e.expr)
		if strings.HasPrefix(expr, "label_values(") {
			// Grafana's own function: check the selector inside it.
			inner := strings.TrimSuffix(strings.TrimPrefix(expr, "label_values("), ")")
			expr = inner[:strings.LastIndex(inner, ",")]
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:expr_%d", i), Expr: expr})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dashboard.rules.yml"), out, 0o600))
	res := run(t, dir, pt, "check", "rules", "dashboard.rules.yml")
	require.Contains(t, res, fmt.Sprintf("SUCCESS: %d rules found", len(rules)))
}
