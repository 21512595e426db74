package sim

import (
	"io"
	"net/http"
)

// The /_sim endpoints steer and observe the simulator. They need no key: the
// simulator listens on loopback unless its operator explicitly allows more.

// maxControlBody bounds POST /_sim/faults bodies.
const maxControlBody = 64 << 10

// handleFaults is GET (read) and POST (replace) /_sim/faults. POST replaces
// the whole setting: fields left out are zero, so a fault is switched off by
// posting {} rather than by remembering what was on.
func (s *Simulator) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
	case http.MethodPost:
		// The whole body is one Faults object: UnmarshalJSON refuses null,
		// non-objects and trailing data (a decoder would stop after the
		// first value and skip UnmarshalJSON for null).
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_faults", "reading body: "+err.Error())
			return
		}
		var f Faults
		if err := f.UnmarshalJSON(body); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_faults", err.Error())
			return
		}
		if err := f.Validate(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_faults", err.Error())
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, s.Faults())
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST")
	}
}

// handleStats is GET /_sim/stats.
func (s *Simulator) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	writeJSON(w, http.StatusOK, s.Stats())
}

// handleReset is POST /_sim/reset: clear the stats and refill the buckets.
func (s *Simulator) handleReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	s.ResetStats()
	w.WriteHeader(http.StatusNoContent)
}
