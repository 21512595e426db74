package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

func (g *Gateway) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz pings every dependency; it says which one failed but never
// the error text, which may carry a DSN.
func (g *Gateway) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	status, overall := http.StatusOK, "ok"
	for _, n := range sortedNames(g.ready) {
		if err := g.ready[n].Ping(ctx); err != nil {
			g.log.Warn("readiness check failed", "dependency", n, "error", err)
			checks[n] = "unavailable"
			status, overall = http.StatusServiceUnavailable, "unavailable"
			continue
		}
		checks[n] = "ok"
	}
	for _, n := range sortedNames(g.degradable) {
		if err := g.degradable[n].Ping(ctx); err != nil {
			g.log.Warn("readiness check failed; serving degraded", "dependency", n, "error", err)
			checks[n] = "degraded"
			if overall == "ok" {
				overall = "degraded"
			}
			continue
		}
		checks[n] = "ok"
	}
	writeJSON(w, status, map[string]any{"status": overall, "checks": checks})
}

func sortedNames(m map[string]Checker) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
