package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/intelgate/intelgate/internal/lookup"
)

// problemBase prefixes every problem type URI; the slug after it is stable
// and part of the public contract (docs/api.md).
const problemBase = "https://intelgate.dev/problems/"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Parameter string `json:"parameter,omitempty"`

	// retryAfter, when positive, is sent as a Retry-After header (429/503).
	retryAfter time.Duration
}

// problem kinds: slug, HTTP status and a fixed title. Titles never vary with
// the request; details do.
type problemKind struct {
	slug   string
	status int
	title  string
}

var (
	kindUnauthenticated  = problemKind{"unauthenticated", http.StatusUnauthorized, "Authentication required"}
	kindForbidden        = problemKind{"forbidden", http.StatusForbidden, "Provider not permitted for this client"}
	kindSourceNotAllowed = problemKind{"source-not-allowed", http.StatusForbidden, "Source address not allowed"}
	kindInvalidParameter = problemKind{"invalid-parameter", http.StatusBadRequest, "Invalid request parameter"}
	kindUnknownProvider  = problemKind{"unknown-provider", http.StatusBadRequest, "Unknown provider"}
	kindUnsupportedType  = problemKind{"unsupported-type", http.StatusBadRequest, "No permitted provider supports this indicator type"}
	kindNotFound         = problemKind{"not-found", http.StatusNotFound, "Not found"}
	kindMethodNotAllowed = problemKind{"method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed"}
	kindRateLimited      = problemKind{"rate-limited", http.StatusTooManyRequests, "Client rate limit or quota reached"}
	kindUpRateLimited    = problemKind{"upstream-rate-limited", http.StatusTooManyRequests, "Provider rate limit or quota reached"}
	kindUpTLS            = problemKind{"upstream-tls", http.StatusBadGateway, "Upstream TLS verification failed"}
	kindUpUnavailable    = problemKind{"upstream-unavailable", http.StatusBadGateway, "Upstream unreachable"}
	kindUpInvalid        = problemKind{"upstream-invalid-response", http.StatusBadGateway, "Upstream sent an invalid response"}
	kindUpAuth           = problemKind{"upstream-auth", http.StatusBadGateway, "Upstream rejected the gateway's credentials"}
	kindUpError          = problemKind{"upstream-error", http.StatusBadGateway, "Upstream error"}
	kindUpTimeout        = problemKind{"upstream-timeout", http.StatusGatewayTimeout, "Upstream timed out"}
	kindInternal         = problemKind{"internal", http.StatusInternalServerError, "Internal error"}
	kindUnavailable      = problemKind{"unavailable", http.StatusServiceUnavailable, "Service unavailable"}
	// 499 (nginx's): the caller left; the answer is written for the log,
	// nobody reads it.
	kindClientClosed = problemKind{"client-closed", 499, "Client closed the request"}

	kindRequestTooLarge = problemKind{"request-too-large", http.StatusRequestEntityTooLarge, "Request body too large"}

	// Query minimisation kept the query from the provider: the request is
	// well formed but must not be sent (RFC 9110 422).
	kindWithheld         = problemKind{"indicator-withheld", http.StatusUnprocessableEntity, "Indicator withheld from the provider"}
	kindRefreshForbidden = problemKind{"refresh-not-allowed", http.StatusForbidden, "Cache refresh not permitted for this client"}
	kindAdminRequired    = problemKind{"admin-required", http.StatusForbidden, "Administrator access required"}
	kindConflict         = problemKind{"conflict", http.StatusConflict, "Conflicting operation in progress"}
	// Bulk jobs: a submission over jobs.max_items, and an Idempotency-Key
	// reused for another body (the IETF idempotency-key draft's 422).
	// An inbound webhook whose signature does not verify (nothing stored).
	kindBadSignature      = problemKind{"invalid-signature", http.StatusUnauthorized, "Webhook signature invalid"}
	kindTooManyItems      = problemKind{"too-many-items", http.StatusRequestEntityTooLarge, "Too many indicators in one job"}
	kindIdempotencyReused = problemKind{"idempotency-key-reused", http.StatusUnprocessableEntity, "Idempotency-Key reused with a different request"}
	kindReloadRefused     = problemKind{"reload-refused", http.StatusConflict, "Configuration reload refused"}

	// Its own slug, not rate-limited: the remedy differs (fix the token or
	// the proxy setup, not the request rate), and a client that backs off
	// on rate-limited should not mistake a broken token for load.
	kindAuthFailures = problemKind{"too-many-auth-failures", http.StatusTooManyRequests, "Too many authentication failures from this source"}
)

func newProblem(k problemKind, detail string) *Problem {
	return &Problem{Type: problemBase + k.slug, Title: k.title, Status: k.status, Detail: detail}
}

// writeProblem sends p as application/problem+json, stamped with the
// request's id.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.RequestID = requestID(r.Context())
	h := w.Header()
	h.Set("Content-Type", "application/problem+json") // the other headers: securityHeaders
	// 429 and 503 always say when to come back (at least 1s), even when the
	// cause gave no estimate: a client without one would retry at once.
	if p.retryAfter > 0 || p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.FormatInt(lookup.RetrySeconds(p.retryAfter), 10))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="intelgate"`)
	}
	if info := infoFrom(r.Context()); info != nil {
		info.problem = p.Type
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
