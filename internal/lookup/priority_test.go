package lookup

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
)

// prioCaller is a PriorityCaller that records each call's priority and
// answers from fn (nil: an answer).
type prioCaller struct {
	fn func(pri pipeline.Priority, req provider.Request) (pipeline.Outcome, error)

	mu   sync.Mutex
	pris []pipeline.Priority
}

func (c *prioCaller) Call(ctx context.Context, name, env string, req provider.Request) (pipeline.Outcome, error) {
	return c.CallAt(ctx, name, env, pipeline.Interactive, req)
}

func (c *prioCaller) CallAt(_ context.Context, name, _ string, pri pipeline.Priority, req provider.Request) (pipeline.Outcome, error) {
	c.mu.Lock()
	c.pris = append(c.pris, pri)
	c.mu.Unlock()
	if c.fn != nil {
		return c.fn(pri, req)
	}
	return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"from":"` + name + `"}`), Status: 200},
		KeyID: "k1", Attempts: 1, Units: 1, UpstreamStatus: 200}, nil
}

func (c *prioCaller) priorities() []pipeline.Priority {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pipeline.Priority(nil), c.pris...)
}

// bulkRefusal is what the governor answers bulk work with no capacity left
// beyond the interactive reserve.
var bulkRefusal = &govern.LimitedError{Scope: "provider", Name: "socialeye", Reason: "rate", RetryAfter: 1500 * time.Millisecond}

var bulkID = func() Identity { id := siem; id.Bulk = true; return id }()

func TestBulkIdentityCallsAtBulkPriority(t *testing.T) {
	t.Parallel()
	c := &prioCaller{}
	s := newService(t, c, nil, nil)
	req := Request{Indicator: "example.org", Providers: []string{"socialeye"}}
	_, err := s.Lookup(context.Background(), siem, req)
	require.NoError(t, err)
	_, err = s.Lookup(context.Background(), bulkID, req)
	require.NoError(t, err)
	require.Equal(t, []pipeline.Priority{pipeline.Interactive, pipeline.Bulk}, c.priorities())

	// A Caller without priorities still serves bulk work, as any lookup.
	plain := &fakeCaller{}
	res, err := newService(t, plain, nil, nil).Lookup(context.Background(), bulkID, req)
	require.NoError(t, err)
	require.Equal(t, StatusOK, res.Outcomes[0].Status)
}

// The jobs worker snoozes an item whose provider is upstream-rate-limited
// with a Retry-After: that is what a bulk refusal must come to.
func TestBulkRefusalIsUpstreamRateLimitedWithRetryAfter(t *testing.T) {
	t.Parallel()
	c := &prioCaller{fn: func(pri pipeline.Priority, _ provider.Request) (pipeline.Outcome, error) {
		if pri == pipeline.Bulk {
			return pipeline.Outcome{}, bulkRefusal
		}
		return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{}`), Status: 200}}, nil
	}}
	res, err := newService(t, c, nil, nil).Lookup(context.Background(), bulkID,
		Request{Indicator: "example.org", Providers: []string{"socialeye"}})
	require.NoError(t, err, "a provider's refusal is its outcome, not the request's")
	o := res.Outcomes[0]
	require.Equal(t, StatusError, o.Status)
	require.Equal(t, KindUpstreamRateLimited, o.Failure.Kind)
	require.Equal(t, bulkRefusal.RetryAfter, o.Failure.RetryAfter)
}

// newPrioCacheRig is newCacheRig with a PriorityCaller and no stale answers
// (a refusal must show as one).
func newPrioCacheRig(t *testing.T, c *prioCaller) *Service {
	t.Helper()
	clk := clocktest.New(start)
	tier := &mapTier{clk: clk, m: map[cache.Key]cache.Entry{}}
	ch, err := cache.New(cache.Options{Hot: tier, Clock: clk})
	require.NoError(t, err)
	pol := basePolicy
	pol.StaleIfError = 0
	svc, err := New(Options{Providers: []provider.Provider{anything}, Caller: c, Cache: ch,
		Policies: map[string]cache.Policy{"socialeye": pol}, Clock: clk})
	require.NoError(t, err)
	return svc
}

// A cached answer completes bulk work without a provider call, so without
// spending quota, even while the governor would refuse it.
func TestCachedAnswerServesBulkWithoutACall(t *testing.T) {
	t.Parallel()
	c := &prioCaller{fn: func(pri pipeline.Priority, _ provider.Request) (pipeline.Outcome, error) {
		if pri == pipeline.Bulk {
			return pipeline.Outcome{}, bulkRefusal
		}
		return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"n":1}`), Status: 200}, Units: 1}, nil
	}}
	s := newPrioCacheRig(t, c)
	id := siem
	id.Providers = []string{"socialeye"}
	bulk := id
	bulk.Bulk = true
	req := Request{Indicator: "example.org"}
	res, err := s.Lookup(context.Background(), id, req)
	require.NoError(t, err)
	require.Equal(t, CacheMiss, res.Outcomes[0].Cache)
	res, err = s.Lookup(context.Background(), bulk, req)
	require.NoError(t, err)
	require.Equal(t, StatusOK, res.Outcomes[0].Status)
	require.Equal(t, CacheHit, res.Outcomes[0].Cache)
	require.Zero(t, res.Outcomes[0].Units)
	require.Len(t, c.priorities(), 1, "no call for the bulk lookup")
}

// An interactive miss never joins a bulk fetch of the same key: had it
// joined one the governor then refused, it would have inherited the
// refusal. (The pipeline below shares one upstream call between them.)
func TestInteractiveMissDoesNotJoinABulkFetch(t *testing.T) {
	t.Parallel()
	gate, inBulk := make(chan struct{}), make(chan struct{})
	c := &prioCaller{fn: func(pri pipeline.Priority, _ provider.Request) (pipeline.Outcome, error) {
		if pri == pipeline.Bulk {
			close(inBulk)
			<-gate
			return pipeline.Outcome{}, bulkRefusal
		}
		return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"n":1}`), Status: 200}, Units: 1}, nil
	}}
	s := newPrioCacheRig(t, c)
	id := siem
	id.Providers = []string{"socialeye"}
	bulk := id
	bulk.Bulk = true
	req := Request{Indicator: "example.org"}
	bulkDone := make(chan Result, 1)
	go func() {
		res, _ := s.Lookup(context.Background(), bulk, req)
		bulkDone <- res
	}()
	<-inBulk // the bulk fetch is in flight, held
	res, err := s.Lookup(context.Background(), id, req)
	require.NoError(t, err)
	require.Equal(t, StatusOK, res.Outcomes[0].Status, "answered while the bulk fetch was still held")
	require.False(t, res.Outcomes[0].Shared)
	close(gate)
	b := <-bulkDone
	require.Equal(t, KindUpstreamRateLimited, b.Outcomes[0].Failure.Kind)
}
