package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/intelgate/intelgate/client"
)

// fakeGateway answers like intelgate would, so the examples run offline.
func fakeGateway() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/lookup", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer igt_example" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"type":"https://intelgate.dev/problems/unauthenticated","title":"Authentication required","status":401,"detail":"missing or invalid bearer token","request_id":"req-2"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-1")
		fmt.Fprintf(w, `{"indicator":%q,"type":"ipv4","normalized":"8.8.8.8","results":[
			{"provider":"socialeye","status":"ok","cached":false,"stale":false,"fetched_at":"2026-11-27T10:00:00Z","data":{"asn":15169}},
			{"provider":"otx","status":"error","cached":false,"stale":false,"error":{"type":"https://intelgate.dev/problems/upstream-timeout","title":"Upstream timed out","status":504,"detail":"no answer within 30s"}}]}`,
			r.URL.Query().Get("indicator"))
	})
	mux.HandleFunc("GET /v1/resolve", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Intelgate-Cache", "hit")
		w.Header().Set("Age", "120")
		w.Header().Set("X-Request-Id", "req-3")
		fmt.Fprintf(w, `{"query":%q,"profiles":[]}`, r.URL.Query().Get("query"))
	})
	mux.HandleFunc("GET /v1/quota", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"client":{"name":"siem","environment":"prod","day":{"limit":5000,"used":12,"remaining":4988,"resets_at":"2026-11-28T00:00:00Z"}},
			"providers":[{"provider":"socialeye","breaker":"closed","keys":[{"id":"prod-1","revoked":false,
			"paused_until":"2026-11-27T10:00:05Z","rate":{"rate":10,"per_second":10,"period":"1s","burst":9,"configured_burst":10,"remaining":3},
			"month":{"limit":250000,"used":9120,"remaining":240880,"resets_at":"2026-12-01T00:00:00Z"}}]}]}`)
	})
	jobRoutes(mux)
	return httptest.NewServer(mux)
}

// jobRoutes answers the bulk job endpoints: a job of two items, done at
// once, its results on two pages.
func jobRoutes(mux *http.ServeMux) {
	const job = `{"id":"job_7f","status":"%s","total":2,"counts":{"queued":0,"running":0,"done":2,"failed":0,"dead":0,"withheld":0},
		"type":"domain","providers":["socialeye"],"tlp":"amber","pap":"amber","created_at":"2026-11-27T10:00:00Z",
		"finished_at":"2026-11-27T10:00:03Z","results":"/v1/jobs/job_7f/results"}`
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, job, "queued")
	})
	mux.HandleFunc("GET /v1/jobs/job_7f", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, job, "done")
	})
	mux.HandleFunc("GET /v1/jobs/job_7f/results", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		line := `{"item":%d,"state":"done","indicator":"%s","type":"domain","normalized":"%[2]s","provider":"socialeye",` +
			`"status":"ok","cached":false,"stale":false,"fetched_at":"2026-11-27T10:00:02Z","data":{"seen":true},"error":null}` + "\n"
		if r.URL.Query().Get("after") == "" {
			w.Header().Set("Link", `</v1/jobs/job_7f/results?after=1&limit=1>; rel="next"`)
			fmt.Fprintf(w, line, 1, "evil.example")
			return
		}
		fmt.Fprintf(w, line, 2, "bad.example")
	})
}

func ExampleClient_Quota() {
	gw := fakeGateway()
	defer gw.Close()
	c, _ := client.New(gw.URL, "igt_example")

	q, err := c.Quota(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d requests left today\n", q.Client.Name, q.Client.Day.Remaining)
	for _, p := range q.Providers {
		for _, k := range p.Keys {
			fmt.Printf("%s/%s breaker=%s rate-now=%d burst=%d/%d month-left=%d paused-until=%s\n", p.Provider, k.ID, p.Breaker,
				k.Rate.Remaining, k.Rate.Burst, k.Rate.ConfiguredBurst, k.Month.Remaining, k.PausedUntil.Format(time.RFC3339))
		}
	}
	// Output:
	// siem: 4988 requests left today
	// socialeye/prod-1 breaker=closed rate-now=3 burst=9/10 month-left=240880 paused-until=2026-11-27T10:00:05Z
}

func ExampleNew() {
	// Plain http is refused for anything but loopback: the token would
	// cross the network in clear text.
	_, err := client.New("http://intelgate.example.com", "igt_example")
	fmt.Println(err)

	c, err := client.New("https://intelgate.example.com", "igt_example",
		client.WithMaxAttempts(5),
		client.WithMaxWait(10*time.Second),
		client.WithUserAgent("siem-enricher/2.1"),
	)
	fmt.Println(c != nil, err)
	// Output:
	// invalid base URL "http://intelgate.example.com": plain http is only allowed to a loopback host (use https, or WithInsecureHTTP to send the token in clear text)
	// true <nil>
}

func ExampleClient_Lookup() {
	gw := fakeGateway()
	defer gw.Close()

	c, err := client.New(gw.URL, "igt_example")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := c.Lookup(ctx, "8[.]8[.]8[.]8", &client.LookupOptions{Providers: []string{"socialeye", "otx"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Type, res.Normalized, res.RequestID)
	for _, r := range res.Results {
		switch r.Status {
		case client.StatusOK:
			fmt.Println(r.Provider, r.Status, string(r.Data))
		case client.StatusError:
			fmt.Println(r.Provider, r.Status, r.Error.Title)
		}
	}
	// Output:
	// ipv4 8.8.8.8 req-1
	// socialeye ok {"asn":15169}
	// otx error Upstream timed out
}

func ExampleClient_Lookup_errors() {
	gw := fakeGateway()
	defer gw.Close()

	c, _ := client.New(gw.URL, "igt_revoked")
	_, err := c.Lookup(context.Background(), "8.8.8.8", nil)

	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Title, e.RequestID)
	}
	fmt.Println(client.IsUnauthenticated(err), client.IsRateLimited(err))
	// Output:
	// 401 Authentication required req-2
	// true false
}

func ExampleClient_Resolve() {
	gw := fakeGateway()
	defer gw.Close()

	c, _ := client.New(gw.URL, "igt_example")
	res, err := c.Resolve(context.Background(), "alice@example.com", "email")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(res.Data))
	fmt.Println(res.Cache, res.Age, res.RequestID)
	// Output:
	// {"query":"alice@example.com","profiles":[]}
	// hit 2m0s req-3
}

func ExampleClient_SubmitJob() {
	gw := fakeGateway()
	defer gw.Close()
	c, _ := client.New(gw.URL, "igt_example")
	ctx := context.Background()

	job, err := c.SubmitJob(ctx, []string{"evil.example", "bad.example"}, client.JobOptions{
		Type:           "domain",
		Providers:      []string{"socialeye"},
		IdempotencyKey: "nightly-2026-11-27", // optional: without it the SDK makes one per call
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(job.ID, job.Status, job.Total)

	job, err = c.WaitJob(ctx, job.ID, 5*time.Second, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(job.Status, job.Counts.Done, "done")

	for line, err := range c.JobResults(ctx, job.ID, 1) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(line.Item, line.Indicator, *line.Provider, line.Status, string(line.Data))
	}
	// Output:
	// job_7f queued 2
	// done 2 done
	// 1 evil.example socialeye ok {"seen":true}
	// 2 bad.example socialeye ok {"seen":true}
}
