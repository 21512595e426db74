//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/sim"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// The crash test's sizes. crashWorkers is jobs.workers: River's bulk queue
// runs (and fetches) at most that many items at once, which is what bounds
// the work a crash can repeat.
const (
	crashItems     = 2000
	crashKillAfter = 200 // items done before the kill
	crashWorkers   = 4
)

// crashConfig is the gateway of the crash test: the embedded SQLite store,
// the simulator over pinned TLS, and a job queue sized for a test.
//
// The provider's cache is off: with it on, an item repeated after the
// restart could be answered from the durable cache (its answer was cached
// before its result was committed) and never reach the simulator, so the
// count of upstream requests would hide the repeats this test bounds. With
// it off every attempt that gets as far as the provider is one request
// counted at the simulator, and retry.max_attempts: 1 makes it exactly one.
//
// jobs.item_timeout is small because River rescues an item whose process
// died only once it has been running longer than RescueStuckJobsAfter,
// which intelgate sets to 2 × item_timeout + 1m (66s here, ~5m with the
// default 2m; it is not configurable), and only on a pass of its rescuer,
// which runs on the leader only, at once and then every 30s. The restarted
// process becomes leader once the dead one's lease (15s from its last
// renewal, so 10-15s after the kill) has run out, so its passes come about
// 10-20s, 40-50s and 70-80s after the kill and the third rescues: about 75s
// of waiting that no setting shortens while the minute is fixed. 2s would be
// no faster; 3s leaves a stalled CI machine room before an attempt times out
// (a timeout is a retry the crash did not cause, and would count as a
// duplicate). retry.base is small so a rescued item is due at once; River's
// scheduler (every 5s) then makes it available.
func crashConfig(simURL, pin, tokenSHA256 string) string {
	return fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {driver: sqlite, dsn: intelgate.db}
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: crash-1, secret: "file:socialeye.key"}]
    tls: {ca_file: sim-ca.pem, pins: [%q]}
    timeout: 30s
    retry: {max_attempts: 1}
    cache: {enabled: false}
clients:
  siem:
    token_sha256: %s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
jobs: {workers: %d, item_timeout: 3s, retry: {base: 10ms, max: 100ms}, poll_interval: 50ms}
`, simURL, pin, tokenSHA256, crashWorkers)
}

// TestBulkJobSurvivesSIGKILL is issue 11 as a real process test: 2,000
// items are submitted to `intelgate serve`, the process is killed with
// SIGKILL while its workers wait for upstream answers, and the same binary
// restarted on the same files finishes the job: every item done, each
// result once and in order, none dead, and the upstream asked again only
// for the items that were in flight at the kill.
func TestBulkJobSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's rescuer (about 75s after the kill); skipped with -short")
	}
	t.Parallel()
	bin := buildIntelgate(t)
	// Generous bounds for a loaded 2-core machine; they only stop a broken
	// system (the processes are killed at the deadline).
	deadline := time.Now().Add(5 * time.Minute)

	const simKey = "sk_sim_crash_test_key"
	// A little latency keeps the workers busy upstream (so the kill finds
	// them there) and the job far from finished when the kill comes.
	normal := sim.Faults{Latency: 10 * time.Millisecond}
	s, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{APIKeys: []string{simKey}, Faults: normal}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	dir := t.TempDir()
	token, hash, err := auth.NewToken()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "socialeye.key"), []byte(simKey+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sim-ca.pem"), s.CAPEM, 0o600))
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(crashConfig(s.URL, s.Pin, hash)), 0o600))

	first := startBinary(t, deadline, bin, "serve", "--config", cfgPath)
	api := crashAPI{base: waitServing(t, first, deadline), token: token, http: &http.Client{Timeout: 30 * time.Second}}

	indicators := make([]string, crashItems)
	for i := range indicators {
		indicators[i] = fmt.Sprintf("crash-%04d.example.org", i+1)
	}
	job := api.submit(t, indicators)
	require.Equal(t, crashItems, job.Total)

	for j := job; j.Counts.Done < crashKillAfter; j = api.job(t, job.ID) {
		require.NotEqual(t, "done", string(j.Status), "the job finished before the kill: %+v", j.Counts)
		require.True(t, time.Now().Before(deadline), "only %d items done before the deadline; log:\n%s", j.Counts.Done, first.log)
		pause(t, first, 10*time.Millisecond)
	}

	// Hold every answer from now on, so the kill finds the workers with
	// requests upstream and no result: the worst case, each of those items
	// must be asked again. The wait is bounded: on a stalled machine the
	// kill comes anyway, and the bound below still holds.
	s.Sim.SetFaults(sim.Faults{Latency: time.Hour})
	holdUntil := time.Now().Add(time.Second)
	for s.Sim.Stats().InFlight < crashWorkers && time.Now().Before(holdUntil) {
		pause(t, first, 2*time.Millisecond)
	}
	held := s.Sim.Stats().InFlight
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	killedAt := time.Now()
	require.Error(t, first.wait())
	ws, ok := first.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the gateway died of SIGKILL: %v", first.cmd.ProcessState)
	s.Sim.SetFaults(normal)

	at := readKillState(t, filepath.Join(dir, "intelgate.db"), job.ID)
	t.Logf("at the kill: %d items done, %d requests held upstream, in flight (River running): %v", at.done, held, at.running)
	require.Less(t, at.done, crashItems, "the kill came after the job finished")
	// River's producer fetches at most MaxWorkers minus its running jobs
	// and marks what it fetched running (attempt+1) in the fetch's
	// transaction; an item's result is written in the transaction that
	// completes its River job. So the items that can have asked upstream
	// without a recorded result are exactly the River jobs running at the
	// kill — fetched or working, at most jobs.workers of them.
	require.LessOrEqual(t, len(at.running), crashWorkers, "River held more items than jobs.workers")

	second := startBinary(t, deadline, bin, "serve", "--config", cfgPath)
	api.base = waitServing(t, second, deadline)
	restarted := time.Since(killedAt)
	var final gateway.JobResponse
	for final = api.job(t, job.ID); final.Status != "done"; final = api.job(t, job.ID) {
		require.True(t, time.Now().Before(deadline), "the job did not finish after the restart: %+v; log:\n%s", final.Counts, second.log)
		pause(t, second, 250*time.Millisecond)
	}
	recovered := time.Since(killedAt)
	t.Logf("restarted and ready %s after the kill; job done %s after the kill", restarted.Round(time.Millisecond), recovered.Round(time.Millisecond))

	require.Equal(t, crashItems, final.Counts.Done, "every item is done: %+v", final.Counts)
	require.Zero(t, final.Counts.Dead+final.Counts.Failed+final.Counts.Withheld+final.Counts.Queued+final.Counts.Running, "%+v", final.Counts)
	require.NotNil(t, final.FinishedAt)

	lines := api.results(t, job.ID)
	require.Len(t, lines, crashItems, "one result per item, none lost, none twice")
	for i, l := range lines {
		require.Equal(t, i+1, l.Item, "results in item order")
		require.Equal(t, indicators[i], l.Indicator)
		require.Equal(t, "done", string(l.State), "item %d", l.Item)
		require.NotNil(t, l.Provider, "item %d", l.Item)
		require.Equal(t, "socialeye", *l.Provider)
		require.Equal(t, "ok", l.Status, "item %d", l.Item)
		require.False(t, l.Cached, "item %d: the cache is off", l.Item)
	}

	// Duplicates upstream: every request beyond an indicator's first. The
	// issue's bound is the items in flight at the kill; the cause says more:
	// only those items may be repeated, each once.
	stats := s.Sim.Stats()
	require.Zero(t, stats.UntrackedQueries)
	inFlight := map[int]bool{}
	for _, seq := range at.running {
		inFlight[seq] = true
	}
	extra, unexplained := 0, []string{} // repeats the kill does not explain
	for i, ind := range indicators {
		n := stats.ByQuery[ind]
		require.GreaterOrEqual(t, n, 1, "%s was answered without asking upstream, with the cache off", ind)
		extra += n - 1
		if n > 1 && !inFlight[i+1] {
			unexplained = append(unexplained, fmt.Sprintf("item %d ×%d", i+1, n))
		}
		if inFlight[i+1] && n > 2 {
			unexplained = append(unexplained, fmt.Sprintf("in-flight item %d ×%d", i+1, n))
		}
	}
	t.Logf("upstream: %d requests for %d items, %d duplicates (bound: %d in flight)", stats.Requests, crashItems, extra, len(at.running))
	require.LessOrEqual(t, extra, len(at.running), "more repeats upstream than items in flight at the kill")
	require.Empty(t, unexplained, "repeated upstream beyond the items in flight at the kill (in flight: %v)", at.running)

	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.wait(), "the restarted gateway stops cleanly; log:\n%s", second.log)
}

// buildIntelgate builds the gateway into a temporary directory. The child
// is built without -race even when the test is: under the race detector a
// gateway works items about ten times slower, which on two busy cores turns
// a minute of recovery into four. With the dependencies in the build cache
// (go build ./..., or an earlier run) the build is a link; a cold cache
// compiles them once, which on a busy machine takes minutes.
func buildIntelgate(t *testing.T) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the gateway with")
	}
	bin := filepath.Join(t.TempDir(), "intelgate")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gocmd, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "building intelgate: %s", out)
	return bin
}

// startBinary runs bin as a real process with its stderr log collected,
// as startMain does with the test binary; it is killed at deadline or at
// the end of the test if it is still running.
func startBinary(t *testing.T, deadline time.Time, bin string, args ...string) *mainProcess {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &mainProcess{cmd: cmd, log: &processLog{added: make(chan struct{}, 1), ended: make(chan struct{})}}
	go p.log.read(bufio.NewScanner(stderr))
	t.Cleanup(func() {
		if !p.exited {
			_ = cmd.Process.Kill()
			<-p.log.ended
			_ = cmd.Wait()
		}
	})
	return p
}

// pause waits d between two polls, failing at once with its log if p
// exited meanwhile.
func pause(t *testing.T, p *mainProcess, d time.Duration) {
	t.Helper()
	select {
	case <-p.log.ended:
		t.Fatalf("the gateway exited; its log:\n%s", p.log)
	case <-time.After(d):
	}
}

// waitServing waits for p's "intelgate serving" line and for /readyz to
// answer 200, and returns the base URL.
func waitServing(t *testing.T, p *mainProcess, deadline time.Time) string {
	t.Helper()
	addr, _ := p.log.wait(t, "intelgate serving", deadline)["addr"].(string)
	require.NotEmpty(t, addr, "the serving line names the address")
	base := "http://" + addr
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		require.True(t, time.Now().Before(deadline), "/readyz never answered 200 (%v); log:\n%s", err, p.log)
		pause(t, p, 50*time.Millisecond)
	}
}

// killState is what the database says of the job right after the kill.
type killState struct {
	done    int   // items with a recorded result
	running []int // items whose River job was running: in flight
}

// readKillState opens the dead gateway's database (nothing else has it
// open) and reads the job's done count and the items River held.
func readKillState(t *testing.T, path, jobID string) killState {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	var ks killState
	require.NoError(t, st.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM job_items WHERE job_id = ? AND state = 'done'`, jobID).Scan(&ks.done); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT i.seq FROM job_items i JOIN river_job r ON r.id = i.river_id
			WHERE i.job_id = ? AND r.state = 'running' ORDER BY i.seq`, jobID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int
			if err := rows.Scan(&seq); err != nil {
				return err
			}
			ks.running = append(ks.running, seq)
		}
		return rows.Err()
	}))
	var all int
	require.NoError(t, st.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'running'`).Scan(&all)
	}))
	require.Equal(t, len(ks.running), all, "every running River job is one of the job's items")
	return ks
}

// crashAPI is the client side of the job endpoints.
type crashAPI struct {
	base, token string
	http        *http.Client
}

func (a crashAPI) do(t *testing.T, method, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func (a crashAPI) submit(t *testing.T, indicators []string) gateway.JobResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"indicators": indicators, "type": "domain", "providers": []string{"socialeye"}})
	require.NoError(t, err)
	resp, b := a.do(t, http.MethodPost, "/v1/jobs", body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
	var j gateway.JobResponse
	require.NoError(t, json.Unmarshal(b, &j))
	return j
}

func (a crashAPI) job(t *testing.T, id string) gateway.JobResponse {
	t.Helper()
	resp, b := a.do(t, http.MethodGet, "/v1/jobs/"+id, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var j gateway.JobResponse
	require.NoError(t, json.Unmarshal(b, &j))
	return j
}

// results reads every page of the job's results, following Link.
func (a crashAPI) results(t *testing.T, id string) []gateway.JobResultLine {
	t.Helper()
	var out []gateway.JobResultLine
	for path := "/v1/jobs/" + id + "/results?limit=1000"; path != ""; {
		resp, b := a.do(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l gateway.JobResultLine
			require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
			out = append(out, l)
		}
		require.NoError(t, sc.Err())
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			require.True(t, strings.HasSuffix(link, `>; rel="next"`), link)
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
		require.Less(t, len(out), 2*crashItems, "the pages do not end")
	}
	return out
}
