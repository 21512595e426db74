package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/jobs"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/postgres"
	"github.com/intelgate/intelgate/internal/store/sqlite"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// backends are the stores the queue runs on; PostgreSQL skips (through
// pgtest) without INTELGATE_TEST_POSTGRES_DSN.
var backends = map[string]func(t *testing.T) (store.Store, string){
	"sqlite": func(t *testing.T) (store.Store, string) {
		path := filepath.Join(t.TempDir(), "jobs.db")
		st, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st, path
	},
	"postgres": func(t *testing.T) (store.Store, string) {
		st, err := postgres.Open(t.Context(), pgtest.DSN(t), postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st, ""
	},
}

func eachBackend(t *testing.T, fn func(t *testing.T, st store.Store, file string)) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, file := open(t)
			fn(t, st, file)
		})
	}
}

// fakeLookups answers every lookup from a script keyed by indicator and
// counts the calls.
type fakeLookups struct {
	mu     sync.Mutex
	calls  map[string]int
	script func(ind string, call int) (lookup.Result, error)
}

func (f *fakeLookups) Providers() []string { return []string{"vt", "otx"} }

func (f *fakeLookups) Lookup(_ context.Context, id lookup.Identity, req lookup.Request) (lookup.Result, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[req.Indicator]++
	n := f.calls[req.Indicator]
	f.mu.Unlock()
	if f.script != nil {
		return f.script(req.Indicator, n)
	}
	return answer(req.Indicator), nil
}

func (f *fakeLookups) count(ind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[ind]
}

func answer(ind string) lookup.Result {
	in, _ := indicator.Parse(ind, indicator.Auto)
	return lookup.Result{Indicator: in, Providers: []string{"vt"}, Outcomes: []lookup.Outcome{{
		Provider: "vt", Status: lookup.StatusOK, Data: json.RawMessage(`{"seen":"` + in.Value + `"}`),
		FetchedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Cache: lookup.CacheMiss}}}
}

func failing(ind string, k lookup.Kind, retryAfter time.Duration) lookup.Result {
	in, _ := indicator.Parse(ind, indicator.Auto)
	return lookup.Result{Indicator: in, Providers: []string{"vt"}, Outcomes: []lookup.Outcome{{
		Provider: "vt", Status: lookup.StatusError, Failure: &lookup.Failure{Kind: k, Detail: "scripted", RetryAfter: retryAfter}}}}
}

type clients map[string]jobs.ClientState

func (c clients) Identity(name string) (lookup.Identity, jobs.ClientState) {
	s, ok := c[name]
	if !ok {
		return lookup.Identity{}, jobs.ClientUnknown
	}
	return lookup.Identity{Client: name, Providers: []string{"vt", "otx"}}, s
}

func keyring(t *testing.T) *seal.Keyring {
	t.Helper()
	kr, err := seal.NewKeyring([]seal.Key{{ID: "k1", Secret: []byte(strings.Repeat("k", 32))}})
	require.NoError(t, err)
	return kr
}

// start opens a queue on st and runs it until the test ends.
func start(t *testing.T, st store.Store, lk jobs.Lookups, o jobs.Options) *jobs.Queue {
	t.Helper()
	o.Store, o.Lookups = st, lk
	if o.Keyring == nil {
		o.Keyring = keyring(t)
	}
	if o.Clients == nil {
		o.Clients = clients{"siem": jobs.ClientActive, "soar": jobs.ClientActive}
	}
	o.RetryBase, o.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	o.FetchPollInterval = 50 * time.Millisecond
	q, err := jobs.Open(t.Context(), o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return q
}

// waitDone polls the job until every item is final. The deadline only
// bounds a broken queue; nothing is measured. It is generous because the
// pure-Go SQLite under -race on two busy cores was seen at over half a
// second per item, with every test and both backends in parallel.
func waitDone(t *testing.T, q *jobs.Queue, client, id string) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		j, err := q.Get(t.Context(), client, id)
		require.NoError(t, err)
		if j.Status == jobs.StatusDone {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not done: %+v", id, j.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allResults(t *testing.T, q *jobs.Queue, client, id string, limit int) []jobs.ItemResult {
	t.Helper()
	var out []jobs.ItemResult
	after := 0
	for {
		page, next, err := q.Results(t.Context(), client, id, after, limit)
		require.NoError(t, err)
		out = append(out, page...)
		if next == 0 {
			return out
		}
		require.Greater(t, next, after)
		after = next
	}
}

func TestJobRunsEveryItemOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, file string) {
		lk := &fakeLookups{}
		q := start(t, st, lk, jobs.Options{Workers: 3})
		var inds []string
		for i := range 20 {
			inds = append(inds, fmt.Sprintf("203.0.113.%d", i+1))
		}
		inds = append(inds, "not an indicator at all", "secret-prose.example")
		job, replayed, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: inds})
		require.NoError(t, err)
		require.False(t, replayed)
		require.Equal(t, len(inds), job.Total)
		require.True(t, strings.HasPrefix(job.ID, "job_"))

		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Done: 21, Failed: 1}, job.Counts)
		require.False(t, job.FinishedAt.IsZero())

		res := allResults(t, q, "siem", job.ID, 7)
		require.Len(t, res, len(inds))
		for i, r := range res {
			require.Equal(t, i+1, r.Seq)
			require.Equal(t, inds[i], r.Indicator)
			if r.Indicator == "not an indicator at all" {
				require.Equal(t, jobs.ItemFailed, r.State)
				require.Equal(t, lookup.KindInvalidParameter, r.Failure.Kind)
				require.Zero(t, lk.count(r.Indicator), "an invalid item is never looked up")
				continue
			}
			require.Equal(t, jobs.ItemDone, r.State)
			require.Len(t, r.Outcomes, 1)
			require.JSONEq(t, `{"seen":"`+r.Normalized+`"}`, string(r.Outcomes[0].Data))
			require.Equal(t, 1, lk.count(r.Indicator), "item %d looked up once", r.Seq)
		}

		// Another client sees no such job.
		_, err = q.Get(t.Context(), "soar", job.ID)
		require.ErrorIs(t, err, jobs.ErrNotFound)
		_, _, err = q.Results(t.Context(), "soar", job.ID, 0, 0)
		require.ErrorIs(t, err, jobs.ErrNotFound)

		if file != "" {
			// Nothing readable of a lookup is at rest: neither the
			// indicators nor the answers appear in the database file.
			require.NoError(t, st.Close())
			for _, suffix := range []string{"", "-wal"} {
				b, err := os.ReadFile(file + suffix)
				if os.IsNotExist(err) {
					continue
				}
				require.NoError(t, err)
				for _, s := range []string{"203.0.113.7", "secret-prose.example", `"seen"`} {
					require.NotContains(t, string(b), s, "%s%s holds %q in plaintext", filepath.Base(file), suffix, s)
				}
			}
		}
	})
}

func TestIdempotentSubmission(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		q := start(t, st, &fakeLookups{}, jobs.Options{})
		id := lookup.Identity{Client: "siem", Providers: []string{"vt"}}
		sub := jobs.Submission{Indicators: []string{"203.0.113.1", "203.0.113.2"}, IdempotencyKey: "batch-2026-12-02"}
		first, replayed, err := q.Submit(t.Context(), id, sub)
		require.NoError(t, err)
		require.False(t, replayed)
		again, replayed, err := q.Submit(t.Context(), id, sub)
		require.NoError(t, err)
		require.True(t, replayed)
		require.Equal(t, first.ID, again.ID)

		// A resubmission after the client lost the provider it named is
		// still answered with its job; a new job is held to the new scope.
		named := sub
		named.Providers, named.IdempotencyKey = []string{"vt"}, "named-provider"
		withVT, _, err := q.Submit(t.Context(), id, named)
		require.NoError(t, err)
		narrowed := lookup.Identity{Client: "siem", Providers: []string{"otx"}}
		again, replayed, err = q.Submit(t.Context(), narrowed, named)
		require.NoError(t, err)
		require.True(t, replayed)
		require.Equal(t, withVT.ID, again.ID)
		named.IdempotencyKey = "named-provider-2"
		_, _, err = q.Submit(t.Context(), narrowed, named)
		var f *lookup.Failure
		require.ErrorAs(t, err, &f)
		require.Equal(t, lookup.KindForbidden, f.Kind)

		// The same key with another body is refused; another client's
		// identical key is its own.
		other := sub
		other.Indicators = []string{"203.0.113.3"}
		_, _, err = q.Submit(t.Context(), id, other)
		require.ErrorIs(t, err, jobs.ErrIdempotencyReused)
		theirs, replayed, err := q.Submit(t.Context(), lookup.Identity{Client: "soar", Providers: []string{"vt"}}, sub)
		require.NoError(t, err)
		require.False(t, replayed)
		require.NotEqual(t, first.ID, theirs.ID)

		// Concurrent resubmissions make one job.
		sub.IdempotencyKey = "concurrent"
		ids := make(chan string, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				j, _, err := q.Submit(context.Background(), id, sub)
				if err == nil {
					ids <- j.ID
				} else {
					ids <- "error: " + err.Error()
				}
			})
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for v := range ids {
			seen[v] = true
		}
		require.Len(t, seen, 1, "%v", seen)
	})
}

func TestSubmissionBounds(t *testing.T) {
	t.Parallel()
	st, _ := backends["sqlite"](t)
	q := start(t, st, &fakeLookups{}, jobs.Options{MaxItems: 3})
	id := lookup.Identity{Client: "siem", Providers: []string{"vt"}}
	_, _, err := q.Submit(t.Context(), id, jobs.Submission{})
	require.ErrorIs(t, err, jobs.ErrEmpty)
	_, _, err = q.Submit(t.Context(), id, jobs.Submission{Indicators: []string{"a.example", "b.example", "c.example", "d.example"}})
	require.ErrorIs(t, err, jobs.ErrTooMany)
	require.ErrorContains(t, err, "at most 3")

	var f *lookup.Failure
	_, _, err = q.Submit(t.Context(), id, jobs.Submission{Indicators: []string{"a.example"}, Providers: []string{"otx"}})
	require.ErrorAs(t, err, &f)
	require.Equal(t, lookup.KindForbidden, f.Kind)
	_, _, err = q.Submit(t.Context(), id, jobs.Submission{Indicators: []string{"a.example"}, Providers: []string{"nope"}})
	require.ErrorAs(t, err, &f)
	require.Equal(t, lookup.KindUnknownProvider, f.Kind)
}

// A transient failure is retried; one that outlasts max_attempts leaves
// the item dead with its failure, and the job finishes.
func TestTransientFailuresRetryThenDie(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		lk := &fakeLookups{script: func(ind string, call int) (lookup.Result, error) {
			switch {
			case ind == "flaky.example" && call == 1:
				return failing(ind, lookup.KindUpstreamUnavailable, 0), nil
			case ind == "down.example":
				return failing(ind, lookup.KindUpstreamTimeout, 0), nil
			}
			return answer(ind), nil
		}}
		q := start(t, st, lk, jobs.Options{MaxAttempts: 3})
		job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"flaky.example", "down.example", "fine.example"}})
		require.NoError(t, err)
		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Done: 2, Dead: 1}, job.Counts)
		require.Equal(t, 2, lk.count("flaky.example"))
		require.Equal(t, 3, lk.count("down.example"), "max_attempts bounds the attempts")
		res := allResults(t, q, "siem", job.ID, 0)
		require.Equal(t, jobs.ItemDead, res[1].State)
		require.Equal(t, 3, res[1].Attempts)
		require.Len(t, res[1].Outcomes, 1)
		require.Equal(t, lookup.KindUpstreamTimeout, res[1].Outcomes[0].Failure.Kind)
		require.Equal(t, jobs.ItemDone, res[0].State)
	})
}

// A provider's rate limit puts the item off until its Retry-After: held
// by its worker when that is near, snoozed in the queue when it is not
// (beyond a second). Neither is an attempt, so an item put off more often
// than max_attempts still completes.
func TestRateLimitedItemsSnooze(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		lk := &fakeLookups{script: func(ind string, call int) (lookup.Result, error) {
			switch call {
			case 1:
				return failing(ind, lookup.KindUpstreamRateLimited, 1500*time.Millisecond), nil
			case 2, 3:
				return failing(ind, lookup.KindUpstreamRateLimited, time.Millisecond), nil
			}
			return answer(ind), nil
		}}
		m := &countingMeter{}
		q := start(t, st, lk, jobs.Options{MaxAttempts: 2, Meter: m})
		job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"busy.example"}})
		require.NoError(t, err)
		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Done: 1}, job.Counts)
		require.Equal(t, 4, lk.count("busy.example"))
		res := allResults(t, q, "siem", job.ID, 0)
		require.Equal(t, 1, res[0].Attempts, "snoozes are not attempts")
		require.Equal(t, map[string]int{"quota": 1, "quota_held": 2}, m.reasons())
		require.Equal(t, int64(1), m.started.Load(), "the queue wait is observed at the first start only, not after each snooze")
	})
}

// Retention deletes finished jobs in bounded batches, items first; a job
// still running stays whatever its age.
func TestSweepFinishedJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		cl := clients{"siem": jobs.ClientActive, "soar": jobs.ClientDisabled}
		q := start(t, st, &fakeLookups{}, jobs.Options{Clients: cl})
		done, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"a.example", "b.example", "c.example", "d.example", "e.example"}})
		require.NoError(t, err)
		waiting, _, err := q.Submit(t.Context(), lookup.Identity{Client: "soar", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"f.example"}})
		require.NoError(t, err)
		waitDone(t, q, "siem", done.ID)

		later := time.Now().Add(time.Hour)
		n, err := q.Sweep(t.Context(), time.Now().Add(-time.Hour), 100)
		require.NoError(t, err)
		require.Zero(t, n, "nothing finished before the cut-off")
		var total int64
		for {
			n, err := q.Sweep(t.Context(), later, 2)
			require.NoError(t, err)
			require.LessOrEqual(t, n, int64(2))
			total += n
			if n == 0 {
				break
			}
		}
		require.Equal(t, int64(6), total, "five items and their job")
		_, err = q.Get(t.Context(), "siem", done.ID)
		require.ErrorIs(t, err, jobs.ErrNotFound)
		j, err := q.Get(t.Context(), "soar", waiting.ID)
		require.NoError(t, err, "a disabled client's job waits and is kept")
		require.Equal(t, 1, j.Counts.Queued)
		require.Equal(t, jobs.StatusQueued, j.Status)
	})
}

// A dead item is listed in the dead-letter queue by provider and error,
// and a retry brings it to done.
func TestDeadLetterRetry(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		var up atomic.Bool
		lk := &fakeLookups{script: func(ind string, call int) (lookup.Result, error) {
			if strings.HasPrefix(ind, "down") && !up.Load() {
				return failing(ind, lookup.KindUpstreamTimeout, 0), nil
			}
			return answer(ind), nil
		}}
		q := start(t, st, lk, jobs.Options{MaxAttempts: 2})
		job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"down1.example", "fine.example", "down2.example"}})
		require.NoError(t, err)
		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Done: 1, Dead: 2}, job.Counts)

		dead, next, err := q.Dead(t.Context(), jobs.DeadFilter{Provider: "vt", Error: "upstream-timeout"}, "", 1)
		require.NoError(t, err)
		require.Len(t, dead, 1)
		require.Equal(t, jobs.DeadItemID(job.ID, 1), dead[0].ID)
		require.Equal(t, "siem", dead[0].Client)
		require.Equal(t, 2, dead[0].Attempts)
		require.NotEmpty(t, next)
		rest, next, err := q.Dead(t.Context(), jobs.DeadFilter{}, next, 10)
		require.NoError(t, err)
		require.Len(t, rest, 1)
		require.Empty(t, next)
		none, _, err := q.Dead(t.Context(), jobs.DeadFilter{Provider: "otx"}, "", 0)
		require.NoError(t, err)
		require.Empty(t, none)

		up.Store(true)
		require.NoError(t, q.Retry(t.Context(), dead[0].ID))
		require.ErrorIs(t, q.Retry(t.Context(), dead[0].ID), jobs.ErrNoDeadItem, "retried already")
		require.ErrorIs(t, q.Retry(t.Context(), jobs.DeadItemID(job.ID, 2)), jobs.ErrNoDeadItem, "never dead")
		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Done: 2, Dead: 1}, job.Counts)

		n, more, err := q.RetryAll(t.Context(), jobs.DeadFilter{Job: job.ID})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.False(t, more)
		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Done: 3}, job.Counts)
	})
}

// fakeDeliverer answers deliveries from a script and records them.
type fakeDeliverer struct {
	mu     sync.Mutex
	calls  []delivery
	script func(n int) (callback.Record, error)
}

type delivery struct {
	target, id string
	body       []byte
}

func (d *fakeDeliverer) Deliver(_ context.Context, target string, _ callback.Policy, _ webhooksig.Key, id string, body []byte) (callback.Record, error) {
	d.mu.Lock()
	d.calls = append(d.calls, delivery{target, id, body})
	n := len(d.calls)
	d.mu.Unlock()
	if d.script != nil {
		return d.script(n)
	}
	return callback.Record{Outcome: callback.Delivered, Class: callback.ClassDelivered, Status: 204, At: time.Now()}, nil
}

func (d *fakeDeliverer) deliveries() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

type callbacks map[string]callback.Policy

func (c callbacks) Target(client string) (callback.Policy, webhooksig.Key, bool) {
	p, ok := c[client]
	return p, webhooksig.Key{}, ok
}

func waitCallback(t *testing.T, q *jobs.Queue, id string, state jobs.CallbackState) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute) // as waitDone
	for {
		j, err := q.Get(t.Context(), "siem", id)
		require.NoError(t, err)
		if j.Callback != nil && j.Callback.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback of %s not %s: %+v", id, state, j.Callback)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCallbackOnFinish(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		d := &fakeDeliverer{script: func(n int) (callback.Record, error) {
			if n == 1 {
				rec := callback.Record{Outcome: callback.Retryable, Class: callback.ClassStatus, Status: 503, At: time.Now()}
				return rec, &callback.AttemptError{Record: rec}
			}
			return callback.Record{Outcome: callback.Delivered, Class: callback.ClassDelivered, Status: 200, At: time.Now()}, nil
		}}
		cbs := callbacks{"siem": {Hosts: []string{"hooks.example.com"}}}
		q := start(t, st, &fakeLookups{}, jobs.Options{Callbacks: cbs, Deliverer: d})
		id := lookup.Identity{Client: "siem", Providers: []string{"vt"}}

		var f *lookup.Failure
		_, _, err := q.Submit(t.Context(), id, jobs.Submission{Indicators: []string{"a.example"}, CallbackURL: "https://evil.example/hook"})
		require.ErrorAs(t, err, &f)
		require.Equal(t, "callback_url", f.Parameter)
		_, _, err = q.Submit(t.Context(), lookup.Identity{Client: "soar", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"a.example"}, CallbackURL: "https://hooks.example.com/hook"})
		require.ErrorAs(t, err, &f)
		require.Contains(t, f.Detail, "no callback_hosts")

		job, _, err := q.Submit(t.Context(), id, jobs.Submission{Indicators: []string{"a.example", "b.example"},
			CallbackURL: "https://hooks.example.com/hook"})
		require.NoError(t, err)
		job = waitCallback(t, q, job.ID, jobs.CallbackDelivered)
		require.Equal(t, 2, job.Callback.Attempts)
		require.Equal(t, 200, job.Callback.LastStatus)
		calls := d.deliveries()
		require.Len(t, calls, 2)
		require.Equal(t, calls[0].id, calls[1].id, "a retry keeps the webhook id: the receiver dedupes on it")
		require.Equal(t, job.Callback.WebhookID, calls[0].id)
		var p jobs.Payload
		require.NoError(t, json.Unmarshal(calls[1].body, &p))
		require.Equal(t, "job.finished", p.Type)
		require.Equal(t, job.ID, p.Job.ID)
		require.Equal(t, jobs.Counts{Done: 2}, p.Job.Counts)
		require.NotContains(t, string(calls[1].body), "a.example", "a callback carries no indicator")
	})
}

// A receiver that stays down: the delivery is retried, then recorded as
// failed in the job's status, and the results stay available.
func TestCallbackTargetDown(t *testing.T) {
	t.Parallel()
	st, _ := backends["sqlite"](t)
	d := &fakeDeliverer{script: func(int) (callback.Record, error) {
		rec := callback.Record{Outcome: callback.Retryable, Class: callback.ClassNetwork, At: time.Now()}
		return rec, &callback.AttemptError{Record: rec}
	}}
	q := start(t, st, &fakeLookups{}, jobs.Options{Callbacks: callbacks{"siem": {Hosts: []string{"hooks.example.com"}}},
		Deliverer: d, CallbackAttempts: 3})
	job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
		jobs.Submission{Indicators: []string{"a.example"}, CallbackURL: "https://hooks.example.com/hook"})
	require.NoError(t, err)
	job = waitCallback(t, q, job.ID, jobs.CallbackFailed)
	require.Equal(t, 3, job.Callback.Attempts)
	require.Equal(t, string(callback.ClassNetwork), job.Callback.LastError)
	require.Len(t, d.deliveries(), 3)
	res := allResults(t, q, "siem", job.ID, 0)
	require.Len(t, res, 1)
	require.Equal(t, jobs.ItemDone, res[0].State)
}

type fakeHandler struct {
	mu    sync.Mutex
	calls []string
}

func (h *fakeHandler) Process(_ context.Context, provider string, body []byte) (int, []string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, provider+":"+string(body))
	return 1, nil, nil
}

func (h *fakeHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// A received event is stored once per id, also when sent concurrently,
// processed once, and swept after retention.
func TestWebhookReceivedOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		h := &fakeHandler{}
		q := start(t, st, &fakeLookups{}, jobs.Options{Webhooks: h})
		results := make(chan bool, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				dup, err := q.ReceiveWebhook(context.Background(), "vt", "evt_1", []byte(`{"n":1}`))
				if err != nil {
					t.Error(err)
				}
				results <- dup
			})
		}
		wg.Wait()
		close(results)
		fresh := 0
		for dup := range results {
			if !dup {
				fresh++
			}
		}
		require.Equal(t, 1, fresh, "one of eight concurrent receipts stores the event")
		dup, err := q.ReceiveWebhook(t.Context(), "otx", "evt_1", []byte(`{"n":2}`))
		require.NoError(t, err)
		require.False(t, dup, "ids are per provider")

		deadline := time.Now().Add(5 * time.Minute) // as waitDone
		for h.count() < 2 {
			require.True(t, time.Now().Before(deadline), "events not processed")
			time.Sleep(20 * time.Millisecond)
		}
		// Swept once processed (the state is written just after Process
		// returns, with River's completion); a queued event is kept.
		var swept int64
		for swept < 2 {
			require.True(t, time.Now().Before(deadline), "events not swept")
			n, err := q.SweepWebhooks(t.Context(), time.Now().Add(time.Hour), 10)
			require.NoError(t, err)
			swept += n
			time.Sleep(10 * time.Millisecond)
		}
		require.Equal(t, int64(2), swept)
		dup, err = q.ReceiveWebhook(t.Context(), "vt", "evt_1", []byte(`{"n":1}`))
		require.NoError(t, err)
		require.False(t, dup, "after retention a replay is new again")
		require.Equal(t, 2, h.count(), "processed once each")
	})
}

// An attempt that ends without a result — here a panic, as a timeout or a
// crash would — does not leave its item queued for ever: River's extra
// attempt settles it dead, in the dead-letter queue, and nothing of the
// panic (which quotes the indicator) reaches River's tables.
func TestLostLastAttemptSettlesDead(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, file string) {
		lk := &fakeLookups{script: func(ind string, _ int) (lookup.Result, error) {
			panic("boom on " + ind)
		}}
		q := start(t, st, lk, jobs.Options{MaxAttempts: 1})
		job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"198.51.100.77"}})
		require.NoError(t, err)
		job = waitDone(t, q, "siem", job.ID)
		require.Equal(t, jobs.Counts{Dead: 1}, job.Counts)
		require.Equal(t, 1, lk.count("198.51.100.77"), "the settling attempt asks nobody")
		dead, _, err := q.Dead(t.Context(), jobs.DeadFilter{Job: job.ID}, "", 0)
		require.NoError(t, err)
		require.Len(t, dead, 1)
		require.Equal(t, string(lookup.KindInternal), dead[0].Error)
		var errs string
		require.NoError(t, st.ReadTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT coalesce(CAST(errors AS TEXT), '') FROM river_job LIMIT 1").Scan(&errs)
		}))
		require.NotContains(t, errs, "198.51.100.77", "a panic value in River's errors column")
		require.Contains(t, errs, "panicked")
	})
}

// On PostgreSQL a retention sweep running while a dead-letter retry puts
// an item back must not delete that item: the retry's transaction is
// played here by hand (lock the job, requeue the item, reopen the job),
// and the sweep is let run until it either ends or waits on it.
func TestSweepSparesARetryInFlight(t *testing.T) {
	t.Parallel()
	q, job, pool, retry, pid := lockedDeadJob(t)
	_, err := retry.Exec(t.Context(), `UPDATE job_items SET state = 'queued' WHERE job_id = $1`, job.ID)
	require.NoError(t, err)
	_, err = retry.Exec(t.Context(), `UPDATE jobs SET pending = pending + 1, finished_at = NULL WHERE id = $1`, job.ID)
	require.NoError(t, err)

	swept := make(chan error, 1)
	go func() {
		_, err := q.Sweep(context.Background(), time.Now().Add(time.Hour), 100)
		swept <- err
	}()
	deadline := time.Now().Add(time.Minute) // bounds a broken test only
	for waiting := 0; waiting == 0 && len(swept) == 0; {
		require.NoError(t, pool.QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&waiting))
		require.True(t, time.Now().Before(deadline), "the sweep neither ended nor waited")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, retry.Commit(t.Context()))
	require.NoError(t, <-swept)

	var items int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM job_items WHERE job_id = $1`, job.ID).Scan(&items))
	require.Equal(t, 1, items, "the sweep deleted an item a retry had put back")
}

// countingMeter counts what the queue reports.
type countingMeter struct {
	started atomic.Int64
	mu      sync.Mutex
	snoozed map[string]int
}

func (m *countingMeter) reasons() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.snoozed)
}

func (m *countingMeter) Submitted(int)                      {}
func (m *countingMeter) ItemStarted(time.Duration)          { m.started.Add(1) }
func (m *countingMeter) ItemFinished(string, time.Duration) {}
func (m *countingMeter) Snoozed(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.snoozed == nil {
		m.snoozed = map[string]int{}
	}
	m.snoozed[reason]++
}
func (m *countingMeter) Delivered(string, string) {}

// An item is never held into its attempt's deadline: with an item
// timeout too short to wait out the provider's Retry-After and still ask,
// it snoozes in the queue, and the timeout is not taken for a shutdown.
func TestHoldNeverOutlastsTheAttempt(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store, _ string) {
		lk := &fakeLookups{script: func(ind string, call int) (lookup.Result, error) {
			if call == 1 {
				return failing(ind, lookup.KindUpstreamRateLimited, 900*time.Millisecond), nil
			}
			return answer(ind), nil
		}}
		m := &countingMeter{}
		q := start(t, st, lk, jobs.Options{ItemTimeout: 2 * time.Second, Meter: m})
		job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
			jobs.Submission{Indicators: []string{"slow.example"}})
		require.NoError(t, err)
		require.Equal(t, jobs.Counts{Done: 1}, waitDone(t, q, "siem", job.ID).Counts)
		require.Equal(t, map[string]int{"quota": 1}, m.reasons())
	})
}

// A dead-letter retry takes its job's row lock before it touches the
// item: while something else (a retention sweep) holds the job's row, the
// retry waits without holding the item, so the two cannot deadlock.
func TestRetryLocksTheJobFirst(t *testing.T) {
	t.Parallel()
	q, job, pool, sweep, pid := lockedDeadJob(t)

	retried := make(chan error, 1)
	go func() { retried <- q.Retry(context.Background(), jobs.DeadItemID(job.ID, 1)) }()
	deadline := time.Now().Add(time.Minute) // bounds a broken test only
	for waiting := 0; waiting == 0; {
		require.NoError(t, pool.QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&waiting))
		require.True(t, time.Now().Before(deadline), "the retry did not wait for the job's row")
		require.Empty(t, retried, "the retry went ahead under another's lock of its job")
		time.Sleep(5 * time.Millisecond)
	}
	_, err := sweep.Exec(t.Context(), `SELECT seq FROM job_items WHERE job_id = $1 FOR UPDATE NOWAIT`, job.ID)
	require.NoError(t, err, "the waiting retry holds its item")
	require.NoError(t, sweep.Commit(t.Context()))
	require.NoError(t, <-retried)
}

// lockedDeadJob is the start of the PostgreSQL lock tests: a job whose one
// item died, and a transaction of the test's own (rolled back at the end
// unless committed) holding the job's row lock, with its backend's pid.
func lockedDeadJob(t *testing.T) (*jobs.Queue, jobs.Job, *pgxpool.Pool, pgx.Tx, int) {
	t.Helper()
	st, _ := backends["postgres"](t)
	lk := &fakeLookups{script: func(ind string, _ int) (lookup.Result, error) {
		return failing(ind, lookup.KindUpstreamTimeout, 0), nil
	}}
	q := start(t, st, lk, jobs.Options{MaxAttempts: 1})
	job, _, err := q.Submit(t.Context(), lookup.Identity{Client: "siem", Providers: []string{"vt"}},
		jobs.Submission{Indicators: []string{"down.example"}})
	require.NoError(t, err)
	require.Equal(t, jobs.Counts{Dead: 1}, waitDone(t, q, "siem", job.ID).Counts)

	pool := st.(interface{ Pool() *pgxpool.Pool }).Pool()
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	var pid int
	require.NoError(t, tx.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid))
	_, err = tx.Exec(t.Context(), `SELECT id FROM jobs WHERE id = $1 FOR UPDATE`, job.ID)
	require.NoError(t, err)
	return q, job, pool, tx, pid
}
