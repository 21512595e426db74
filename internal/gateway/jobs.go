package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/jobs"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/minimise"
)

// Jobs is the bulk lookup queue (jobs.Queue).
type Jobs interface {
	Submit(ctx context.Context, id lookup.Identity, s jobs.Submission) (jobs.Job, bool, error)
	Get(ctx context.Context, client, id string) (jobs.Job, error)
	Results(ctx context.Context, client, id string, after, limit int) ([]jobs.ItemResult, int, error)
	MaxItems() int
}

// Media types of a job submission and its results.
const (
	mediaNDJSON  = "application/x-ndjson"
	mediaNDJSON2 = "application/ndjson"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

func (g *Gateway) jobRoutes(handle func(string, http.Handler)) {
	if g.jobs == nil {
		return
	}
	handle("POST /v1/jobs", g.authenticated(http.HandlerFunc(g.handleSubmitJob)))
	handle("GET /v1/jobs/{id}", g.authenticated(http.HandlerFunc(g.handleGetJob)))
	handle("GET /v1/jobs/{id}/results", g.authenticated(http.HandlerFunc(g.handleJobResults)))
}

// jobRequest is POST /v1/jobs's JSON body.
type jobRequest struct {
	Indicators  []string `json:"indicators"`
	Type        string   `json:"type"`
	Providers   []string `json:"providers"`
	CallbackURL string   `json:"callback_url"`
	TLP         string   `json:"tlp"`
	PAP         string   `json:"pap"`
}

// JobResponse is a job's status (POST /v1/jobs, GET /v1/jobs/{id}).
type JobResponse struct {
	ID          string         `json:"id"`
	Status      jobs.Status    `json:"status"`
	Total       int            `json:"total"`
	Counts      jobs.Counts    `json:"counts"`
	Type        indicator.Type `json:"type"`
	Providers   []string       `json:"providers"`
	TLP         string         `json:"tlp"`
	PAP         string         `json:"pap"`
	CallbackURL string         `json:"callback_url,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
	FinishedAt  *time.Time     `json:"finished_at"`
	Results     string         `json:"results"`
	// Callback is the delivery of the finish to callback_url: null until
	// the job finished (or without a callback_url).
	Callback *JobCallback `json:"callback"`
}

// JobCallback is a job's callback delivery as GET /v1/jobs/{id} shows it.
type JobCallback struct {
	State      jobs.CallbackState `json:"state"` // pending | delivered | failed
	WebhookID  string             `json:"webhook_id"`
	Attempts   int                `json:"attempts"`
	LastAt     *time.Time         `json:"last_attempt_at"`
	LastStatus int                `json:"last_status,omitempty"` // the receiver's HTTP status
	LastError  string             `json:"last_error,omitempty"`  // timeout, tls, network, status, redirect, refused
}

// handleSubmitJob is POST /v1/jobs: a JSON body, or NDJSON (one
// indicator per line; the options then come as query parameters).
func (g *Gateway) handleSubmitJob(w http.ResponseWriter, r *http.Request) {
	sub, p := g.readSubmission(r)
	if p != nil {
		g.refuseEarly(w, r, "job", p)
		return
	}
	id := identityFrom(r.Context())
	job, replayed, err := g.jobs.Submit(r.Context(), id, sub)
	if err != nil {
		writeProblem(w, r, jobProblem(err, g.jobs.MaxItems()))
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/v1/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, jobResponse(job))
}

func (g *Gateway) readSubmission(r *http.Request) (jobs.Submission, *Problem) {
	var sub jobs.Submission
	if v := r.Header.Values("Idempotency-Key"); len(v) > 0 {
		if len(v) > 1 {
			return sub, headerProblem("Idempotency-Key", errors.New("sent more than once; send it once"))
		}
		if err := checkIdempotencyKey(v[0]); err != nil {
			return sub, headerProblem("Idempotency-Key", err)
		}
		sub.IdempotencyKey = v[0]
	}
	id, _, p := requestOptions(r, url.Values{})
	if p != nil {
		return sub, p
	}
	sub.Markings = id.Markings
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	switch mt = strings.ToLower(strings.TrimSpace(mt)); mt {
	case "application/json", "":
		var req jobRequest
		if p := decodeJSONBody(r, &req); p != nil {
			return sub, p
		}
		sub.Indicators, sub.Providers, sub.CallbackURL = req.Indicators, req.Providers, req.CallbackURL
		if p := submissionOptions(&sub, req.Type, req.TLP, req.PAP); p != nil {
			return sub, p
		}
	case mediaNDJSON, mediaNDJSON2:
		q := r.URL.Query()
		if p := repeatedParam(q, "type", "providers", "callback_url", "tlp", "pap"); p != nil {
			return sub, p
		}
		if q.Has("providers") {
			sub.Providers = strings.Split(q.Get("providers"), ",")
		}
		sub.CallbackURL = q.Get("callback_url")
		if p := submissionOptions(&sub, q.Get("type"), q.Get("tlp"), q.Get("pap")); p != nil {
			return sub, p
		}
		inds, p := readNDJSON(r.Body, g.jobs.MaxItems())
		if p != nil {
			return sub, p
		}
		sub.Indicators = inds
	default:
		return sub, bodyProblem("Content-Type must be application/json or " + mediaNDJSON)
	}
	if len(sub.Indicators) == 0 {
		return sub, bodyProblem("indicators: at least one indicator is required")
	}
	if n := len(sub.Indicators); n > g.jobs.MaxItems() {
		return sub, tooManyItems(g.jobs.MaxItems())
	}
	return sub, nil
}

// submissionOptions reads the type and markings of a submission (the
// body's or the query's), over the headers' and the client's defaults.
func submissionOptions(sub *jobs.Submission, typ, tlp, pap string) *Problem {
	if typ != "" {
		t, err := indicator.ParseType(typ)
		if err != nil {
			return paramProblem("type", err.Error())
		}
		sub.Type = t
	}
	if tlp != "" {
		t, err := minimise.ParseTLP(tlp)
		if err != nil {
			return paramProblem("tlp", err.Error())
		}
		sub.Markings.TLP = t
	}
	if pap != "" {
		p, err := minimise.ParsePAP(pap)
		if err != nil {
			return paramProblem("pap", err.Error())
		}
		sub.Markings.PAP = p
	}
	return nil
}

// readNDJSON reads one indicator per line: a JSON string, or an object
// {"indicator": "…"}. Blank lines are skipped; any other line is refused
// by number (never echoed: it may hold an indicator).
func readNDJSON(body io.Reader, maxItems int) ([]string, *Problem) {
	br := bufio.NewReader(body)
	var out []string
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newProblem(kindRequestTooLarge, fmt.Sprintf("the request body is larger than this gateway accepts for a job (%d bytes)", tooLarge.Limit))
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, bodyProblem("could not be read")
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			ind, ok := ndjsonIndicator(trimmed)
			if !ok {
				return nil, bodyProblem(fmt.Sprintf(`line %d: must be a JSON string or an object {"indicator": "…"}`, n))
			}
			if len(out) == maxItems {
				return nil, tooManyItems(maxItems)
			}
			out = append(out, ind)
		}
		if err != nil {
			return out, nil
		}
	}
}

func ndjsonIndicator(line []byte) (string, bool) {
	var s string
	if line[0] == '"' {
		if json.Unmarshal(line, &s) != nil {
			return "", false
		}
		return s, true
	}
	var obj struct {
		Indicator *string `json:"indicator"`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if dec.Decode(&obj) != nil || obj.Indicator == nil || dec.More() {
		return "", false
	}
	return *obj.Indicator, true
}

func checkIdempotencyKey(k string) error {
	if k == "" || len(k) > maxIdempotencyKey {
		return fmt.Errorf("must be 1 to %d characters", maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return errors.New("must be printable ASCII without spaces")
		}
	}
	return nil
}

func tooManyItems(limit int) *Problem {
	return newProblem(kindTooManyItems, fmt.Sprintf("a job holds at most %d indicators (jobs.max_items)", limit))
}

// jobProblem maps the queue's errors.
func jobProblem(err error, maxItems int) *Problem {
	var f *lookup.Failure
	switch {
	case errors.As(err, &f):
		return failureProblem(f)
	case errors.Is(err, jobs.ErrNotFound):
		return newProblem(kindNotFound, "no such job")
	case errors.Is(err, jobs.ErrTooMany):
		return tooManyItems(maxItems)
	case errors.Is(err, jobs.ErrEmpty):
		return bodyProblem("indicators: at least one indicator is required")
	case errors.Is(err, jobs.ErrIdempotencyReused):
		return newProblem(kindIdempotencyReused, "this Idempotency-Key was used for a different submission; use a new key")
	case errors.Is(err, context.Canceled):
		return newProblem(kindClientClosed, "")
	}
	return newProblem(kindUnavailable, "the job queue could not be reached; try again")
}

func jobResponse(j jobs.Job) JobResponse {
	out := JobResponse{ID: j.ID, Status: j.Status, Total: j.Total, Counts: j.Counts, Type: j.Type,
		Providers: j.Providers, TLP: j.Markings.TLP.String(), PAP: j.Markings.PAP.String(), CallbackURL: j.CallbackURL,
		CreatedAt: j.CreatedAt, Results: "/v1/jobs/" + j.ID + "/results"}
	if out.Providers == nil {
		out.Providers = []string{}
	}
	if !j.FinishedAt.IsZero() {
		at := j.FinishedAt
		out.FinishedAt = &at
	}
	if c := j.Callback; c != nil {
		out.Callback = &JobCallback{State: c.State, WebhookID: c.WebhookID, Attempts: c.Attempts, LastStatus: c.LastStatus, LastError: c.LastError}
		if !c.LastAt.IsZero() {
			at := c.LastAt
			out.Callback.LastAt = &at
		}
	}
	return out
}

func (g *Gateway) handleGetJob(w http.ResponseWriter, r *http.Request) {
	job, err := g.jobs.Get(r.Context(), identityFrom(r.Context()).Client, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, jobProblem(err, g.jobs.MaxItems()))
		return
	}
	writeJSON(w, http.StatusOK, jobResponse(job))
}

// JobResultLine is one line of GET /v1/jobs/{id}/results: one indicator
// and one provider, the provider's part as in /v1/lookup's results. An
// item no provider answered (still queued, or failed before any was
// asked) is one line with provider null.
type JobResultLine struct {
	Item       int             `json:"item"`
	State      jobs.ItemState  `json:"state"`
	Indicator  string          `json:"indicator"`
	Type       indicator.Type  `json:"type,omitempty"`
	Normalized string          `json:"normalized,omitempty"`
	Provider   *string         `json:"provider"`
	Status     string          `json:"status,omitempty"`
	Cached     bool            `json:"cached"`
	Stale      bool            `json:"stale"`
	FetchedAt  *time.Time      `json:"fetched_at"`
	Data       json.RawMessage `json:"data"`
	Error      *ResultError    `json:"error"`
	Rule       string          `json:"rule,omitempty"`
}

// handleJobResults is GET /v1/jobs/{id}/results: NDJSON, a page of items
// after ?after=N (item number), at most ?limit=M; a Link header (rel
// "next") names the next page while there is one.
func (g *Gateway) handleJobResults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if p := repeatedParam(q, "after", "limit"); p != nil {
		writeProblem(w, r, p)
		return
	}
	after, limit := 0, 0
	for name, dst := range map[string]*int{"after": &after, "limit": &limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeProblem(w, r, paramProblem(name, "must be a whole number ≥ 0"))
				return
			}
			*dst = n
		}
	}
	if limit > jobs.MaxPageItems {
		writeProblem(w, r, paramProblem("limit", fmt.Sprintf("at most %d items per page", jobs.MaxPageItems)))
		return
	}
	id := r.PathValue("id")
	items, next, err := g.jobs.Results(r.Context(), identityFrom(r.Context()).Client, id, after, limit)
	if err != nil {
		writeProblem(w, r, jobProblem(err, g.jobs.MaxItems()))
		return
	}
	h := w.Header()
	h.Set("Content-Type", mediaNDJSON)
	if next > 0 {
		v := url.Values{"after": {strconv.Itoa(next)}}
		if limit > 0 {
			v.Set("limit", strconv.Itoa(limit))
		}
		h.Set("Link", fmt.Sprintf(`</v1/jobs/%s/results?%s>; rel="next"`, url.PathEscape(id), v.Encode()))
	}
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, it := range items {
		for _, line := range resultLines(it) {
			if err := enc.Encode(line); err != nil {
				return // the client went away
			}
		}
	}
}

func resultLines(it jobs.ItemResult) []JobResultLine {
	base := JobResultLine{Item: it.Seq, State: it.State, Indicator: it.Indicator, Type: it.Type, Normalized: it.Normalized}
	if len(it.Outcomes) == 0 {
		if it.Failure != nil {
			p := failureProblem(it.Failure)
			base.Status = string(lookup.StatusError)
			base.Error = &ResultError{Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail, Parameter: p.Parameter}
		}
		return []JobResultLine{base}
	}
	out := make([]JobResultLine, len(it.Outcomes))
	for i, o := range it.Outcomes {
		lr := lookupResult(o)
		l := base
		name := lr.Provider
		l.Provider, l.Status, l.Cached, l.Stale, l.FetchedAt, l.Data, l.Error, l.Rule =
			&name, lr.Status, lr.Cached, lr.Stale, lr.FetchedAt, lr.Data, lr.Error, lr.Rule
		out[i] = l
	}
	return out
}
