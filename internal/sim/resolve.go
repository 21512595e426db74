package sim

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxQueryLen is the longest query accepted; longer is 400.
const MaxQueryLen = 2048

// handleResolve is GET /v1/resolve: the one SocialEye endpoint we model.
func (s *Simulator) handleResolve(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	query := params.Get("query")
	done := s.stats.begin(query, time.Now()) // the wall clock: arrivals are compared with the sender's
	defer done()
	if code := s.resolve(w, r, query, params.Get("type")); code != 0 {
		s.stats.status(code)
	}
}

// resolve answers one request and returns the status it sent, or 0 when it
// sent none (connection reset, client gone).
func (s *Simulator) resolve(w http.ResponseWriter, r *http.Request, query, typ string) int {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
	}
	key, ok := s.authorize(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="socialeye"`)
		return writeError(w, http.StatusUnauthorized, "invalid_api_key", "missing or invalid API key")
	}
	now := s.now()
	if s.limits != nil {
		d := s.limits.take(key, now)
		setRateHeaders(w.Header(), d)
		if !d.allowed {
			w.Header().Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d.retryAfter)), 10))
			return writeError(w, http.StatusTooManyRequests, "rate_limited", "rate limit exceeded")
		}
	}
	s.stats.accepted(now)
	if typ == "" {
		typ = "auto"
	}
	switch {
	case query == "":
		return writeError(w, http.StatusBadRequest, "missing_query", "query parameter is required")
	case len(query) > MaxQueryLen:
		return writeError(w, http.StatusBadRequest, "query_too_long", fmt.Sprintf("query is longer than %d bytes", MaxQueryLen))
	case !slices.Contains(validTypes, typ):
		return writeError(w, http.StatusBadRequest, "invalid_type", "type must be one of "+strings.Join(validTypes, ", "))
	}
	if s.beforeAnswer != nil {
		s.beforeAnswer()
	}
	return s.answer(w, r, query, typ)
}

// answer applies latency and the faults, else the modelled result.
func (s *Simulator) answer(w http.ResponseWriter, r *http.Request, query, typ string) int {
	kind, f := s.roll()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-r.Context().Done(): // client gone or server closing: stop waiting
			return 0
		case <-t.C:
		}
	}
	switch kind {
	case faultError:
		return writeError(w, http.StatusInternalServerError, "internal_error", "simulated upstream failure")
	case faultReset:
		s.stats.connReset()
		resetConn(w)
		return 0
	}
	if strings.HasPrefix(strings.ToLower(query), NotFoundPrefix) {
		return writeError(w, http.StatusNotFound, "not_found", "no results for this query")
	}
	if strings.HasPrefix(strings.ToLower(query), ForbiddenPrefix) {
		return writeError(w, http.StatusForbidden, "plan_restricted", "your plan does not cover this resource")
	}
	body := resolveBody(query, typ)
	if f.Reflect != "" {
		body = reflectAuthorization(w.Header(), body, r.Header.Get("Authorization"), f.Reflect)
	}
	switch kind {
	case faultMalformed:
		return writeBody(w, http.StatusOK, "application/json", body[:len(body)/2])
	case faultNonObject:
		return writeBody(w, http.StatusOK, "application/json", append(append([]byte("["), body...), ']'))
	case faultWrongType:
		// A valid JSON body under the wrong label: the gateway must check
		// the content type, not merely whether the bytes happen to parse.
		return writeBody(w, http.StatusOK, "text/html; charset=utf-8", body)
	case faultOversized:
		writeOversized(w, query, f.OversizedBytes)
		return http.StatusOK
	}
	return writeBody(w, http.StatusOK, "application/json", body)
}

// authorize returns the Bearer key when it is accepted. Keys are compared in
// constant time so the simulator never teaches bad habits to code copied
// from it.
func (s *Simulator) authorize(r *http.Request) (string, bool) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", false
	}
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	if len(s.keys) == 0 {
		return key, true
	}
	match := 0
	for k := range s.keys {
		match |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return key, match == 1
}

// setRateHeaders describes the caller's bucket: Limit is its capacity,
// Remaining the whole tokens left, Reset the seconds until it is full again.
func setRateHeaders(h http.Header, d decision) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.reset), 10))
}
