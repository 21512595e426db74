package app

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/jobs"
	"github.com/intelgate/intelgate/internal/sim"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// postBody sends body to base+path with the client's token.
func (c *govClient) postBody(t *testing.T, base, path, contentType, body string, header ...string) govResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NotContains(t, string(b), simKey, "the upstream key reached a client")
	return govResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// waitJob polls GET /v1/jobs/{id} until the job is done; the deadline
// only bounds a broken queue.
func waitJob(t *testing.T, c *govClient, base, id string) gateway.JobResponse {
	t.Helper()
	var j gateway.JobResponse
	require.True(t, govPoll(60*time.Second, 25*time.Millisecond, func() bool {
		r := c.get(t, base, "/v1/jobs/"+id)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.NoError(t, json.Unmarshal(r.body, &j))
		return j.Status == "done"
	}), "job %s not done: %+v", id, j.Counts)
	return j
}

// results reads every page of a job's results, following Link.
func results(t *testing.T, c *govClient, base, id string, limit int) []gateway.JobResultLine {
	t.Helper()
	var out []gateway.JobResultLine
	path := fmt.Sprintf("/v1/jobs/%s/results?limit=%d", id, limit)
	for path != "" {
		r := c.get(t, base, path)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		for sc.Scan() {
			var l gateway.JobResultLine
			require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
			out = append(out, l)
		}
		path = ""
		if link := r.header.Get("Link"); link != "" {
			require.True(t, strings.HasSuffix(link, `>; rel="next"`), link)
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	return out
}

// A bulk job through the whole gateway: submitted as JSON and as NDJSON,
// worked by River on the embedded SQLite store against the simulator over
// TLS, each indicator asked upstream once, results paged as NDJSON in the
// shape of /v1/lookup's, another client seeing nothing of it.
func TestBulkJobEndToEnd(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	other, otherHash := newGovToken(t)
	dir := t.TempDir()
	cfg := writeGovConfig(t, dir, s, hash, govCfg{
		cache:  "{ttl: 1h}",
		top:    "jobs: {workers: 3, max_items: 50, retry: {base: 10ms, max: 50ms}, poll_interval: 50ms}\n",
		client: fmt.Sprintf("  other:\n    token_sha256: %s\n    providers: [socialeye]\n", otherHash),
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)

	var inds []string
	for i := range 20 {
		inds = append(inds, fmt.Sprintf("bulk-%d.example.org", i))
	}
	body, err := json.Marshal(map[string]any{"indicators": append(inds, "not an indicator"), "type": "domain"})
	require.NoError(t, err)
	r := c.postBody(t, gw.url, "/v1/jobs", "application/json", string(body), "Idempotency-Key", "e2e-1")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var job gateway.JobResponse
	require.NoError(t, json.Unmarshal(r.body, &job))
	require.Equal(t, 21, job.Total)
	require.Equal(t, "/v1/jobs/"+job.ID, r.header.Get("Location"))

	again := c.postBody(t, gw.url, "/v1/jobs", "application/json", string(body), "Idempotency-Key", "e2e-1")
	require.Equal(t, http.StatusAccepted, again.status, string(again.body))
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Contains(t, string(again.body), job.ID)

	done := waitJob(t, c, gw.url, job.ID)
	require.Equal(t, 20, done.Counts.Done)
	require.Equal(t, 1, done.Counts.Failed)
	require.NotNil(t, done.FinishedAt)

	lines := results(t, c, gw.url, job.ID, 6)
	require.Len(t, lines, 21)
	stats := s.Sim.Stats()
	for i, l := range lines {
		require.Equal(t, i+1, l.Item)
		if l.Indicator == "not an indicator" {
			require.Equal(t, "failed", string(l.State))
			require.Nil(t, l.Provider)
			require.Equal(t, "https://intelgate.dev/problems/invalid-parameter", l.Error.Type)
			continue
		}
		require.Equal(t, "done", string(l.State))
		require.Equal(t, "socialeye", *l.Provider)
		require.Equal(t, "ok", l.Status)
		require.NotEmpty(t, l.Data)
		require.Equal(t, 1, stats.ByQuery[l.Normalized], "%s asked upstream once", l.Normalized)
	}

	// The same indicators as NDJSON: answered from the cache, no quota.
	nd := `"` + strings.Join(inds[:5], "\"\n\"") + "\"\n\n" + `{"indicator": "` + inds[5] + `"}` + "\n"
	r = c.postBody(t, gw.url, "/v1/jobs?type=domain", "application/x-ndjson", nd)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	require.NoError(t, json.Unmarshal(r.body, &job))
	require.Equal(t, 6, job.Total)
	waitJob(t, c, gw.url, job.ID)
	for _, l := range results(t, c, gw.url, job.ID, 0) {
		require.True(t, l.Cached, "item %d", l.Item)
	}
	require.Equal(t, stats.ByQuery, s.Sim.Stats().ByQuery, "cached answers complete items without spending quota")

	// Another client sees no such job.
	oc := newGovClient(t, other)
	govRequireProblem(t, oc.get(t, gw.url, "/v1/jobs/"+job.ID), http.StatusNotFound, "not-found")
	govRequireProblem(t, oc.get(t, gw.url, "/v1/jobs/"+job.ID+"/results"), http.StatusNotFound, "not-found")
}

// Bad submissions are refused whole with a precise problem; nothing is
// queued.
func TestBulkJobBadInput(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	dir := t.TempDir()
	cfg := writeGovConfig(t, dir, s, hash, govCfg{top: "jobs: {max_items: 3, max_body_bytes: 2KiB}\n"})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)

	cases := []struct {
		name, ctype, body string
		header            []string
		status            int
		slug, detail      string
	}{
		{"too many", "application/json", `{"indicators":["a.example","b.example","c.example","d.example"]}`, nil,
			http.StatusRequestEntityTooLarge, "too-many-items", "at most 3"},
		{"too many ndjson", "application/x-ndjson", "\"a.example\"\n\"b.example\"\n\"c.example\"\n\"d.example\"\n", nil,
			http.StatusRequestEntityTooLarge, "too-many-items", "at most 3"},
		{"body too large", "application/x-ndjson", strings.Repeat("\"a.example\"\n", 300), nil,
			http.StatusRequestEntityTooLarge, "request-too-large", "jobs.max_body_bytes"},
		{"malformed line", "application/x-ndjson", "\"a.example\"\nb.example\n", nil,
			http.StatusBadRequest, "invalid-parameter", "line 2"},
		{"empty", "application/json", `{"indicators":[]}`, nil, http.StatusBadRequest, "invalid-parameter", "at least one"},
		{"unknown field", "application/json", `{"indicator":["a.example"]}`, nil, http.StatusBadRequest, "invalid-parameter", "indicator"},
		{"unknown provider", "application/json", `{"indicators":["a.example"],"providers":["vt"]}`, nil,
			http.StatusBadRequest, "unknown-provider", "vt"},
		{"bad tlp", "application/json", `{"indicators":["a.example"],"tlp":"purple"}`, nil, http.StatusBadRequest, "invalid-parameter", "tlp"},
		{"bad key", "application/json", `{"indicators":["a.example"]}`, []string{"Idempotency-Key", "has space"},
			http.StatusBadRequest, "invalid-parameter", "Idempotency-Key"},
		{"media type", "text/plain", "a.example", nil, http.StatusBadRequest, "invalid-parameter", "Content-Type"},
	}
	for _, tc := range cases {
		r := c.postBody(t, gw.url, "/v1/jobs", tc.ctype, tc.body, tc.header...)
		govRequireProblem(t, r, tc.status, tc.slug)
		require.Contains(t, string(r.body), tc.detail, tc.name)
	}
	r := c.postBody(t, gw.url, "/v1/jobs", "application/json", `{"indicators":["a.example"]}`, "Idempotency-Key", "k")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	r = c.postBody(t, gw.url, "/v1/jobs", "application/json", `{"indicators":["b.example"]}`, "Idempotency-Key", "k")
	govRequireProblem(t, r, http.StatusUnprocessableEntity, "idempotency-key-reused")
	govRequireProblem(t, c.get(t, gw.url, "/v1/jobs/job_nope"), http.StatusNotFound, "not-found")
	govRequireProblem(t, c.get(t, gw.url, "/v1/jobs/job_nope/results?limit=x"), http.StatusBadRequest, "invalid-parameter")
}

// A finished job's summary reaches its callback_url over real TLS, signed
// per Standard Webhooks with the client's secret; a dead item is listed
// in the dead-letter queue through the admin API, and retrying it (audited)
// brings it to done and announces the new finish.
func TestBulkJobCallbackAndDeadLetters(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	opsToken, opsHash := newGovToken(t)
	dir := t.TempDir()

	secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cb.secret"), []byte(secret+"\n"), 0o600))
	key, err := webhooksig.ParseKey(secret)
	require.NoError(t, err)
	type received struct {
		id      string
		payload jobs.Payload
	}
	got := make(chan received, 8)
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := webhooksig.Verifier{Keys: []webhooksig.Key{key}}.Verify(body, r.Header)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p jobs.Payload
		_ = json.Unmarshal(body, &p)
		got <- received{id, p}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "recv-ca.pem"), caPEM, 0o600))

	cfg := writeGovConfig(t, dir, s, hash, govCfg{
		top: "jobs: {max_attempts: 2, retry: {base: 10ms, max: 20ms}, poll_interval: 50ms, callback_ca_file: recv-ca.pem}\n",
		client: "    callbacks: {hosts: [127.0.0.1], secret: \"file:cb.secret\", allow_private: true}\n" +
			fmt.Sprintf("  ops: {token_sha256: %s, providers: [socialeye], admin: true}\n", opsHash),
		provider: "    retry: {max_attempts: 1}\n",
	})
	gw := runGovApp(t, cfg)
	c, ops := newGovClient(t, token), newGovClient(t, opsToken)

	// A callback target outside callbacks.hosts is refused at submission.
	r := c.postBody(t, gw.url, "/v1/jobs", "application/json", `{"indicators":["a.example"],"callback_url":"https://169.254.169.254/hook"}`)
	govRequireProblem(t, r, http.StatusBadRequest, "invalid-parameter")
	require.Contains(t, string(r.body), "callback_url")

	s.Sim.SetFaults(sim.Faults{ErrorRate: 1})
	body := fmt.Sprintf(`{"indicators":["dlq-a.example.org","dlq-b.example.org"],"type":"domain","callback_url":"%s/hook"}`, recv.URL)
	r = c.postBody(t, gw.url, "/v1/jobs", "application/json", body)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var job gateway.JobResponse
	require.NoError(t, json.Unmarshal(r.body, &job))
	done := waitJob(t, c, gw.url, job.ID)
	require.Equal(t, 2, done.Counts.Dead)

	first := <-got
	require.Equal(t, job.ID, first.payload.Job.ID)
	require.Equal(t, 2, first.payload.Job.Counts.Dead)
	require.True(t, govPoll(30*time.Second, 25*time.Millisecond, func() bool {
		r := c.get(t, gw.url, "/v1/jobs/"+job.ID)
		var j gateway.JobResponse
		return json.Unmarshal(r.body, &j) == nil && j.Callback != nil && j.Callback.State == "delivered"
	}))

	// The dead-letter queue, for admins only.
	govRequireProblem(t, c.get(t, gw.url, "/admin/v1/dlq"), http.StatusForbidden, "admin-required")
	r = ops.get(t, gw.url, "/admin/v1/dlq?provider=socialeye&job="+job.ID)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var dlq gateway.DLQResponse
	require.NoError(t, json.Unmarshal(r.body, &dlq))
	require.Len(t, dlq.Items, 2)
	require.Equal(t, "siem", dlq.Items[0].Client)
	require.Equal(t, 2, dlq.Items[0].Attempts)

	s.Sim.SetFaults(sim.Faults{})
	r = ops.postBody(t, gw.url, "/admin/v1/dlq/"+dlq.Items[0].ID+"/retry", "application/json", "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	govRequireProblem(t, ops.postBody(t, gw.url, "/admin/v1/dlq/"+dlq.Items[0].ID+"/retry", "application/json", ""),
		http.StatusNotFound, "not-found")
	r = ops.postBody(t, gw.url, "/admin/v1/dlq/retry", "application/json", `{"job":"`+job.ID+`"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"retried":1,"more":false}`, string(r.body))

	done = waitJob(t, c, gw.url, job.ID)
	require.Equal(t, 2, done.Counts.Done)
	// Each finish is announced under its own id (the first retry's item
	// may finish the job once more before the second is retried).
	ids := map[string]bool{first.id: true}
	for {
		next := <-got
		require.False(t, ids[next.id], "a new finish is a new webhook")
		ids[next.id] = true
		require.Equal(t, "done", string(next.payload.Job.Status))
		if next.payload.Job.Counts.Done == 2 {
			break
		}
	}

	lines := results(t, c, gw.url, job.ID, 0)
	require.Len(t, lines, 2)
	for _, l := range lines {
		require.Equal(t, "ok", l.Status)
	}

	gw.stop()
	var actions []string
	for _, rec := range ofKind(exportAll(t, openAuditOf(t, cfg)), audit.KindAdmin) {
		actions = append(actions, rec.Action+" by "+rec.By)
	}
	require.Contains(t, actions, "dlq_retry by ops")
	require.Contains(t, actions, "dlq_retry_all by ops")
}

// A provider's webhook end to end: the simulator signs it (Standard
// Webhooks), the gateway verifies it before reading it, stores and queues
// it before answering, answers a replay 200 without processing it again,
// purges the indicator the event names from that provider's cache, and
// forwards the event, signed, to the subscribed client; a bad signature
// is 401 and stores nothing.
func TestProviderWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	whSecret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	s := startGovSim(t, sim.Options{WebhookSecret: whSecret})
	token, hash := newGovToken(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wh.secret"), []byte(whSecret+"\n"), 0o600))
	cbSecret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cb.secret"), []byte(cbSecret+"\n"), 0o600))
	cbKey, err := webhooksig.ParseKey(cbSecret)
	require.NoError(t, err)

	type forwarded struct {
		id      string
		payload jobs.ForwardPayload
	}
	got := make(chan forwarded, 8)
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := webhooksig.Verifier{Keys: []webhooksig.Key{cbKey}}.Verify(body, r.Header)
		if err != nil || r.URL.Path != "/events" {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		var p jobs.ForwardPayload
		_ = json.Unmarshal(body, &p)
		got <- forwarded{id, p}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "recv-ca.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw}), 0o600))

	cfg := writeGovConfig(t, dir, s, hash, govCfg{
		cache:    "{ttl: 1h}",
		top:      "jobs: {retry: {base: 10ms, max: 20ms}, poll_interval: 50ms, callback_ca_file: recv-ca.pem}\n",
		provider: "    webhooks: {scheme: standard, secrets: [\"file:wh.secret\"], purge_pointer: /data/indicator, subscribers: [siem]}\n",
		client:   fmt.Sprintf("    callbacks: {hosts: [127.0.0.1], secret: \"file:cb.secret\", allow_private: true, events_url: \"%s/events\"}\n", recv.URL),
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)
	const ind = "wh-changed.example.org"
	lookupCached := func() bool {
		r := c.get(t, gw.url, "/v1/lookup?indicator="+ind+"&type=domain")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var res gateway.LookupResponse
		require.NoError(t, json.Unmarshal(r.body, &res))
		return res.Results[0].Cached
	}
	require.False(t, lookupCached())
	require.True(t, lookupCached())

	emit := func(id string) int {
		t.Helper()
		body := fmt.Sprintf(`{"url":"%s/v1/webhooks/socialeye","scheme":"standard","id":"%s","event":{"type":"indicator.updated","data":{"indicator":"%s"}}}`,
			gw.url, id, ind)
		req, err := http.NewRequest(http.MethodPost, s.URL+"/_sim/emit", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}, Timeout: 30 * time.Second}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct {
			Status int `json:"status"`
		}
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.NoError(t, json.Unmarshal(b, &out), string(b))
		return out.Status
	}

	// A bad signature: refused, nothing stored (the same id is new later).
	r := c.postBody(t, gw.url, "/v1/webhooks/socialeye", "application/json", `{"data":{"indicator":"x.example"}}`,
		"webhook-id", "msg_e2e", "webhook-timestamp", fmt.Sprint(time.Now().Unix()), "webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	govRequireProblem(t, r, http.StatusUnauthorized, "invalid-signature")
	govRequireProblem(t, c.postBody(t, gw.url, "/v1/webhooks/nope", "application/json", `{}`), http.StatusNotFound, "not-found")

	require.Equal(t, http.StatusAccepted, emit("msg_e2e"))
	require.Equal(t, http.StatusOK, emit("msg_e2e"), "a replay is acknowledged, not processed again")

	fw := <-got
	require.Equal(t, "provider.event", fw.payload.Type)
	require.Equal(t, "socialeye", fw.payload.Provider)
	require.JSONEq(t, `{"type":"indicator.updated","data":{"indicator":"`+ind+`"}}`, string(fw.payload.Event))
	require.True(t, strings.HasPrefix(fw.id, "ev_") && strings.HasSuffix(fw.id, "_siem"), fw.id)

	// The event purged the indicator from socialeye's cache: the next
	// lookup asks upstream again.
	require.True(t, govPoll(30*time.Second, 25*time.Millisecond, func() bool { return !lookupCached() }))
	require.Equal(t, 2, s.Sim.Stats().ByQuery[ind])
	select {
	case again := <-got:
		t.Fatalf("the replay was forwarded again: %s", again.id)
	case <-time.After(200 * time.Millisecond):
	}
}
