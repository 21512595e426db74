package lookup_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// refusing is a provider that refuses the secrets in refused (401) and
// answers everything else; when gate is set each call waits for it.
type refusing struct {
	refused map[string]bool
	gate    chan struct{}
}

func (refusing) Name() string                 { return "se" }
func (refusing) Supports(indicator.Type) bool { return true }
func (p refusing) Lookup(ctx context.Context, _ provider.Request, key secret.Value) (provider.Result, error) {
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return provider.Result{}, ctx.Err()
		}
	}
	if p.refused[key.Reveal()] {
		return provider.Result{}, &upstream.Error{Kind: upstream.KindAuth, Status: http.StatusUnauthorized}
	}
	return provider.Result{Data: json.RawMessage(`{"ok":true}`), Status: 200}, nil
}

// CheckAuth is the fixed auth check: it agrees with Lookup about each key.
func (p refusing) CheckAuth(_ context.Context, key secret.Value) error {
	if p.refused[key.Reveal()] {
		return &upstream.Error{Kind: upstream.KindAuth, Status: http.StatusUnauthorized}
	}
	return nil
}

// routed is the Caller of one pipeline (internal/app routes by name).
type routed struct{ p *pipeline.Pipeline }

func (r routed) Call(ctx context.Context, _, env string, req provider.Request) (pipeline.Outcome, error) {
	return r.p.Lookup(ctx, env, req)
}

// stack is the lookup service over a real pipeline, governor and breaker,
// with one recording observer on both.
func stack(t *testing.T, prov refusing, keys ...string) (*lookup.Service, *observetest.Recorder, *pipeline.Pipeline) {
	t.Helper()
	rec := &observetest.Recorder{}
	var pool []govern.Key
	for _, k := range keys {
		pool = append(pool, govern.Key{ID: k, Environment: "prod", Value: secret.NewValue("secret-" + k)})
	}
	gov, err := govern.New(govern.Options{State: memory.New(memory.Options{})},
		[]govern.Policy{{Provider: "se", Keys: pool}}, nil)
	require.NoError(t, err)
	pl, err := pipeline.New(pipeline.Options{Provider: prov, Governor: gov, Breaker: resilience.NewBreaker("se", resilience.BreakerSettings{}),
		Retry: resilience.Policy{MaxAttempts: 1}, Check: prov, Observer: rec})
	require.NoError(t, err)
	s, err := lookup.New(lookup.Options{Providers: []provider.Provider{prov}, ResolveProvider: "se",
		Caller: routed{pl}, Admit: gov, Observer: rec})
	require.NoError(t, err)
	return s, rec, pl
}

var analyst = lookup.Identity{Client: "soar", Environment: "prod", Providers: []string{"se"}, RequestID: "rq-7"}

func TestObserverSeesEveryStepOfALookup(t *testing.T) {
	t.Parallel()
	s, rec, _ := stack(t, refusing{}, "k1")
	res, err := s.Lookup(context.Background(), analyst, lookup.Request{Indicator: "8.8.8.8"})
	require.NoError(t, err)
	require.Equal(t, lookup.StatusOK, res.Outcomes[0].Status)

	require.Equal(t, []string{"admitted", "governor", "attempt", "finished"}, rec.Steps())
	ev := rec.Events()
	require.Equal(t, observe.Admitted{Client: "soar", Environment: "prod", RequestID: "rq-7", Operation: "lookup",
		Providers: []string{"se"}}, ev[0])
	gw := ev[1].(observe.GovernorWaited)
	require.Equal(t, "se", gw.Provider)
	require.Equal(t, "k1", gw.KeyID)
	require.Equal(t, "acquired", gw.Outcome)
	at := ev[2].(observe.Attempted)
	require.Equal(t, observe.Attempted{Provider: "se", KeyID: "k1", Attempt: 1, UpstreamStatus: 200, Latency: at.Latency}, at)
	fin := ev[3].(observe.Finished)
	require.Equal(t, observe.Finished{Client: "soar", Environment: "prod", RequestID: "rq-7", Operation: "lookup",
		Provider: "se", KeyID: "k1", Status: "ok", Attempts: 1, UpstreamStatus: 200, Latency: fin.Latency, Units: 1,
		Cache: "off"}, fin)
}

func TestObserverSeesARefusedLookup(t *testing.T) {
	t.Parallel()
	s, rec, _ := stack(t, refusing{}, "k1")
	outsider := analyst
	outsider.Providers = nil
	_, err := s.Resolve(context.Background(), outsider, lookup.ResolveRequest{Query: "x"})
	require.Error(t, err)
	require.Equal(t, []observe.Event{observe.Refused{Client: "soar", Environment: "prod", RequestID: "rq-7",
		Operation: "resolve", Kind: "forbidden"}}, rec.Events(), "nothing else happened: no wait, no attempt")
}

// A coalesced lookup: two callers, one governor wait and one upstream
// attempt, two results — one of them shared, with the call's facts.
func TestObserverSeesACoalescedLookup(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	s, rec, pl := stack(t, refusing{gate: gate}, "k1")
	var wg sync.WaitGroup
	results := make([]lookup.Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			id := analyst
			id.RequestID = []string{"first", "second"}[i]
			results[i], errs[i] = s.Lookup(context.Background(), id, lookup.Request{Indicator: "evil.example"})
		})
	}
	// Both callers wait on the one call before it may answer.
	ind, err := indicator.Parse("evil.example", indicator.Auto)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return pl.Waiters("prod", provider.Request{Indicator: ind}) == 2
	}, 10*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	require.Len(t, observetest.Of[observe.GovernorWaited](rec), 1)
	require.Len(t, observetest.Of[observe.Attempted](rec), 1, "one upstream call for both")
	fins := observetest.Of[observe.Finished](rec)
	require.Len(t, fins, 2)
	shared, units := 0, 0
	for _, f := range fins {
		require.Equal(t, "ok", f.Status)
		require.Equal(t, "k1", f.KeyID, "a shared result names the key of the call it shared")
		units += f.Units
		if f.Shared {
			shared++
			require.Zero(t, f.Attempts, "the call is counted once, for the caller that made it")
		} else {
			require.Equal(t, 1, f.Attempts)
		}
	}
	require.Equal(t, 1, shared, "exactly one caller joined the other's call")
	require.Equal(t, 1, units, "one upstream call, one unit, however many waited for it")
	ids := []string{fins[0].RequestID, fins[1].RequestID}
	require.ElementsMatch(t, []string{"first", "second"}, ids, "each caller's result is its own")
}

// A failed-over key: the first key is refused, confirmed by the auth check
// and revoked, and the same lookup is answered with the next key.
func TestObserverSeesAFailedOverKey(t *testing.T) {
	t.Parallel()
	s, rec, _ := stack(t, refusing{refused: map[string]bool{"secret-k1": true}}, "k1", "k2")
	res, err := s.Lookup(context.Background(), analyst, lookup.Request{Indicator: "8.8.8.8"})
	require.NoError(t, err)
	o := res.Outcomes[0]
	require.Equal(t, lookup.StatusOK, o.Status)
	require.Equal(t, "k2", o.KeyID)
	require.Equal(t, 2, o.Attempts)
	require.Equal(t, 2, o.Units, "the refused call was sent, and counted by the vendor")

	require.Equal(t, []string{"admitted", "governor", "attempt", "key_checked", "key_revoked", "governor", "attempt", "finished"}, rec.Steps())
	require.Equal(t, []observe.KeyChecked{{Provider: "se", KeyID: "k1", Reason: "suspect", Verdict: "refused",
		UpstreamStatus: http.StatusUnauthorized, Sent: true}}, observetest.Of[observe.KeyChecked](rec),
		"the auth check spent a unit too, reported apart from the lookup's")
	require.Equal(t, []observe.KeyRevoked{{Provider: "se", KeyID: "k1"}}, observetest.Of[observe.KeyRevoked](rec))
	atts := observetest.Of[observe.Attempted](rec)
	require.Equal(t, "k1", atts[0].KeyID)
	require.Equal(t, http.StatusUnauthorized, atts[0].UpstreamStatus)
	require.Equal(t, string(upstream.KindAuth), atts[0].Kind)
	require.Equal(t, "k2", atts[1].KeyID)
	require.Equal(t, 2, atts[1].Attempt)
	require.Empty(t, atts[1].Kind)
	waits := observetest.Of[observe.GovernorWaited](rec)
	require.Equal(t, []string{"k1", "k2"}, []string{waits[0].KeyID, waits[1].KeyID})
}
