package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// scriptedCheck is an auth check answering from a queue (nil, or an empty
// queue, is "accepted"); it records the keys it was asked about.
type scriptedCheck struct {
	mu      sync.Mutex
	answers []error
	keys    []string
}

func (c *scriptedCheck) CheckAuth(_ context.Context, key secret.Value) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, key.Reveal())
	if len(c.answers) == 0 {
		return nil
	}
	err := c.answers[0]
	c.answers = c.answers[1:]
	return err
}

func (c *scriptedCheck) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

func clientReq(client string) provider.Request {
	r := req
	r.Client = client
	return r
}

func revoked(t *testing.T, f *fixture, keyID string) bool {
	t.Helper()
	r, err := f.gov.Revoked(context.Background(), "se", keyID)
	require.NoError(t, err)
	return r
}

// A client chooses the indicator; a 403 on it is about the resource. Six
// refused lookups leave the key in rotation, cost one auth check, and the
// next ordinary lookup is served by the same key.
func TestClientChosenRefusalsDoNotRevoke(t *testing.T) {
	t.Parallel()
	forbidden := upErr(upstream.KindAuth, http.StatusForbidden, 0)
	check := &scriptedCheck{} // the key is fine
	f := newFixture(t, fixtureOptions{keys: 2, check: check, revokeOn: []int{401, 403},
		answers: []error{forbidden, forbidden, forbidden, forbidden, forbidden, forbidden}})
	for i := range 6 {
		_, err := f.p.Lookup(context.Background(), "prod", clientReq("mallory"))
		var ue *upstream.Error
		require.ErrorAs(t, err, &ue, "lookup %d gets the provider's error, not a pool-wide one", i)
		require.Equal(t, http.StatusForbidden, ue.Status)
		require.NotErrorIs(t, err, govern.ErrNoKeys)
	}
	require.Equal(t, 1, check.calls(), "one auth check per key per interval, however many refusals")
	require.False(t, revoked(t, f, "ka"))

	out, err := f.p.Lookup(context.Background(), "prod", req)
	res := out.Result
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(res.Data))
	require.Equal(t, "secret-a", f.prov.keys[len(f.prov.keys)-1], "the first key is still in rotation")
	require.Contains(t, f.log.String(), `"event":"upstream_key_cleared"`)
	require.Contains(t, f.log.String(), `"client":"mallory"`)

	// After the interval the next refusal may check again.
	f.clock.Advance(time.Minute)
	f.prov.mu.Lock()
	f.prov.answers = []error{forbidden}
	f.prov.mu.Unlock()
	_, _ = f.p.Lookup(context.Background(), "prod", req)
	require.Equal(t, 2, check.calls())
}

// With the default revoke_on ([401]) a 403 does not even make the key
// suspect: no check runs.
func TestDefaultRevokeOnIgnores403(t *testing.T) {
	t.Parallel()
	check := &scriptedCheck{answers: []error{upErr(upstream.KindAuth, 403, 0)}}
	f := newFixture(t, fixtureOptions{check: check, answers: []error{upErr(upstream.KindAuth, 403, 0)}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.Error(t, err)
	require.Zero(t, check.calls())
	require.False(t, revoked(t, f, "ka"))
}

// Without an auth check nothing can confirm a refusal: the key is reported
// and stays.
func TestNoAuthCheckNeverRevokes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{keys: 2, answers: []error{upErr(upstream.KindAuth, 401, 0)}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.Error(t, err)
	require.False(t, revoked(t, f, "ka"))
	require.Contains(t, f.log.String(), `"event":"upstream_key_unconfirmed"`)
}

// An inconclusive check (the upstream is down) revokes nothing.
func TestInconclusiveCheckKeepsTheKey(t *testing.T) {
	t.Parallel()
	check := &scriptedCheck{answers: []error{upErr(upstream.KindUpstream, 503, 0)}}
	f := newFixture(t, fixtureOptions{keys: 2, check: check, answers: []error{upErr(upstream.KindAuth, 401, 0)}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.Error(t, err)
	require.False(t, revoked(t, f, "ka"))
	require.Contains(t, f.log.String(), `"event":"upstream_key_check_failed"`)
}

// A revoked key is re-checked at 1m, 5m, 30m… and comes back on success.
func TestRevokedKeyIsRestoredAfterBackoff(t *testing.T) {
	t.Parallel()
	check := &scriptedCheck{answers: []error{
		upErr(upstream.KindAuth, 401, 0),     // confirms the lookup's refusal
		upErr(upstream.KindAuth, 401, 0),     // re-check at +1m: still refused
		upErr(upstream.KindUpstream, 502, 0), // +5m: no answer about the key
		nil,                                  // one poll later: accepted
	}}
	f := newFixture(t, fixtureOptions{keys: 2, check: check, answers: []error{upErr(upstream.KindAuth, 401, 0)}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.NoError(t, err, "failed over to the second key")
	require.True(t, revoked(t, f, "ka"))

	state := map[string]*recheck{}
	f.p.recheckOnce(context.Background(), state) // registers the revoked key
	require.Equal(t, 1, check.calls(), "no re-check before its first step")
	f.clock.Advance(59 * time.Second)
	f.p.recheckOnce(context.Background(), state)
	require.Equal(t, 1, check.calls())

	f.clock.Advance(time.Second)
	f.p.recheckOnce(context.Background(), state)
	require.Equal(t, 2, check.calls(), "re-checked after 1m")
	require.True(t, revoked(t, f, "ka"))

	f.clock.Advance(4 * time.Minute)
	f.p.recheckOnce(context.Background(), state)
	require.Equal(t, 2, check.calls(), "the second step is 5m")
	f.clock.Advance(time.Minute)
	f.p.recheckOnce(context.Background(), state)
	require.Equal(t, 3, check.calls(), "re-checked after 5m more")
	require.True(t, revoked(t, f, "ka"), "an inconclusive check restores nothing")

	f.clock.Advance(time.Minute) // inconclusive: retried one check interval later
	f.p.recheckOnce(context.Background(), state)
	require.Equal(t, 4, check.calls())
	require.False(t, revoked(t, f, "ka"), "restored when the check accepts it")
	require.Contains(t, f.log.String(), `"event":"upstream_key_restored"`)

	// Back in rotation: the first key serves again.
	_, err = f.p.Lookup(context.Background(), "prod", req)
	require.NoError(t, err)
	require.Equal(t, "secret-a", f.prov.keys[len(f.prov.keys)-1])
	for _, k := range check.keys {
		require.Equal(t, "secret-a", k, "only the revoked key is re-checked")
	}
}

func TestRecheckBackoffSteps(t *testing.T) {
	t.Parallel()
	r := &recheck{}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var got []time.Duration
	for range 8 {
		r.advance(now)
		got = append(got, r.next.Sub(now))
	}
	require.Equal(t, []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour,
		24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour}, got, "after 1m: 5m, 30m, 2h, 6h, then daily")
}

// leaky answers with a body that reflects the key it was given.
type leaky struct{ scripted }

func (l *leaky) Lookup(_ context.Context, _ provider.Request, key secret.Value) (provider.Result, error) {
	body, _ := json.Marshal(map[string]string{"echo": "Authorization: Bearer " + key.Reveal()})
	return provider.Result{Data: body}, nil
}

func TestReflectedKeyIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxAttempts: 3,
		leaks: leak.New(secret.NewValue("secret-a"), secret.NewValue("secret-b"))})
	f.p.o.Provider = &leaky{}
	_, err := f.p.Lookup(context.Background(), "prod", provider.Request{
		Indicator: indicator.Indicator{Raw: "y", Value: "y", Type: indicator.Username}})
	var ue *upstream.Error
	require.True(t, errors.As(err, &ue))
	require.Equal(t, upstream.KindCredentialLeak, ue.Kind)
	require.NotContains(t, err.Error(), "secret-a")
	require.Equal(t, int64(1), f.p.Leaks(), "counted once: a reflecting upstream is not retried")
	require.Contains(t, f.log.String(), `"event":"upstream_credential_reflected"`)
	require.Contains(t, f.log.String(), `"key_id":"ka"`)
	require.NotContains(t, f.log.String(), "secret-a")
}

// gatedCheck blocks every check until gate is closed, whatever its
// context says, then refuses the key.
type gatedCheck struct {
	calls atomic.Int32
	gate  chan struct{}
}

func (c *gatedCheck) CheckAuth(ctx context.Context, _ secret.Value) error {
	c.calls.Add(1)
	select {
	case <-c.gate:
		return upErr(upstream.KindAuth, http.StatusUnauthorized, 0)
	case <-ctx.Done():
		return &upstream.Error{Kind: upstream.KindConnect, Err: ctx.Err(), Detail: "canceled"}
	}
}

// A caller that hangs up while the auth check runs does not cut the check
// short: the check reaches its answer, a dead key is revoked, and the
// claim is not handed to the next caller early.
func TestDepartingCallerDoesNotCancelTheCheck(t *testing.T) {
	t.Parallel()
	check := &gatedCheck{gate: make(chan struct{})}
	f := newFixture(t, fixtureOptions{keys: 2, answers: []error{upErr(upstream.KindAuth, 401, 0)}})
	f.p.o.Check = check

	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := f.p.Lookup(ctx, "prod", clientReq("mallory"))
		left <- err
	}()
	require.Eventually(t, func() bool { return check.calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-left, context.Canceled, "the caller has gone")

	close(check.gate)
	require.Eventually(t, func() bool { // no require in here: Eventually polls on its own goroutine
		r, err := f.gov.Revoked(context.Background(), "se", "ka")
		return err == nil && r
	}, 10*time.Second, time.Millisecond, "the check ran to its answer after the caller left")
	require.Equal(t, int32(1), check.calls.Load())
}
