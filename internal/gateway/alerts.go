package gateway

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/alert"
)

// Alerts is what the admin API needs of the alert engine: a page of
// alerts, and an acknowledgement.
type Alerts interface {
	List(ctx context.Context, f alert.Filter) (alert.Page, error)
	Ack(ctx context.Context, id, by string) (alert.Alert, error)
}

// alertParams are GET /admin/v1/alerts' parameters.
var alertParams = []string{"state", "rule", "since", "cursor", "limit"}

func (g *Gateway) alertRoutes(handle func(pattern string, h http.Handler)) {
	if g.alerts == nil {
		return
	}
	admin := func(h http.HandlerFunc) http.Handler { return g.authenticated(g.adminOnly(h)) }
	handle("GET /admin/v1/alerts", admin(g.handleAlerts))
	handle("POST /admin/v1/alerts/{id}/ack", admin(g.handleAck))
}

// handleAlerts is GET /admin/v1/alerts: newest first, a page at a time.
func (g *Gateway) handleAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if p := unknownParam(q, alertParams...); p != nil {
		writeProblem(w, r, p)
		return
	}
	if p := repeatedParam(q, alertParams...); p != nil {
		writeProblem(w, r, p)
		return
	}
	f := alert.Filter{State: alert.State(q.Get("state")), Rule: q.Get("rule"), Cursor: q.Get("cursor")}
	switch {
	case f.State != "" && !slices.Contains([]alert.State{alert.StateOpen, alert.StateAcknowledged, alert.StateResolved}, f.State):
		writeProblem(w, r, paramProblem("state", "must be open, acknowledged or resolved"))
		return
	case f.Rule != "" && !slices.Contains(alert.RuleNames(), f.Rule):
		writeProblem(w, r, paramProblem("rule", "must be a built-in rule: "+strings.Join(alert.RuleNames(), ", ")))
		return
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeProblem(w, r, paramProblem("since", "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
			return
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeProblem(w, r, paramProblem("limit", "must be a whole number from 1 to 1000"))
			return
		}
		f.Limit = n
	}
	page, err := g.alerts.List(r.Context(), f)
	switch {
	case errors.Is(err, alert.ErrInvalidFilter): // state and rule are checked above: the cursor
		writeProblem(w, r, paramProblem("cursor", "must be the next of a previous page"))
	case err != nil:
		writeProblem(w, r, newProblem(kindUnavailable, "the alert store cannot be read now; try again"))
	default:
		if page.Alerts == nil {
			page.Alerts = []alert.Alert{}
		}
		writeJSON(w, http.StatusOK, page)
	}
}

// handleAck is POST /admin/v1/alerts/{id}/ack.
func (g *Gateway) handleAck(w http.ResponseWriter, r *http.Request) {
	if p := decodeJSONBody(r, &struct{}{}); p != nil {
		writeProblem(w, r, p)
		return
	}
	id := identityFrom(r.Context())
	a, err := g.alerts.Ack(context.WithoutCancel(r.Context()), r.PathValue("id"), id.Client)
	switch {
	case errors.Is(err, alert.ErrNotFound):
		writeProblem(w, r, newProblem(kindNotFound, "no such alert"))
	case err != nil:
		writeProblem(w, r, newProblem(kindUnavailable, "the alert store cannot be written now; try again"))
	default:
		if g.audit != nil {
			g.audit.Admin(id.Client, "alert_ack", "alert="+a.ID+" rule="+a.Rule, id.RequestID)
		}
		writeJSON(w, http.StatusOK, a)
	}
}
