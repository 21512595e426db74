package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// vendor refuses the secrets in dead, on lookups and on the auth check
// alike; during its first call it runs during (a pool swap) once. answer,
// when set, replaces every successful body.
type vendor struct {
	dead   map[string]bool
	unsafe bool
	answer string

	once   sync.Once
	during func() error
	err    error // during's error, read after the lookup
}

func (*vendor) Name() string                 { return "se" }
func (*vendor) Supports(indicator.Type) bool { return true }
func (v *vendor) Lookup(_ context.Context, _ provider.Request, key secret.Value) (provider.Result, error) {
	if v.during != nil {
		v.once.Do(func() { v.err = v.during() })
	}
	switch {
	case v.unsafe:
		return provider.Result{}, provider.ErrUnsafeIndicator
	case v.dead[key.Reveal()]:
		return provider.Result{}, &upstream.Error{Kind: upstream.KindAuth, Status: http.StatusUnauthorized}
	case v.answer != "":
		return provider.Result{Data: json.RawMessage(v.answer), Status: 200}, nil
	}
	return provider.Result{Data: json.RawMessage(`{}`), Status: 200}, nil
}

func (v *vendor) CheckAuth(_ context.Context, key secret.Value) error {
	if v.dead[key.Reveal()] {
		return &upstream.Error{Kind: upstream.KindAuth, Status: http.StatusUnauthorized}
	}
	return nil
}

func key(id, value string) govern.Key {
	return govern.Key{ID: id, Environment: "prod", Value: secret.NewValue(value)}
}

func vendorPipeline(t *testing.T, v *vendor, leaks *leak.Detector, keys ...govern.Key) (*Pipeline, *govern.Governor, *observetest.Recorder) {
	t.Helper()
	gov, err := govern.New(govern.Options{State: memory.New(memory.Options{})},
		[]govern.Policy{{Provider: "se", Keys: keys, Day: 100}}, nil)
	require.NoError(t, err)
	rec := &observetest.Recorder{}
	p, err := New(Options{Provider: v, Governor: gov, Breaker: resilience.NewBreaker("se", resilience.BreakerSettings{}),
		Retry: resilience.Policy{MaxAttempts: 1}, Check: v, Leaks: leaks, Observer: rec})
	require.NoError(t, err)
	return p, gov, rec
}

var ipReq = provider.Request{Indicator: indicator.Indicator{Type: indicator.IPv4, Value: "8.8.8.8"}}

// The vendor killed a key and the operator swapped the pool while a lookup
// held it: the refusal says nothing about the new pool, so the lookup fails
// over to it at once — no auth check, no revocation of the new secret.
func TestRefusedKeySwappedOutInFlightFailsOver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		after  govern.Key // the pool swapped in during the first call
		wantID string
	}{
		{"same id, new secret", key("k1", "fresh-secret-2"), "k1"},
		{"another key", key("k2", "fresh-secret-2"), "k2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := &vendor{dead: map[string]bool{"dead-secret-1": true}}
			p, gov, rec := vendorPipeline(t, v, nil, key("k1", "dead-secret-1"))
			v.during = func() error { return gov.SwapKeys("se", []govern.Key{tc.after}) }
			out, err := p.Lookup(context.Background(), "prod", ipReq)
			require.NoError(t, v.err)
			require.NoError(t, err)
			require.Equal(t, tc.wantID, out.KeyID)
			require.Equal(t, 2, out.Attempts)
			require.Empty(t, observetest.Of[observe.KeyChecked](rec), "no check: the refused secret is gone already")
			revoked, err := gov.Revoked(context.Background(), "se", tc.after.ID)
			require.NoError(t, err)
			require.False(t, revoked, "the new secret is not revoked on the old one's refusal")
		})
	}
}

// An indicator the provider itself refuses after a lease was taken: no
// attempt, no unit, no key in the outcome — and the unit given back.
func TestUnsafeIndicatorFromProviderIsNoAttempt(t *testing.T) {
	t.Parallel()
	p, gov, rec := vendorPipeline(t, &vendor{unsafe: true}, nil, key("k1", "some-secret-value"))
	out, err := p.Lookup(context.Background(), "prod", ipReq)
	require.ErrorIs(t, err, provider.ErrUnsafeIndicator)
	require.Equal(t, Outcome{Latency: out.Latency}, out, "no facts of an attempt that was never made")
	require.Equal(t, []string{"governor"}, rec.Steps())
	st, err := gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Zero(t, st[0].Day.Used, "the unit was refunded")
}

// SetLeaks takes effect for the next answer: a secret the detector learns
// at a swap is refused in an answer like the configured ones.
func TestSetLeaksCoversTheNewPool(t *testing.T) {
	t.Parallel()
	const second = "second-account-secret-7e0a"
	v := &vendor{answer: `{"echo":"` + second + `"}`}
	p, _, _ := vendorPipeline(t, v, leak.New(secret.NewValue("first-account-secret-4b1d")), key("k1", "first-account-secret-4b1d"))
	_, err := p.Lookup(context.Background(), "prod", ipReq)
	require.NoError(t, err, "not yet a secret of this provider")
	p.SetLeaks(leak.New(secret.NewValue("first-account-secret-4b1d"), secret.NewValue(second)))
	_, err = p.Lookup(context.Background(), "prod", ipReq)
	var ue *upstream.Error
	require.True(t, errors.As(err, &ue), "%v", err)
	require.Equal(t, upstream.KindCredentialLeak, ue.Kind)
	require.Equal(t, int64(1), p.Leaks())
}
