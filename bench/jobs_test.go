package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/pgtest"
)

// The bulk-job workloads (issue 11's benchmarks, docs/benchmarks.md).
const (
	// enqueueItems is the largest submission jobs.max_items allows by
	// default: one POST /v1/jobs of that many indicators.
	enqueueItems = 10000
	// A drain: drainN distinct indicators (nothing cached, nothing to
	// coalesce) through a provider limited to drainRate/s with a burst of
	// drainBurst, the simulator's limit and the gateway's alike. No
	// schedule finishes sooner than about drainN/drainRate.
	drainN     = 500
	drainRate  = 50
	drainBurst = 10
	// The interactive load beside a drain: interactiveClients analysts,
	// each sending a lookup, then pausing interactivePause — about a fifth
	// of the provider's rate in all, the share bulk work leaves them by
	// default. interactiveAlone lookups each make the baseline.
	interactiveClients = 2
	interactivePause   = 200 * time.Millisecond
	interactiveAlone   = 40
	// jobDeadline bounds one benchmark step; a step this slow is a failure.
	jobDeadline = 5 * time.Minute
)

// jobBackend is where a benchmark gateway keeps its jobs: the embedded
// default, or PostgreSQL (skipped without INTELGATE_TEST_POSTGRES_DSN).
type jobBackend struct {
	name string
	opts func(b *testing.B) stackOptions
}

var jobBackends = []jobBackend{
	{"sqlite", func(*testing.B) stackOptions { return stackOptions{} }},
	{"postgres", func(b *testing.B) stackOptions {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
		return stackOptions{storage: `{driver: postgres, dsn: "file:pg.dsn"}`,
			top: "encryption: {keys: [{id: bench, secret: \"file:data.key\"}]}\n",
			files: map[string][]byte{"pg.dsn": []byte(pgtest.DSN(b) + "\n"),
				"data.key": []byte(base64.StdEncoding.EncodeToString(key) + "\n")}}
	}},
}

// BenchmarkJobEnqueue reports items/s: how fast one POST /v1/jobs of
// enqueueItems indicators is validated, sealed and durably queued (the
// job's rows, its items and River's jobs, in one transaction) — the 202
// comes only once all of it is committed. The workers start on the items
// meanwhile, against an unlimited simulator, as they would in production.
func BenchmarkJobEnqueue(b *testing.B) {
	for _, be := range jobBackends {
		b.Run(be.name, func(b *testing.B) {
			s := startStack(b, be.opts(b))
			var took time.Duration
			for iter := range b.N {
				inds := indicators(fmt.Sprintf("enq%d", iter), enqueueItems)
				ctx, cancel := context.WithTimeout(context.Background(), jobDeadline)
				t0 := time.Now()
				_, err := s.submitJob(ctx, inds)
				took += time.Since(t0)
				cancel()
				if err != nil {
					b.Fatalf("submitting: %v", err)
				}
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(enqueueItems*b.N)/took.Seconds(), "items/s")
			b.ReportMetric(ms(took/time.Duration(b.N)), "submit_ms")
		})
	}
}

// BenchmarkJobDrain reports drain/floor: the time a job of drainN items
// takes to finish against a provider limited to drainRate/s, over the
// floor drainN/drainRate (1.00 is perfect; the burst the bucket starts
// with can take it a little below). beside_drain/floor is the same drain
// with an interactive load beside it; because those lookups spend units
// of the same rate, beside_drain/used_floor counts them too: the floor of
// drainN plus their calls (1.00: bulk work wasted none of what they left).
// p99_alone_ms is the interactive load's p99 on its own, p99_beside_ms
// beside the drain, and p99_beside/alone their ratio: bulk work leaves
// interactive lookups a reserve (jobs.interactive_share), so they should
// not wait for it.
func BenchmarkJobDrain(b *testing.B) {
	for _, be := range jobBackends {
		b.Run(be.name, func(b *testing.B) {
			floor := time.Duration(drainN) * time.Second / drainRate
			var alone, beside []time.Duration
			var drain, drainBeside, usedFloor time.Duration
			var sim429 float64
			for iter := range b.N {
				o := be.opts(b)
				o.simRate, o.simBurst = drainRate, drainBurst
				o.conns = interactiveClients + 2
				o.limits = fmt.Sprintf("{rate: %d/s, burst: %d}", drainRate, drainBurst)
				s := startStack(b, o)
				ctx, cancel := context.WithTimeout(context.Background(), jobDeadline)

				// Warm up: connections to the gateway and upstream, the
				// store's first statements.
				for i := range interactiveClients * 2 {
					if err := s.resolve(ctx, fmt.Sprintf("warm%d-%d.example.org", iter, i)); err != nil {
						b.Fatalf("warming up: %v", err)
					}
				}
				lat, _ := s.interactive(ctx, fmt.Sprintf("alone%d", iter), nil)
				alone = append(alone, lat...)

				d, err := s.drain(ctx, indicators(fmt.Sprintf("drain%d", iter), drainN))
				if err != nil {
					b.Fatalf("drain: %v", err)
				}
				drain += d

				done := make(chan struct{})
				var lat2 []time.Duration
				var calls int
				var wg sync.WaitGroup
				wg.Go(func() { lat2, calls = s.interactive(ctx, fmt.Sprintf("beside%d", iter), done) })
				d, err = s.drain(ctx, indicators(fmt.Sprintf("beside%d-job", iter), drainN))
				close(done)
				wg.Wait()
				cancel()
				if err != nil {
					b.Fatalf("drain beside interactive lookups: %v", err)
				}
				drainBeside += d
				usedFloor += time.Duration(drainN+calls) * time.Second / drainRate
				beside = append(beside, lat2...)
				sim429 += float64(s.sim.Sim.Stats().RateLimited)
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(floor.Seconds(), "floor_s")
			b.ReportMetric(drain.Seconds()/n/floor.Seconds(), "drain/floor")
			b.ReportMetric(drainBeside.Seconds()/n/floor.Seconds(), "beside_drain/floor")
			b.ReportMetric(drainBeside.Seconds()/usedFloor.Seconds(), "beside_drain/used_floor")
			pa, pb := percentile(alone, 99), percentile(beside, 99)
			b.ReportMetric(ms(percentile(alone, 50)), "p50_alone_ms")
			b.ReportMetric(ms(percentile(beside, 50)), "p50_beside_ms")
			b.ReportMetric(ms(pa), "p99_alone_ms")
			b.ReportMetric(ms(pb), "p99_beside_ms")
			b.ReportMetric(float64(pb)/float64(max(pa, time.Microsecond)), "p99_beside/alone")
			b.ReportMetric(sim429/n, "sim_429s")
		})
	}
}

// indicators are n distinct domain names under prefix.
func indicators(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d.example.com", prefix, i)
	}
	return out
}

// jobStatus is the part of GET /v1/jobs/{id} the benchmarks read.
type jobStatus struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Counts     struct {
		Done, Failed, Dead int
	} `json:"counts"`
}

// submitJob posts one JSON submission and returns its 202's job.
func (s *stack) submitJob(ctx context.Context, inds []string) (jobStatus, error) {
	body, err := json.Marshal(map[string]any{"indicators": inds})
	if err != nil {
		return jobStatus{}, err
	}
	var j jobStatus
	err = s.call(ctx, http.MethodPost, "/v1/jobs", body, http.StatusAccepted, &j)
	return j, err
}

// call sends one request to the gateway and decodes its JSON answer,
// which must have status want.
func (s *stack) call(ctx context.Context, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.gwURL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("sending request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// drain submits a job of inds and waits for it to finish, every item
// done; it returns the time from the job's creation to its finish, as the
// gateway recorded them (no polling interval in it).
func (s *stack) drain(ctx context.Context, inds []string) (time.Duration, error) {
	j, err := s.submitJob(ctx, inds)
	if err != nil {
		return 0, err
	}
	for j.FinishedAt == nil {
		if !wait(ctx, 20*time.Millisecond) {
			return 0, fmt.Errorf("job %s not finished: %+v", j.ID, j.Counts)
		}
		if err := s.call(ctx, http.MethodGet, "/v1/jobs/"+j.ID, nil, http.StatusOK, &j); err != nil {
			return 0, err
		}
	}
	if j.Counts.Done != len(inds) {
		return 0, fmt.Errorf("job %s: %d of %d items done (%d failed, %d dead)", j.ID, j.Counts.Done, len(inds), j.Counts.Failed, j.Counts.Dead)
	}
	return j.FinishedAt.Sub(j.CreatedAt), nil
}

// interactive runs the analysts' load: interactiveClients of them, each
// looking up a distinct indicator, then pausing interactivePause. With a
// nil until, each sends interactiveAlone lookups; otherwise they go on
// until it closes. It returns every lookup's latency (a 429 after the
// gateway's max_wait counts as its latency, the wait included) and how
// many lookups were sent.
func (s *stack) interactive(ctx context.Context, prefix string, until <-chan struct{}) ([]time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for c := range interactiveClients {
		wg.Go(func() {
			for i := 0; until != nil || i < interactiveAlone; i++ {
				if until != nil {
					select {
					case <-until:
						return
					default:
					}
				}
				t0 := time.Now()
				err := s.resolve(ctx, fmt.Sprintf("%s-c%d-%04d.example.org", prefix, c, i))
				d := time.Since(t0)
				if ctx.Err() != nil {
					return
				}
				if err != nil && statusOf(err) == 0 {
					return // the gateway is gone: the caller's drain reports why
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				if !wait(ctx, interactivePause) {
					return
				}
			}
		})
	}
	wg.Wait()
	return lat, len(lat)
}
