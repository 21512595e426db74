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
	names := make([]string, 0, len(g.ready))
	for n := range g.ready {
		names = append(names, n)
	}
	sort.Strings(names)
	checks := make(map[string]string, len(names))
	status := http.StatusOK
	for _, n := range names {
		if err := g.ready[n].Ping(ctx); err != nil {
			g.log.Warn("readiness check failed", "dependency", n, "error", err)
			checks[n] = "unavailable"
			status = http.StatusServiceUnavailable
			continue
		}
		checks[n] = "ok"
	}
	body := map[string]any{"status": "ok", "checks": checks}
	if status != http.StatusOK {
		body["status"] = "unavailable"
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
