package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPostFaults(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	faultsURL := srv.URL + "/_sim/faults"

	r := postJSON(t, c, faultsURL, `{"error_rate":1,"latency":"1ms"}`)
	require.Equal(t, 200, r.status, "%s", r.body)
	var got Faults
	require.NoError(t, json.Unmarshal(r.body, &got))
	require.Equal(t, Faults{ErrorRate: 1, Latency: time.Millisecond, OversizedBytes: DefaultOversizedBytes}, got)
	requireAPIError(t, get(t, c, srv, "alice", testKey), 500, "internal_error")

	r = do(t, c, http.MethodGet, faultsURL, "", nil)
	require.Equal(t, 200, r.status)
	require.JSONEq(t, `{"error_rate":1,"latency":"1ms","malformed_rate":0,"non_object_rate":0,
		"wrong_type_rate":0,"oversized_rate":0,"oversized_bytes":8388608,"reset_rate":0}`, string(r.body))

	// POST replaces everything: {} switches every fault off.
	require.Equal(t, 200, postJSON(t, c, faultsURL, `{}`).status)
	require.Equal(t, 200, get(t, c, srv, "alice", testKey).status)

	// Integer nanoseconds, as encoding/json writes a bare Duration, also work.
	require.Equal(t, 200, postJSON(t, c, faultsURL, `{"latency":2000000}`).status)
	require.Equal(t, 2*time.Millisecond, srv.Sim.Faults().Latency)
}

func TestPostFaultsRejectsBadInput(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	before := Faults{WrongTypeRate: 0.5}
	srv.Sim.SetFaults(before)
	tests := []struct{ name, body, want string }{
		{"rate above one", `{"error_rate":2}`, "error_rate must be between 0 and 1"},
		{"unknown field", `{"eror_rate":1}`, "unknown field"},
		{"bad latency", `{"latency":"soon"}`, "latency"},
		{"not JSON", `error_rate=1`, "want a JSON object"},
		{"null", `null`, "want a JSON object"},
		{"trailing data", `{"error_rate":0.5}{"x":1}`, "trailing data"},
		{"trailing brace", `{"error_rate":0.5}}`, "trailing data"},
		{"wrong type", `{"error_rate":"high"}`, "faults.error_rate"},
		{"negative size", `{"oversized_bytes":-5}`, "oversized_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := postJSON(t, c, srv.URL+"/_sim/faults", tt.body)
			requireAPIError(t, r, 400, "invalid_faults")
			require.Contains(t, string(r.body), tt.want)
		})
	}
	t.Cleanup(func() {
		require.Equal(t, before.withDefaults(), srv.Sim.Faults(), "rejected posts change nothing")
	})
	require.Equal(t, 405, do(t, c, http.MethodPut, srv.URL+"/_sim/faults", "", nil).status)
}

func TestStatsCounts(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	get(t, c, srv, "alice", testKey)
	get(t, c, srv, "alice", testKey)
	get(t, c, srv, "bob", testKey)
	get(t, c, srv, "notfound-carol", testKey)
	get(t, c, srv, "alice", "wrong")
	get(t, c, srv, "", testKey)
	do(t, c, http.MethodGet, srv.URL+"/_sim/faults", "", nil) // control calls are not counted

	st := srv.Sim.Stats()
	require.Equal(t, 6, st.Requests)
	require.Equal(t, map[string]int{"alice": 3, "bob": 1, "notfound-carol": 1}, st.ByQuery)
	require.Equal(t, map[int]int{200: 3, 404: 1, 401: 1, 400: 1}, st.ByStatus)
	require.Zero(t, st.RateLimited)
	require.Zero(t, st.InFlight)
	require.Equal(t, 1, st.PeakConcurrency)
	require.Equal(t, 405, postJSON(t, c, srv.URL+"/_sim/stats", "").status)
}

func TestStatsPeakConcurrency(t *testing.T) {
	t.Parallel()
	const n = 5
	s := New(Options{APIKeys: []string{testKey}})
	gate := make(chan struct{})
	s.beforeAnswer = func() { <-gate }
	srv, c := start(t, s)

	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := c.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	waitFor(t, "all requests in flight", func() bool { return s.Stats().InFlight == n })
	close(gate)
	wg.Wait()
	close(statuses)
	for code := range statuses {
		require.Equal(t, 200, code)
	}
	st := s.Stats()
	require.Equal(t, n, st.PeakConcurrency)
	require.Zero(t, st.InFlight)
	require.Equal(t, n, st.ByStatus[200])
}

func TestOversizedStopsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Faults: Faults{OversizedRate: 1, OversizedBytes: 1 << 40}}))
	req, err := http.NewRequest(http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, err = io.ReadFull(resp.Body, make([]byte, 64<<10))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	waitFor(t, "server stopped streaming 1 TiB", func() bool { return srv.Sim.Stats().InFlight == 0 })
}
