package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/intelgate/intelgate/internal/lookup"
)

// PurgeBody is the body of POST /admin/v1/cache/purge: {} purges every
// cached answer, {"provider": p} one provider's, {"provider": p,
// "indicator": i} one indicator's at p (normalised as a lookup would).
type PurgeBody struct {
	Provider  string `json:"provider"`
	Indicator string `json:"indicator"`
}

// PurgeResponse says how many cached answers a purge removed.
type PurgeResponse struct {
	Purged int `json:"purged"`
}

// handlePurge is POST /admin/v1/cache/purge, for admin clients.
func (g *Gateway) handlePurge(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	var body PurgeBody
	if p := decodeJSONBody(r, &body); p != nil {
		writeProblem(w, r, p)
		return
	}
	n, err := g.lookups.Purge(r.Context(), id, lookup.PurgeRequest{Provider: body.Provider, Indicator: body.Indicator})
	if err != nil {
		writeProblem(w, r, failureProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, PurgeResponse{Purged: n})
}

// decodeJSONBody reads one JSON object into v: application/json, no
// unknown fields, nothing after it. An empty body is {}.
func decodeJSONBody(r *http.Request, v any) *Problem {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return bodyProblem("Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooLarge):
		return newProblem(kindRequestTooLarge, fmt.Sprintf("the request body is larger than this gateway accepts (%d bytes)", tooLarge.Limit))
	case err != nil:
		return bodyProblem("must be a JSON object with the documented fields: " + jsonProblem(err))
	}
	if dec.More() {
		return bodyProblem("must hold exactly one JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bodyProblem("must hold exactly one JSON object")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body: the
// field name for unknown or mistyped fields, else the syntax position.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}

func bodyProblem(detail string) *Problem {
	p := newProblem(kindInvalidParameter, "body: "+detail)
	p.Parameter = "body"
	return p
}
