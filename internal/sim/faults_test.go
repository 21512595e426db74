package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaultKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, r reply, contentLength int64)
	}{
		{"error", Faults{ErrorRate: 1}, func(t *testing.T, r reply, _ int64) {
			requireAPIError(t, r, 500, "internal_error")
		}},
		{"malformed", Faults{MalformedRate: 1}, func(t *testing.T, r reply, _ int64) {
			require.Equal(t, 200, r.status)
			require.Equal(t, "application/json", r.header.Get("Content-Type"))
			require.NotEmpty(t, r.body)
			require.False(t, json.Valid(r.body), "body must not parse: %s", r.body)
		}},
		{"non-object", Faults{NonObjectRate: 1}, func(t *testing.T, r reply, _ int64) {
			require.Equal(t, 200, r.status)
			var v any
			require.NoError(t, json.Unmarshal(r.body, &v))
			require.IsType(t, []any{}, v)
		}},
		{"wrong type", Faults{WrongTypeRate: 1}, func(t *testing.T, r reply, _ int64) {
			require.Equal(t, 200, r.status)
			require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/html"), r.header.Get("Content-Type"))
		}},
		{"oversized", Faults{OversizedRate: 1, OversizedBytes: 1 << 20}, func(t *testing.T, r reply, contentLength int64) {
			require.Equal(t, 200, r.status)
			require.Equal(t, int64(-1), contentLength, "streamed: no Content-Length to reject up front")
			require.Len(t, r.body, 1<<20)
			require.True(t, json.Valid(r.body), "oversized body is valid JSON, only too big")
		}},
		{"default oversized size", Faults{OversizedRate: 1}, func(t *testing.T, r reply, _ int64) {
			require.Len(t, r.body, int(DefaultOversizedBytes))
		}},
		{"reflect", Faults{Reflect: "json"}, func(t *testing.T, r reply, _ int64) {
			require.Equal(t, 200, r.status)
			require.Equal(t, "Bearer "+testKey, r.header.Get("X-Debug-Authorization"))
			var v struct {
				Debug struct{ Authorization string } `json:"debug"`
			}
			require.NoError(t, json.Unmarshal(r.body, &v), string(r.body))
			require.Equal(t, "Bearer "+testKey, v.Debug.Authorization, "the \\u escapes decode to the header")
			require.NotContains(t, string(r.body), testKey, "spelled as escapes, not raw")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := start(t, New(Options{APIKeys: []string{testKey}, Faults: tt.faults}))
			req, err := http.NewRequest(http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := c.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			tt.check(t, reply{status: resp.StatusCode, header: resp.Header, body: body}, resp.ContentLength)
		})
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Faults: Faults{ResetRate: 1}}))
	for range 3 { // every attempt, on fresh connections, is reset
		req, err := http.NewRequest(http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		require.Error(t, err)
		require.True(t, errors.Is(err, syscall.ECONNRESET), "want a TCP reset, got %v", err)
	}
	st := srv.Sim.Stats()
	require.GreaterOrEqual(t, st.Resets, 3)
	require.Empty(t, st.ByStatus, "a reset sends no status")
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	const latency = 50 * time.Millisecond
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Faults: Faults{Latency: latency}}))
	began := time.Now()
	require.Equal(t, 200, get(t, c, srv, "alice", testKey).status)
	require.GreaterOrEqual(t, time.Since(began), latency)
}

func TestFaultLatencyStopsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Faults: Faults{Latency: time.Hour}}))
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, "request in flight", func() bool { return srv.Sim.Stats().InFlight == 1 })
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	waitFor(t, "handler returned", func() bool { return srv.Sim.Stats().InFlight == 0 })
	require.Empty(t, srv.Sim.Stats().ByStatus, "nothing was answered")
}

func TestCloseEndsSlowRequests(t *testing.T) {
	t.Parallel()
	s := New(Options{APIKeys: []string{testKey}, Faults: Faults{Latency: time.Hour}})
	srv, err := Start("", true, s)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(srv.URL, "https://127.0.0.1:"), srv.URL)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfigFor(srv)}}
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, "request in flight", func() bool { return s.Stats().InFlight == 1 })
	began := time.Now()
	require.NoError(t, srv.Close())
	require.Less(t, time.Since(began), shutdownGrace, "Close must not wait out injected latency")
	<-errc
	_, err = c.Get(srv.URL + "/_sim/stats")
	require.Error(t, err, "closed server must refuse")
}

func TestDiceRates(t *testing.T) {
	t.Parallel()
	s := New(Options{Seed: 42, Faults: Faults{ErrorRate: 0.2, ResetRate: 0.1, MalformedRate: 0.3}})
	counts := map[fault]int{}
	const n = 10000
	for range n {
		k, _ := s.roll()
		counts[k]++
	}
	for kind, want := range map[fault]float64{faultError: 0.2, faultReset: 0.1, faultMalformed: 0.3, faultNone: 0.4} {
		got := float64(counts[kind]) / n
		require.InDelta(t, want, got, 0.03, "fault %d", kind)
	}
	require.Zero(t, counts[faultOversized])

	// Same seed, same sequence: fault runs are reproducible.
	a, b := New(Options{Seed: 7, Faults: Faults{ErrorRate: 0.5}}), New(Options{Seed: 7, Faults: Faults{ErrorRate: 0.5}})
	for range 100 {
		ka, _ := a.roll()
		kb, _ := b.roll()
		require.Equal(t, ka, kb)
	}
}

func TestFaultsValidateAndClamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		f       Faults
		wantErr string
	}{
		{"zero", Faults{}, ""},
		{"all ones", Faults{ErrorRate: 1, MalformedRate: 1, NonObjectRate: 1, WrongTypeRate: 1, OversizedRate: 1, ResetRate: 1}, ""},
		{"rate above 1", Faults{ResetRate: 1.5}, "reset_rate must be between 0 and 1"},
		{"negative rate", Faults{WrongTypeRate: -0.1}, "wrong_type_rate"},
		{"NaN rate", Faults{ErrorRate: math.NaN()}, "error_rate"},
		{"negative latency", Faults{Latency: -time.Second}, "latency must not be negative"},
		{"negative size", Faults{OversizedBytes: -1}, "oversized_bytes"},
		{"unknown reflect mode", Faults{Reflect: "rot13"}, "reflect must be one of raw, percent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.f.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			s := New(Options{})
			s.SetFaults(tt.f)
			require.NoError(t, s.Faults().Validate(), "SetFaults clamps what Validate rejects")
		})
	}
}
