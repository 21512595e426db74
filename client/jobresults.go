package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JobResultLine is one line of a job's results: one item (indicator) and
// one provider, the provider's part as in a Lookup's Result. An item no
// provider answered (still queued, or failed before any was asked) is one
// line with Provider nil, and Error when it failed.
type JobResultLine struct {
	Item       int    `json:"item"`  // the item's number in the job, from 1
	State      string `json:"state"` // ItemQueued, ItemDone, ItemFailed, ItemDead or ItemWithheld
	Indicator  string `json:"indicator"`
	Type       string `json:"type,omitempty"`
	Normalized string `json:"normalized,omitempty"`
	// Provider is nil for an item no provider answered.
	Provider  *string         `json:"provider"`
	Status    string          `json:"status,omitempty"` // StatusOK, StatusNotFound, StatusError or StatusWithheld
	Cached    bool            `json:"cached"`
	Stale     bool            `json:"stale"`
	FetchedAt *time.Time      `json:"fetched_at"`
	Data      json.RawMessage `json:"data"` // the provider's JSON object, only when ok
	Error     *ResultError    `json:"error"`
	// Rule names the query-minimisation rule, only when withheld.
	Rule string `json:"rule,omitempty"`

	// Raw is the line exactly as received, without its newline.
	Raw json.RawMessage `json:"-"`
}

// JobResults reads a job's results in item order (GET
// /v1/jobs/{id}/results), one page of at most pageSize items at a time
// (0: the gateway's default, 100; it allows at most 1,000), following the
// page's Link rel="next" until the last. Each page is one call with the
// SDK's retries. A failure is yielded once, with a zero line, and ends the
// sequence:
//
//	for line, err := range c.JobResults(ctx, id, 500) {
//		if err != nil { … }
//		use(line)
//	}
//
// The next link is followed on the results path of this client's base
// URL (its query only), so a base path prefix is kept and the token goes
// nowhere else. Items still queued are lines in state ItemQueued: read
// the results once the job is done (WaitJob) for every answer.
func (c *Client) JobResults(ctx context.Context, id string, pageSize int) iter.Seq2[JobResultLine, error] {
	return func(yield func(JobResultLine, error) bool) {
		fail := func(err error) { yield(JobResultLine{}, fmt.Errorf("job results: %w", err)) }
		p, err := jobPath(id)
		if err != nil {
			fail(err)
			return
		}
		if pageSize < 0 {
			fail(fmt.Errorf("page size must be 0 (the gateway's default) or more, got %d", pageSize))
			return
		}
		path := p + "/results"
		q := url.Values{}
		if pageSize > 0 {
			q.Set("limit", strconv.Itoa(pageSize))
		}
		for {
			rep, err := c.send(ctx, request{path: path, query: q, accept: "application/x-ndjson, application/problem+json"})
			if err != nil {
				fail(err)
				return
			}
			lines, err := decodeResultPage(rep)
			if err != nil {
				fail(err)
				return
			}
			for _, l := range lines {
				if !yield(l, nil) {
					return
				}
			}
			next, ok, err := nextResultsPage(rep.header, "/"+path)
			if err != nil {
				fail(err)
				return
			}
			if !ok {
				return
			}
			if next.Encode() == q.Encode() {
				fail(errors.New("the gateway's next page is the page just read"))
				return
			}
			q = next
		}
	}
}

// decodeResultPage decodes one NDJSON page.
func decodeResultPage(rep *reply) ([]JobResultLine, error) {
	mt, _, _ := mime.ParseMediaType(rep.header.Get("Content-Type"))
	if mt != "application/x-ndjson" && mt != "application/ndjson" {
		return nil, fmt.Errorf("the response is %q, not NDJSON", mt)
	}
	var out []JobResultLine
	n := 0
	for line := range bytes.Lines(rep.body) {
		n++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var l JobResultLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("decoding line %d of the page: %w", n, err)
		}
		if string(l.Data) == "null" {
			l.Data = nil
		}
		l.Raw = line
		out = append(out, l)
	}
	return out, nil
}

// nextResultsPage reads the Link rel="next" of a results page: its query,
// when its path is the results path (suffix wantPath) of this job.
func nextResultsPage(h http.Header, wantPath string) (url.Values, bool, error) {
	ref, ok := linkNext(h.Values("Link"))
	if !ok {
		return nil, false, nil
	}
	u, err := url.Parse(ref)
	if err != nil || !strings.HasSuffix(u.EscapedPath(), wantPath) {
		return nil, false, fmt.Errorf("the gateway's next page link is not this job's results")
	}
	return u.Query(), true, nil
}

// linkNext finds the target of rel="next" among Link header values
// (RFC 8288: `<target>; rel="next"`, several links comma-separated, rel
// possibly a space-separated list).
func linkNext(values []string) (string, bool) {
	for _, v := range values {
		for v != "" {
			start := strings.IndexByte(v, '<')
			end := strings.IndexByte(v, '>')
			if start < 0 || end < start {
				break
			}
			target := v[start+1 : end]
			v = v[end+1:]
			params := v
			if i := strings.IndexByte(v, '<'); i >= 0 {
				params = v[:i]
			}
			for p := range strings.SplitSeq(params, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(val), ",")), `"`)
				for rel := range strings.FieldsSeq(val) {
					if strings.EqualFold(rel, "next") {
						return target, true
					}
				}
			}
		}
	}
	return "", false
}
