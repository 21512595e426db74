package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// Webhooks receives providers' own webhooks: each provider's verifier and
// body cap, and the durable queue that takes a verified event.
type Webhooks interface {
	// Verifier is provider's scheme and body cap; false when the provider
	// takes no webhooks.
	Verifier(provider string) (webhooksig.Scheme, int64, bool)
	// Receive stores the event and queues its processing; duplicate when
	// an event of that id was received before (nothing is done again).
	Receive(ctx context.Context, provider, id string, body []byte) (duplicate bool, err error)
	// Observe counts one webhook's outcome: queued, duplicate,
	// invalid_signature, too_large, unavailable.
	Observe(provider, outcome string)
}

func (g *Gateway) webhookRoutes(handle func(string, http.Handler)) {
	if g.webhooks == nil {
		return
	}
	// No gateway token: the provider authenticates by its signature.
	handle("POST /v1/webhooks/{provider}", http.HandlerFunc(g.handleWebhook))
}

// handleWebhook is POST /v1/webhooks/{provider}: the body read once,
// capped; the signature checked before anything parses it; a replay
// answered 200 without being processed again; a new event stored and
// queued before the 202, so an acknowledged event is never lost.
func (g *Gateway) handleWebhook(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	scheme, limit, ok := g.webhooks.Verifier(provider)
	if !ok {
		writeProblem(w, r, newProblem(kindNotFound, "no such endpoint: "+r.URL.Path))
		return
	}
	src, _ := g.proxies.ClientIP(r)
	if r.ContentLength > limit {
		g.webhooks.Observe(provider, "too_large")
		writeProblem(w, r, newProblem(kindRequestTooLarge, fmt.Sprintf("the webhook body is larger than this provider's webhooks.max_body_bytes (%d bytes)", limit)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		g.webhooks.Observe(provider, "too_large")
		writeProblem(w, r, newProblem(kindRequestTooLarge, fmt.Sprintf("the webhook body is larger than this provider's webhooks.max_body_bytes (%d bytes)", limit)))
		return
	case err != nil:
		writeProblem(w, r, bodyProblem("could not be read"))
		return
	}
	id, err := scheme.Verify(body, r.Header)
	if err != nil {
		// Not counted against the source's authentication limit:
		// providers deliver from shared addresses, and anyone can point
		// a webhook with a wrong secret here — blocking would let them
		// shut out the provider's real deliveries and the API from those
		// addresses. A bad signature costs one HMAC over a capped body;
		// the audit records are bounded per second.
		st := stateFrom(r.Context())
		st.info.quiet = true
		g.auditAuthFailure(src, audit.AuthBadSignature, "", st.id)
		g.webhooks.Observe(provider, "invalid_signature")
		writeProblem(w, r, newProblem(kindBadSignature, "the webhook's signature does not verify: "+err.Error()))
		return
	}
	dup, err := g.webhooks.Receive(r.Context(), provider, id, body)
	if err != nil {
		g.webhooks.Observe(provider, "unavailable")
		g.log.Error("webhook not stored", "provider", provider, "error", err.Error(), "request_id", requestID(r.Context()))
		writeProblem(w, r, newProblem(kindUnavailable, "the webhook could not be stored; send it again"))
		return
	}
	if dup {
		g.webhooks.Observe(provider, "duplicate")
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate"})
		return
	}
	g.webhooks.Observe(provider, "queued")
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
}
