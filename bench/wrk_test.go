package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkScript makes every request's query distinct (nothing to coalesce or
// cache): the slice's prefix (the script's first argument), the wrk
// thread's number, and that thread's own counter. It reports one
// machine-readable line when wrk is done. `id` is a global on purpose:
// setup's thread:set writes the thread state's globals.
const wrkScript = wrkSetup + `
local prefix, n = "ov", 0
function init(args)
  if args[1] then prefix = args[1] end
end

function request()
  n = n + 1
  return wrk.format(nil, "/v1/resolve?query=" .. prefix .. "-" .. id .. "-" .. n)
end
` + wrkDone

// wrkHotScript cycles over a fixed set of queries, prefix-0 …
// prefix-(count-1) (the script's two arguments), every thread starting at
// a different one: the cache-hit workload, where every query is one the
// caches already hold. The requests are formatted once, in init, so wrk
// spends no more per request than it must.
const wrkHotScript = wrkSetup + `
local reqs, n = {}, 0
function init(args)
  local prefix, count = args[1], tonumber(args[2])
  for i = 0, count - 1 do
    reqs[i + 1] = wrk.format(nil, "/v1/resolve?query=" .. prefix .. "-" .. i)
  end
  n = id or 0
end

function request()
  n = n + 1
  return reqs[n % #reqs + 1]
end
` + wrkDone

// wrkSetup numbers wrk's threads: setup runs once per thread before it starts.
const wrkSetup = `
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
`

// wrkDone reports one machine-readable line when wrk is done (parseWrk).
const wrkDone = `
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "intelgate-wrk requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

// wrkBinary finds wrk on PATH or where Debian installs it.
func wrkBinary() (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/wrk"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("wrk is not installed (apt-get install -y wrk; bench/run.sh does this)")
}

// wrk is the load generator: a C program with an event loop per thread,
// outside the benchmark process, so it neither shares the gateway's Go
// runtime nor its accounting.
type wrk struct {
	bin     string
	script  string // path of the Lua script
	args    []string
	threads int
}

// newWrk is wrk running wrkScript: every query distinct.
func newWrk(tb testing.TB, threads int) *wrk {
	tb.Helper()
	return newWrkScript(tb, threads, wrkScript)
}

// newWrkScript is wrk running script, which is given each run's query
// prefix and then args as its arguments.
func newWrkScript(tb testing.TB, threads int, script string, args ...string) *wrk {
	tb.Helper()
	bin, err := wrkBinary()
	if err != nil {
		tb.Skip(err.Error())
	}
	path := filepath.Join(tb.TempDir(), "script.lua")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		tb.Fatalf("writing wrk script: %v", err)
	}
	return &wrk{bin: bin, script: path, args: args, threads: threads}
}

// wrkRun is what one wrk run saw.
type wrkRun struct {
	requests      int64
	elapsed       time.Duration
	p50, p99, max time.Duration
	errors        map[string]int64 // connect read write status (non-2xx/3xx) timeout
	cpu           time.Duration    // wrk's own user+system CPU time
}

// failed counts requests that did not complete with a 2xx/3xx.
func (r wrkRun) failed() int64 {
	var n int64
	for _, c := range r.errors {
		n += c
	}
	return n
}

// run sends requests to baseURL from conns connections for d, every
// request carrying bearer and a query starting with prefix.
func (w *wrk) run(ctx context.Context, baseURL, bearer, prefix string, conns int, d time.Duration) (wrkRun, error) {
	args := []string{
		"-t", strconv.Itoa(min(w.threads, conns)), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", max(int(d/time.Second), 1)), "--timeout", "10s",
		"-s", w.script, "-H", "Authorization: Bearer " + bearer,
		baseURL, "--", prefix,
	}
	args = append(args, w.args...)
	cmd := exec.CommandContext(ctx, w.bin, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return wrkRun{}, fmt.Errorf("running wrk: %w: %s", err, stderr.String())
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return wrkRun{}, fmt.Errorf("%w\nwrk said:\n%s%s", err, out.String(), stderr.String())
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// parseWrk finds the script's "intelgate-wrk k=v …" line in wrk's output.
func parseWrk(out string) (wrkRun, error) {
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "intelgate-wrk ")
		if !ok {
			continue
		}
		v := map[string]int64{}
		for kv := range strings.FieldsSeq(rest) {
			k, s, ok := strings.Cut(kv, "=")
			if !ok {
				return wrkRun{}, fmt.Errorf("wrk result field %q is not k=v", kv)
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return wrkRun{}, fmt.Errorf("wrk result field %s: %w", k, err)
			}
			v[k] = n
		}
		for _, k := range []string{"requests", "duration_us", "p50_us", "p99_us", "max_us"} {
			if _, ok := v[k]; !ok {
				return wrkRun{}, fmt.Errorf("wrk result has no %s", k)
			}
		}
		us := func(k string) time.Duration { return time.Duration(v[k]) * time.Microsecond }
		r := wrkRun{requests: v["requests"], elapsed: us("duration_us"),
			p50: us("p50_us"), p99: us("p99_us"), max: us("max_us"), errors: map[string]int64{}}
		for _, k := range []string{"connect", "read", "write", "status", "timeout"} {
			if v[k] > 0 {
				r.errors[k] = v[k]
			}
		}
		return r, nil
	}
	return wrkRun{}, errors.New("no intelgate-wrk line in wrk's output")
}
