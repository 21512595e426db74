package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
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
	if g.ping(ctx, g.ready, checks, "unavailable") {
		status, overall = http.StatusServiceUnavailable, "unavailable"
	}
	if g.ping(ctx, g.degradable, checks, "degraded") && overall == "ok" {
		overall = "degraded"
	}
	writeJSON(w, status, map[string]any{"status": overall, "checks": checks})
}

// ping checks each dependency, recording "ok" or failed in checks, and
// reports whether any failed.
func (g *Gateway) ping(ctx context.Context, deps map[string]Checker, checks map[string]string, failed string) bool {
	failedSome := false
	for _, n := range slices.Sorted(maps.Keys(deps)) {
		if err := deps[n].Ping(ctx); err != nil {
			g.log.Warn("readiness check failed", "dependency", n, "state", failed, "error", err)
			checks[n], failedSome = failed, true
			continue
		}
		checks[n] = "ok"
	}
	return failedSome
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
