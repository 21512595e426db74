package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/intelgate/intelgate/internal/jobs"
)

// DeadLetters is the bulk queue's dead-letter queue, for admins: list,
// retry one, retry what matches. by is the acting admin client (audited).
type DeadLetters interface {
	Dead(ctx context.Context, f jobs.DeadFilter, after string, limit int) ([]jobs.DeadItem, string, error)
	Retry(ctx context.Context, id, by string) error
	RetryAll(ctx context.Context, f jobs.DeadFilter, by string) (int, bool, error)
}

func (g *Gateway) dlqRoutes(handle func(string, http.Handler)) {
	if g.dlq == nil {
		return
	}
	admin := func(h http.HandlerFunc) http.Handler { return g.authenticated(g.adminOnly(h)) }
	handle("GET /admin/v1/dlq", admin(g.handleDLQ))
	handle("POST /admin/v1/dlq/retry", admin(g.handleDLQRetryAll))
	handle("POST /admin/v1/dlq/{id}/retry", admin(g.handleDLQRetry))
}

// DeadItemResponse is one dead item of GET /admin/v1/dlq.
type DeadItemResponse struct {
	ID       string    `json:"id"`
	Job      string    `json:"job"`
	Item     int       `json:"item"`
	Client   string    `json:"client"`
	Provider string    `json:"provider"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	DiedAt   time.Time `json:"died_at"`
}

// DLQResponse is GET /admin/v1/dlq: a page, and the after of the next one.
type DLQResponse struct {
	Items []DeadItemResponse `json:"items"`
	Next  *string            `json:"next"`
}

// dlqFilter is the filter of the list (query) and of the bulk retry (body).
type dlqFilter struct {
	Provider string `json:"provider"`
	Error    string `json:"error"`
	Job      string `json:"job"`
	Client   string `json:"client"`
}

func (f dlqFilter) filter() jobs.DeadFilter {
	return jobs.DeadFilter{Provider: f.Provider, Error: f.Error, Job: f.Job, Client: f.Client}
}

func (g *Gateway) handleDLQ(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if p := repeatedParam(q, "provider", "error", "job", "client", "after", "limit"); p != nil {
		writeProblem(w, r, p)
		return
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > jobs.MaxPageItems {
			writeProblem(w, r, paramProblem("limit", fmt.Sprintf("must be a whole number from 1 to %d", jobs.MaxPageItems)))
			return
		}
		limit = n
	}
	f := dlqFilter{Provider: q.Get("provider"), Error: q.Get("error"), Job: q.Get("job"), Client: q.Get("client")}
	items, next, err := g.dlq.Dead(r.Context(), f.filter(), q.Get("after"), limit)
	if errors.Is(err, jobs.ErrNoDeadItem) {
		writeProblem(w, r, paramProblem("after", "must be a dead item id from a previous page (job_….N)"))
		return
	}
	if err != nil {
		writeProblem(w, r, jobProblem(err, 0))
		return
	}
	out := DLQResponse{Items: make([]DeadItemResponse, len(items))}
	for i, d := range items {
		out.Items[i] = DeadItemResponse{ID: d.ID, Job: d.Job, Item: d.Seq, Client: d.Client, Provider: d.Provider,
			Error: d.Error, Attempts: d.Attempts, DiedAt: d.DiedAt}
	}
	if next != "" {
		out.Next = &next
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) handleDLQRetry(w http.ResponseWriter, r *http.Request) {
	if p := decodeJSONBody(r, &struct{}{}); p != nil {
		writeProblem(w, r, p)
		return
	}
	id := r.PathValue("id")
	err := g.dlq.Retry(r.Context(), id, identityFrom(r.Context()).Client)
	if errors.Is(err, jobs.ErrNoDeadItem) {
		writeProblem(w, r, newProblem(kindNotFound, "no dead item "+strconv.Quote(id)+" (retried already, or never dead)"))
		return
	}
	if err != nil {
		writeProblem(w, r, jobProblem(err, 0))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "state": string(jobs.ItemQueued)})
}

func (g *Gateway) handleDLQRetryAll(w http.ResponseWriter, r *http.Request) {
	var f dlqFilter
	if p := decodeJSONBody(r, &f); p != nil {
		writeProblem(w, r, p)
		return
	}
	n, more, err := g.dlq.RetryAll(r.Context(), f.filter(), identityFrom(r.Context()).Client)
	if err != nil {
		writeProblem(w, r, jobProblem(err, 0))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"retried": n, "more": more})
}
