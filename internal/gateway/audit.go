package gateway

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/lookup"
)

// AuditTrail records what the gateway itself decides (internal/audit's
// Recorder): refused authentications and administrative reads.
type AuditTrail interface {
	AuthFailed(src netip.Addr, reason, client, requestID string)
	Admin(by, action, detail, requestID string)
	// Refused records a lookup or resolve refused before the lookup
	// service saw it, with the problem slug it was answered with.
	Refused(id lookup.Identity, op, problem string)
}

// BlockedCounter is an AuditTrail that also hears each failed
// authentication refused while its source is blocked: those are not
// audited one by one (the aggregated log counts them), but a brute force
// the block slows down is still one, and the alert rules must see it
// whole.
type BlockedCounter interface {
	AuthBlocked(src netip.Addr)
}

// AuditReader pages through the audit log, for GET /admin/v1/audit.
type AuditReader interface {
	Page(ctx context.Context, f audit.Filter, limit int) ([]audit.Record, int64, error)
	// OpenIndicator reads a record's sealed indicator (audit.indicators:
	// plaintext); an error when it cannot.
	OpenIndicator(sealed []byte) (string, error)
}

// Audit page sizes.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

// AuditPage is the body of GET /admin/v1/audit: records in sequence order
// (with their chain fields, as export writes them) and the cursor of the
// next page, absent on the last.
type AuditPage struct {
	Records    []audit.Record `json:"records"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// handleAudit is GET /admin/v1/audit?since=&until=&client=&provider=&cursor=&limit=,
// for admin clients.
func (g *Gateway) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if p := unknownParam(q, "since", "until", "client", "provider", "cursor", "limit"); p != nil {
		writeProblem(w, r, p)
		return
	}
	if p := repeatedParam(q, "since", "until", "client", "provider", "cursor", "limit"); p != nil {
		writeProblem(w, r, p)
		return
	}
	f := audit.Filter{Client: q.Get("client"), Provider: q.Get("provider")}
	for _, p := range [][2]string{{"client", f.Client}, {"provider", f.Provider}} {
		if p[1] != "" && !config.ValidName(p[1]) {
			writeProblem(w, r, paramProblem(p[0], "must be a "+p[0]+" name as the configuration writes them"))
			return
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeProblem(w, r, paramProblem(t.name, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z"))
				return
			}
			*t.dst = at
		}
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeProblem(w, r, paramProblem("cursor", "must be the next_cursor of a previous page"))
			return
		}
		f.After = n
	}
	limit := defaultAuditPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			writeProblem(w, r, paramProblem("limit", "must be a whole number from 1 to "+strconv.Itoa(maxAuditPage)))
			return
		}
		limit = n
	}
	recs, next, err := g.auditReader.Page(r.Context(), f, limit)
	if err != nil {
		g.log.Error("reading the audit log failed", "request_id", requestID(r.Context()), "error", err.Error())
		writeProblem(w, r, newProblem(kindUnavailable, "the audit log could not be read; retry later"))
		return
	}
	for i := range recs {
		if recs[i].IndicatorSealed != nil {
			if v, err := g.auditReader.OpenIndicator(recs[i].IndicatorSealed); err == nil {
				recs[i].Indicator = v
			}
		}
	}
	if g.audit != nil {
		id := identityFrom(r.Context())
		g.audit.Admin(id.Client, "audit_read", r.URL.RawQuery, id.RequestID)
	}
	page := AuditPage{Records: recs}
	if page.Records == nil {
		page.Records = []audit.Record{}
	}
	if next > 0 {
		page.NextCursor = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, page)
}
