package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/minimise"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/upstream"
)

// mapTier is the smallest Tier honouring Expires on an injected clock:
// these tests are about the service's cache semantics, not a backend's
// (cachetest pins those).
type mapTier struct {
	clk  *clocktest.Clock
	mu   sync.Mutex
	m    map[cache.Key]cache.Entry
	puts int
}

func (t *mapTier) Get(_ context.Context, k cache.Key) (cache.Entry, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[k]
	if !ok || !e.Live(t.clk.Now()) {
		return cache.Entry{}, false, nil
	}
	return e, true, nil
}

func (t *mapTier) Put(_ context.Context, k cache.Key, e cache.Entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[k] = e
	t.puts++
	return nil
}

func (t *mapTier) Purge(_ context.Context, s cache.Scope) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k := range t.m {
		if s.Provider == "" || k.Provider == s.Provider {
			delete(t.m, k)
			n++
		}
	}
	return n, nil
}

func (t *mapTier) writes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.puts
}

var start = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

var basePolicy = cache.Policy{Enabled: true, TTL: time.Hour, NegativeTTL: 10 * time.Minute,
	TTLByType: map[string]time.Duration{"ipv4": 15 * time.Minute}, StaleIfError: 24 * time.Hour, MaxTTL: 48 * time.Hour}

type cacheRig struct {
	svc    *Service
	clk    *clocktest.Clock
	tier   *mapTier
	caller *fakeCaller
}

func newCacheRig(t *testing.T, pol cache.Policy, fn func(name string, req provider.Request) (pipeline.Outcome, error), w Withholder) *cacheRig {
	t.Helper()
	clk := clocktest.New(start)
	tier := &mapTier{clk: clk, m: map[cache.Key]cache.Entry{}}
	c, err := cache.New(cache.Options{Hot: tier, Clock: clk})
	require.NoError(t, err)
	caller := &fakeCaller{fn: fn}
	svc, err := New(Options{Providers: []provider.Provider{anything, hashes, ipOnly}, ResolveProvider: "socialeye",
		Caller: caller, Cache: c, Policies: map[string]cache.Policy{"socialeye": pol, "vt": pol, "ipdb": pol},
		Withhold: w, Clock: clk})
	require.NoError(t, err)
	return &cacheRig{svc: svc, clk: clk, tier: tier, caller: caller}
}

func (r *cacheRig) resolve(t *testing.T, id Identity, q string) Outcome {
	t.Helper()
	res, err := r.svc.Resolve(context.Background(), id, ResolveRequest{Query: q})
	require.NoError(t, err)
	return res.Outcomes[0]
}

func (r *cacheRig) calls() int {
	r.caller.mu.Lock()
	defer r.caller.mu.Unlock()
	return len(r.caller.calls)
}

// TestCacheTTL: a fresh entry is a hit with its own fetched_at; past its
// TTL the upstream is asked again and the entry renewed. The TTL is the
// provider's, its type's, or negative_ttl for not_found.
func TestCacheTTL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		query    string
		notFound bool
		ttl      time.Duration
	}{
		{"default ttl (domain)", "example.org", false, time.Hour},
		{"ttl_by_type (ipv4)", "8.8.8.8", false, 15 * time.Minute},
		{"negative_ttl (not_found)", "nobody.example", true, 10 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newCacheRig(t, basePolicy, func(name string, req provider.Request) (pipeline.Outcome, error) {
				if tc.notFound {
					return pipeline.Outcome{Result: provider.Result{NotFound: true}, Attempts: 1, Units: 1}, nil
				}
				return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"q":"` + req.Indicator.Value + `"}`)}, Attempts: 1, Units: 1}, nil
			}, nil)
			first := r.resolve(t, siem, tc.query)
			require.Equal(t, CacheMiss, first.Cache)
			require.Equal(t, 1, first.Units)
			fetched := first.FetchedAt

			r.clk.Advance(tc.ttl - time.Second)
			hit := r.resolve(t, siem, tc.query)
			require.Equal(t, CacheHit, hit.Cache, "within the TTL")
			require.Equal(t, 1, r.calls(), "a hit asks nobody")
			require.Equal(t, fetched, hit.FetchedAt, "a hit says when the upstream answered, not now")
			require.Zero(t, hit.Units, "a hit spends nothing")
			if tc.notFound {
				require.Equal(t, StatusNotFound, hit.Status)
			} else {
				require.JSONEq(t, string(first.Data), string(hit.Data))
			}

			r.clk.Advance(time.Second)
			again := r.resolve(t, siem, tc.query)
			require.Equal(t, CacheMiss, again.Cache, "at the TTL the entry is no longer fresh")
			require.Equal(t, 2, r.calls())
			require.Equal(t, start.Add(tc.ttl), again.FetchedAt)
			require.Equal(t, CacheHit, r.resolve(t, siem, tc.query).Cache, "renewed")
		})
	}
}

// TestCacheMaxTTLCaps: retention.cache_max_ttl caps the provider's TTL.
func TestCacheMaxTTLCaps(t *testing.T) {
	t.Parallel()
	pol := basePolicy
	pol.TTL, pol.MaxTTL = 48*time.Hour, 2*time.Hour
	r := newCacheRig(t, pol, nil, nil)
	r.resolve(t, siem, "example.org")
	r.clk.Advance(2*time.Hour - time.Second)
	require.Equal(t, CacheHit, r.resolve(t, siem, "example.org").Cache)
	r.clk.Advance(time.Second)
	require.Equal(t, CacheMiss, r.resolve(t, siem, "example.org").Cache)
}

// TestCacheKeyScope: what may see an entry. Another environment (its own
// keys) never does; another client does unless the provider caches per
// client; another upstream type is another question.
func TestCacheKeyScope(t *testing.T) {
	t.Parallel()
	other := siem
	other.Client = "soar"
	otherEnv := siem
	otherEnv.Client, otherEnv.Environment = "staging-app", "staging"
	t.Run("environment", func(t *testing.T) {
		t.Parallel()
		r := newCacheRig(t, basePolicy, nil, nil)
		r.resolve(t, siem, "example.org")
		require.Equal(t, CacheMiss, r.resolve(t, otherEnv, "example.org").Cache)
		require.Equal(t, CacheHit, r.resolve(t, otherEnv, "example.org").Cache)
		require.Equal(t, []string{"prod", "staging"}, envsCalled(r.caller))
	})
	t.Run("shared between clients by default", func(t *testing.T) {
		t.Parallel()
		r := newCacheRig(t, basePolicy, nil, nil)
		r.resolve(t, siem, "example.org")
		require.Equal(t, CacheHit, r.resolve(t, other, "example.org").Cache)
	})
	t.Run("per_client", func(t *testing.T) {
		t.Parallel()
		pol := basePolicy
		pol.PerClient = true
		r := newCacheRig(t, pol, nil, nil)
		r.resolve(t, siem, "example.org")
		require.Equal(t, CacheMiss, r.resolve(t, other, "example.org").Cache)
		require.Equal(t, CacheHit, r.resolve(t, siem, "example.org").Cache)
	})
	t.Run("upstream type", func(t *testing.T) {
		t.Parallel()
		r := newCacheRig(t, basePolicy, nil, nil)
		r.resolve(t, siem, "example.org")
		res, err := r.svc.Resolve(context.Background(), siem, ResolveRequest{Query: "example.org", UpstreamType: "domain"})
		require.NoError(t, err)
		require.Equal(t, CacheMiss, res.Outcomes[0].Cache)
	})
	t.Run("lookup normalises before keying", func(t *testing.T) {
		t.Parallel()
		r := newCacheRig(t, basePolicy, nil, nil)
		_, err := r.svc.Lookup(context.Background(), siem, Request{Indicator: "EXAMPLE.org", Providers: []string{"vt"}})
		require.NoError(t, err)
		res, err := r.svc.Lookup(context.Background(), siem, Request{Indicator: "example[.]org", Providers: []string{"vt"}})
		require.NoError(t, err)
		require.Equal(t, CacheHit, res.Outcomes[0].Cache)
	})
}

func envsCalled(c *fakeCaller) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, x := range c.calls {
		out = append(out, x.env)
	}
	return out
}

// TestStaleIfError: when the provider cannot answer, an entry past its
// TTL but within stale_if_error stands in, marked stale; past that, or for
// a failure that is the request's own, the failure is the answer.
func TestStaleIfError(t *testing.T) {
	t.Parallel()
	failures := []struct {
		name      string
		err       error
		staleable bool
	}{
		{"breaker open", &resilience.OpenError{RetryAfter: 30 * time.Second}, true},
		{"upstream 5xx", &upstream.Error{Kind: upstream.KindUpstream, Status: http.StatusBadGateway, Detail: "502"}, true},
		{"upstream timeout", &upstream.Error{Kind: upstream.KindTimeout, Detail: "timeout"}, true},
		{"request rejected (400): the client's to fix", &upstream.Error{Kind: upstream.KindRejected, Status: http.StatusBadRequest, Detail: "400"}, false},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			failing := false
			r := newCacheRig(t, basePolicy, func(string, provider.Request) (pipeline.Outcome, error) {
				mu.Lock()
				defer mu.Unlock()
				if failing {
					return pipeline.Outcome{KeyID: "k1", Attempts: 1}, tc.err
				}
				return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"v":1}`)}, Attempts: 1}, nil
			}, nil)
			r.resolve(t, siem, "example.org")
			mu.Lock()
			failing = true
			mu.Unlock()

			r.clk.Advance(2 * time.Hour) // past the TTL, within stale_if_error
			o := r.resolve(t, siem, "example.org")
			if !tc.staleable {
				require.Equal(t, StatusError, o.Status)
				return
			}
			require.Equal(t, StatusOK, o.Status, "%+v", o.Failure)
			require.Equal(t, CacheStale, o.Cache)
			require.JSONEq(t, `{"v":1}`, string(o.Data))
			require.Equal(t, start, o.FetchedAt, "a stale answer says how old it is")
			require.Equal(t, "k1", o.KeyID, "the failed attempt is still reported")

			r.clk.Advance(22*time.Hour + time.Second) // now older than stale_if_error
			o = r.resolve(t, siem, "example.org")
			require.Equal(t, StatusError, o.Status, "too old to stand in")
		})
	}
}

// TestNothingButAnswersIsCached: errors are never kept; a provider with
// caching off keeps nothing; a call shared with another caller is written
// once, by the caller that made it.
func TestNothingButAnswersIsCached(t *testing.T) {
	t.Parallel()
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		r := newCacheRig(t, basePolicy, func(string, provider.Request) (pipeline.Outcome, error) {
			return pipeline.Outcome{}, &upstream.Error{Kind: upstream.KindMalformed, Detail: "bad json"}
		}, nil)
		require.Equal(t, StatusError, r.resolve(t, siem, "example.org").Status)
		require.Equal(t, StatusError, r.resolve(t, siem, "example.org").Status)
		require.Equal(t, 2, r.calls())
		require.Zero(t, r.tier.writes())
	})
	t.Run("cache disabled", func(t *testing.T) {
		t.Parallel()
		pol := basePolicy
		pol.Enabled = false
		r := newCacheRig(t, pol, nil, nil)
		require.Equal(t, CacheOff, r.resolve(t, siem, "example.org").Cache)
		require.Equal(t, CacheOff, r.resolve(t, siem, "example.org").Cache)
		require.Zero(t, r.tier.writes())
	})
	t.Run("no negative_ttl: not_found is not kept", func(t *testing.T) {
		t.Parallel()
		pol := basePolicy
		pol.NegativeTTL = 0
		r := newCacheRig(t, pol, func(string, provider.Request) (pipeline.Outcome, error) {
			return pipeline.Outcome{Result: provider.Result{NotFound: true}}, nil
		}, nil)
		r.resolve(t, siem, "example.org")
		require.Zero(t, r.tier.writes())
	})
	t.Run("shared call written once", func(t *testing.T) {
		t.Parallel()
		r := newCacheRig(t, basePolicy, func(string, provider.Request) (pipeline.Outcome, error) {
			return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{}`)}, Shared: true}, nil
		}, nil)
		o := r.resolve(t, siem, "example.org")
		require.True(t, o.Shared)
		require.Zero(t, r.tier.writes(), "the caller that made the call writes it")
	})
}

// TestRefresh: a client with allow_refresh gets a fresh answer (and
// spends a unit); one without is refused before anything is spent.
func TestRefresh(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t, basePolicy, nil, nil)
	r.resolve(t, siem, "example.org")
	_, err := r.svc.Resolve(context.Background(), siem, ResolveRequest{Query: "example.org", Refresh: true})
	var f *Failure
	require.True(t, errors.As(err, &f))
	require.Equal(t, KindRefreshForbidden, f.Kind)
	require.Equal(t, 1, r.calls())

	allowed := siem
	allowed.AllowRefresh = true
	res, err := r.svc.Resolve(context.Background(), allowed, ResolveRequest{Query: "example.org", Refresh: true})
	require.NoError(t, err)
	require.Equal(t, CacheBypass, res.Outcomes[0].Cache)
	require.Equal(t, 2, r.calls())
	require.Equal(t, 2, r.tier.writes(), "the fresh answer replaces the entry")
}

// staticWithholder withholds one value from one provider.
type staticWithholder struct{ provider, value string }

func (w staticWithholder) Check(p string, m minimise.Markings, ind indicator.Indicator) (string, bool) {
	if m.TLP == minimise.TLPRed {
		return "tlp", true
	}
	if p == w.provider && ind.Value == w.value {
		return "never_send.cidrs[private]", true
	}
	return "", false
}

// TestWithheld: a withheld provider is never called, cached or charged;
// the others still are. A resolve that is withheld is refused (422).
func TestWithheld(t *testing.T) {
	t.Parallel()
	admit := &fakeAdmitter{limit: 100}
	r := newCacheRig(t, basePolicy, nil, staticWithholder{"vt", "10.1.2.3"})
	r.svc.admit = admit
	res, err := r.svc.Lookup(context.Background(), siem, Request{Indicator: "10[.]1[.]2[.]3"})
	require.NoError(t, err)
	byProvider := map[string]Outcome{}
	for _, o := range res.Outcomes {
		byProvider[o.Provider] = o
	}
	require.Equal(t, StatusWithheld, byProvider["vt"].Status)
	require.Equal(t, "never_send.cidrs[private]", byProvider["vt"].Rule)
	require.Equal(t, StatusOK, byProvider["ipdb"].Status)
	require.ElementsMatch(t, []string{"ipdb", "socialeye"}, r.caller.providers())
	require.Len(t, admit.clients, 1)

	red := siem
	red.Markings = minimise.Markings{TLP: minimise.TLPRed}
	res, err = r.svc.Lookup(context.Background(), red, Request{Indicator: "8.8.8.8"})
	require.NoError(t, err)
	for _, o := range res.Outcomes {
		require.Equal(t, StatusWithheld, o.Status)
		require.Equal(t, "tlp", o.Rule)
	}
	require.Len(t, admit.clients, 1, "a request that reaches no provider is not charged")

	_, err = r.svc.Resolve(context.Background(), red, ResolveRequest{Query: "8.8.8.8"})
	var f *Failure
	require.True(t, errors.As(err, &f))
	require.Equal(t, KindWithheld, f.Kind)
	require.Contains(t, f.Detail, "rule tlp")
	require.NotContains(t, f.Detail, "8.8.8.8", "the detail names the rule, not the value")
	require.Len(t, r.caller.providers(), 2)
}

// TestPurgeScope: a purge names what it removes precisely; an indicator
// is purged in the forms a lookup and a resolve stored.
func TestPurgeScope(t *testing.T) {
	t.Parallel()
	providers := []string{"socialeye", "vt"}
	cases := []struct {
		name string
		req  PurgeRequest
		want cache.Scope
		kind Kind
	}{
		{"all", PurgeRequest{}, cache.Scope{}, ""},
		{"provider", PurgeRequest{Provider: "vt"}, cache.Scope{Provider: "vt"}, ""},
		{"indicator as typed and normalised", PurgeRequest{Provider: "vt", Indicator: "EXAMPLE[.]org"},
			cache.Scope{Provider: "vt", Indicators: []string{"EXAMPLE[.]org", "example.org"}}, ""},
		{"indicator already normal", PurgeRequest{Provider: "vt", Indicator: "8.8.8.8"},
			cache.Scope{Provider: "vt", Indicators: []string{"8.8.8.8"}}, ""},
		{"indicator without provider", PurgeRequest{Indicator: "8.8.8.8"}, cache.Scope{}, KindInvalidParameter},
		{"unknown provider", PurgeRequest{Provider: "nope"}, cache.Scope{}, KindUnknownProvider},
		{"control characters", PurgeRequest{Provider: "vt", Indicator: "a\x00b"}, cache.Scope{}, KindInvalidParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, f := PurgeScopeFor(providers, tc.req)
			if tc.kind != "" {
				require.NotNil(t, f)
				require.Equal(t, tc.kind, f.Kind)
				return
			}
			require.Nil(t, f)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestPurgeNeedsAdmin: the service itself refuses a purge by a client
// that is not an administrator, whatever transport asked.
func TestPurgeNeedsAdmin(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t, basePolicy, nil, nil)
	r.resolve(t, siem, "example.org")
	_, err := r.svc.Purge(context.Background(), siem, PurgeRequest{})
	var f *Failure
	require.True(t, errors.As(err, &f))
	require.Equal(t, KindAdminRequired, f.Kind)
	require.Equal(t, CacheHit, r.resolve(t, siem, "example.org").Cache)

	admin := siem
	admin.Admin = true
	n, err := r.svc.Purge(context.Background(), admin, PurgeRequest{Provider: "socialeye"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, CacheMiss, r.resolve(t, siem, "example.org").Cache)
}

// TestPurgeWinsOverAnInflightFetch: an answer fetched before a purge — with
// a key the purge's revocation condemned, say — is not written back after
// it, and a stale entry read before it does not stand in afterwards.
func TestPurgeWinsOverAnInflightFetch(t *testing.T) {
	t.Parallel()
	admin := siem
	admin.Admin = true
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := 0
	r := newCacheRig(t, basePolicy, func(string, provider.Request) (pipeline.Outcome, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"answer":"fetched-before-purge"}`)}}, nil
	}, nil)
	done := make(chan error, 1)
	go func() {
		_, err := r.svc.Resolve(context.Background(), siem, ResolveRequest{Query: "evil-host.com"})
		done <- err
	}()
	<-entered
	_, err := r.svc.Purge(context.Background(), admin, PurgeRequest{Provider: "socialeye"})
	require.NoError(t, err)
	close(release)
	require.NoError(t, <-done)
	require.Zero(t, r.tier.writes(), "the fetch that began before the purge wrote nothing")
	require.Equal(t, CacheMiss, r.resolve(t, siem, "evil-host.com").Cache)

	t.Run("stale", func(t *testing.T) {
		var mu sync.Mutex
		failing := false
		r := newCacheRig(t, basePolicy, func(string, provider.Request) (pipeline.Outcome, error) {
			mu.Lock()
			defer mu.Unlock()
			if failing {
				return pipeline.Outcome{}, &upstream.Error{Kind: upstream.KindUpstream, Status: http.StatusBadGateway}
			}
			return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{}`)}}, nil
		}, nil)
		r.resolve(t, siem, "evil-host.com")
		r.clk.Advance(2 * time.Hour)
		stale, ok := r.svc.cache.Get(context.Background(), cache.Key{Provider: "socialeye", Environment: "prod",
			Type: "domain", Indicator: "evil-host.com", UpstreamType: "auto"})
		require.True(t, ok)
		require.False(t, stale.Fresh(r.clk.Now()), "the entry is stale")
		epoch := r.svc.cache.Epoch("socialeye")
		_, err := r.svc.Purge(context.Background(), admin, PurgeRequest{Provider: "vt"})
		require.NoError(t, err)
		require.True(t, r.svc.cache.Current("socialeye", epoch), "another provider's purge leaves this one alone")
		_, err = r.svc.Purge(context.Background(), admin, PurgeRequest{})
		require.NoError(t, err)
		require.False(t, r.svc.cache.Current("socialeye", epoch), "a purge of all moves every provider's epoch")
		mu.Lock()
		failing = true
		mu.Unlock()
		require.Equal(t, StatusError, r.resolve(t, siem, "evil-host.com").Status, "purged: nothing to stand in")
	})
}

// TestPurgeOfOneIndicatorFindsEveryResolveForm: a resolve query is cached
// as typed but purged by its normalised form, however it was typed.
func TestPurgeOfOneIndicatorFindsEveryResolveForm(t *testing.T) {
	t.Parallel()
	admin := siem
	admin.Admin = true
	clk := clocktest.New(start)
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 1 << 20, Clock: clk})
	require.NoError(t, err)
	t.Cleanup(mem.Close)
	c, err := cache.New(cache.Options{Hot: mem, Clock: clk})
	require.NoError(t, err)
	svc, err := New(Options{Providers: []provider.Provider{anything}, ResolveProvider: "socialeye", Caller: &fakeCaller{},
		Cache: c, Policies: map[string]cache.Policy{"socialeye": basePolicy}, Clock: clk})
	require.NoError(t, err)
	forms := []string{"evil-host.com", "EVIL-HOST.com", "evil-host[.]com", "Evil-Host.Com", "hxxp://evil-host[.]com/x"}
	for _, q := range forms[:4] {
		_, err := svc.Resolve(context.Background(), siem, ResolveRequest{Query: q})
		require.NoError(t, err)
	}
	_, err = svc.Resolve(context.Background(), siem, ResolveRequest{Query: "unrelated.com"})
	require.NoError(t, err)
	n, err := svc.Purge(context.Background(), admin, PurgeRequest{Provider: "socialeye", Indicator: "evil-host.com"})
	require.NoError(t, err)
	require.Equal(t, 4, n, "every form of it, nothing else")
	for _, q := range forms[:4] {
		res, err := svc.Resolve(context.Background(), siem, ResolveRequest{Query: q})
		require.NoError(t, err)
		require.Equal(t, CacheMiss, res.Outcomes[0].Cache, q)
	}
	res, err := svc.Resolve(context.Background(), siem, ResolveRequest{Query: "unrelated.com"})
	require.NoError(t, err)
	require.Equal(t, CacheHit, res.Outcomes[0].Cache)
}

// brokenTier fails every call, as a full or read-only SQLite file or an
// unreachable Redis does.
type brokenTier struct{}

var errDiskFull = errors.New("database or disk is full")

func (brokenTier) Get(context.Context, cache.Key) (cache.Entry, bool, error) {
	return cache.Entry{}, false, errDiskFull
}
func (brokenTier) Put(context.Context, cache.Key, cache.Entry) error { return errDiskFull }
func (brokenTier) Purge(context.Context, cache.Scope) (int, error)   { return 0, errDiskFull }

// TestBrokenDurableTierNeverFailsALookup: the upstream answers, the
// failure is counted (and logged by the cache), nothing is served from it.
func TestBrokenDurableTierNeverFailsALookup(t *testing.T) {
	t.Parallel()
	rec := &observetest.Recorder{}
	c, err := cache.New(cache.Options{Durable: brokenTier{}, Observer: rec})
	require.NoError(t, err)
	caller := &fakeCaller{}
	svc, err := New(Options{Providers: []provider.Provider{anything}, ResolveProvider: "socialeye", Caller: caller,
		Cache: c, Policies: map[string]cache.Policy{"socialeye": basePolicy}})
	require.NoError(t, err)
	for range 2 {
		res, err := svc.Resolve(context.Background(), siem, ResolveRequest{Query: "example.org"})
		require.NoError(t, err)
		require.Equal(t, StatusOK, res.Outcomes[0].Status)
		require.Equal(t, CacheMiss, res.Outcomes[0].Cache)
	}
	require.Len(t, caller.calls, 2, "nothing could be kept: each lookup asks the upstream")
	reads := observetest.Of[observe.CacheRead](rec)
	require.NotEmpty(t, reads)
	for _, r := range reads {
		require.Equal(t, "error", r.Outcome)
	}
	writes := observetest.Of[observe.CacheWritten](rec)
	require.Len(t, writes, 2)
	for _, w := range writes {
		require.True(t, w.Err)
	}
}
