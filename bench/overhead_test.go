package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// The overhead workload: every request a distinct query (so the gateway
// has nothing to coalesce and every answer comes from the upstream), from
// a fixed number of closed-loop connections (wrk), against an unlimited
// simulator and a gateway with no provider limit and its cache off (nginx
// and Caddy cache nothing either, and a cache on would add a sealed
// SQLite write per distinct answer), so what is measured is the cost of
// the hop itself on the miss path, not pacing or caching.
const (
	// ovPool is every proxy's upstream keep-alive pool: the largest
	// concurrency, so no proxy ever has to handshake TLS again.
	ovPool = 256
	// ovWrkThreads are wrk's event-loop threads: one per core here.
	ovWrkThreads = 2
	// ovWarmup is one unmeasured slice per target and concurrency (pools,
	// TLS sessions, the Go runtime's heap).
	ovWarmup = time.Second
	// ovSliceDefault is one target's turn in a round; ovSliceEnv
	// overrides it (whole seconds: wrk's unit).
	ovSliceDefault = 3 * time.Second
	ovSliceEnv     = "INTELGATE_BENCH_SLICE"
	// ovCacheOff is the gateway's provider cache in the overhead
	// benchmark: off, so every request takes the miss path.
	ovCacheOff = "{enabled: false}"
)

// ovClients are the concurrencies measured, one sub-benchmark each.
var ovClients = []int{16, 64, 256}

// ovTarget is one way to reach the simulator's /v1/resolve.
type ovTarget struct {
	name   string
	url    string // base URL wrk sends /v1/resolve?query=… to
	bearer string
	// pid is the proxy's process, whose CPU is this target's own; 0 for
	// the gateway (this process), -1 for direct (no proxy).
	pid int
}

// ovHarness is everything the overhead benchmark runs, started once and
// shared by every concurrency.
type ovHarness struct {
	sim     *simProcess
	wrk     *wrk
	targets []ovTarget
	slice   time.Duration
	seq     int // slices run so far: each slice's queries get a fresh prefix
	// hot, when set, is the one query prefix every slice of every target
	// sends (wrk's script then cycles over a fixed set of queries under
	// it: the cache-hit benchmark); empty: a fresh prefix per slice.
	hot string
}

// BenchmarkOverhead measures, in one run, throughput (req/s) and latency
// (p50, p99) of the same lookups sent directly to the simulator (TLS), via
// the gateway, via nginx and via Caddy (all three plaintext in front, TLS
// to the simulator, upstream connections kept alive), at 16, 64 and 256
// concurrent connections; and what each proxy costs in CPU per request,
// plus the gateway's allocations per request.
//
// b.N is the number of rounds. In each round every target gets one slice
// of the same duration, in an order rotating by round, so a noisy moment
// on the machine is shared rather than charged to one of them; ratios are
// taken within a round and reported as their median over the rounds. The
// ratios are the numbers to compare across machines; absolute ones are
// this machine's.
//
// wrk, the simulator, nginx and Caddy run as processes of their own; the
// gateway runs in this process, which does nothing else while wrk loads
// it, so this process's CPU and allocations during a gateway slice are the
// gateway's (see cpu_test.go). -cpuprofile therefore profiles the gateway.
func BenchmarkOverhead(b *testing.B) {
	h := startOverhead(b)
	for _, c := range ovClients {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) { h.bench(b, c) })
	}
}

// startOverhead starts the simulator process, the gateway, nginx and Caddy.
// Without wrk, nginx or Caddy, or off Linux, the benchmark skips.
func startOverhead(b *testing.B) *ovHarness {
	slice := ovSettings(b)
	w := newWrk(b, ovWrkThreads)
	sp := startSimProcess(b)
	gw := startGateway(b, ovGatewayOptions(sp, ovCacheOff))
	ng := startNginx(b, sp.url, sp.caPEM, ovPool)
	cd := startCaddy(b, sp.url, sp.caPEM, ovPool)
	return &ovHarness{sim: sp, wrk: w, slice: slice, targets: []ovTarget{
		{name: "direct", url: sp.url, bearer: simKey, pid: -1},
		{name: "gateway", url: gw.gwURL, bearer: gw.token, pid: 0},
		{name: "nginx", url: "http://" + ng.Addr, bearer: simKey, pid: ng.Pid},
		{name: "caddy", url: "http://" + cd.Addr, bearer: simKey, pid: cd.Pid},
	}}
}

// ovSettings skips off Linux (no getrusage) and reads the slice length.
func ovSettings(b *testing.B) time.Duration {
	if _, _, err := rusageSelf(); err != nil {
		b.Skip(err.Error())
	}
	slice := ovSliceDefault
	if s := os.Getenv(ovSliceEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			b.Fatalf("%s=%q: want a duration of at least 1s", ovSliceEnv, s)
		}
		slice = d
	}
	return slice
}

// ovGatewayOptions is the gateway of the wrk benchmarks in front of the
// simulator process, with the provider cache policy cache.
func ovGatewayOptions(sp *simProcess, cache string) gatewayOptions {
	return gatewayOptions{simURL: sp.url, simPin: sp.pin, simCA: sp.caPEM, cache: cache,
		// The same pool as nginx's and Caddy's; wrk is one source, so the
		// per-source cap (default 256, exactly the largest concurrency)
		// is lifted out of the way of reconnects between slices.
		upstreamConns: ovPool, perSource: 2 * ovPool,
		// Every proxy writes one access-log line per request to a file.
		logToFile: true}
}

// bench runs b.N rounds at conns concurrent connections and reports them.
func (h *ovHarness) bench(b *testing.B, conns int) {
	ctx := context.Background()
	for _, t := range h.targets {
		if _, err := h.measure(ctx, t, conns, ovWarmup); err != nil {
			b.Fatalf("warming up %s: %v", t.name, err)
		}
	}
	rounds := make([]map[string]ovSlice, 0, b.N)
	b.ResetTimer()
	for r := range b.N {
		got := map[string]ovSlice{}
		for k := range h.targets {
			t := h.targets[(r+k)%len(h.targets)]
			s, err := h.measure(ctx, t, conns, h.slice)
			if err != nil {
				b.Fatalf("round %d, %s: %v", r, t.name, err)
			}
			got[t.name] = s
		}
		rounds = append(rounds, got)
	}
	b.StopTimer()
	reportOverhead(b, h.targets, rounds)
}

// ovSlice is what one target's slice of a round measured.
type ovSlice struct {
	wrkRun
	window time.Duration // wall time the CPU figures cover (wrk's life)
	// upOpen are the simulator's connections open after the slice; upNew
	// those of them that were not open before it. A proxy that keeps its
	// upstream connections alive has upNew 0 (wrk's own connections to
	// the simulator, for direct, are closed by then).
	upOpen, upNew int
	proxy         time.Duration // the target's own CPU: the proxy, or the gateway
	sim           time.Duration // the simulator process's CPU
	self          selfUsage     // this process: the gateway while it is loaded
	machine       machineTimes  // the whole machine
}

func (s ovSlice) rps() float64 { return float64(s.requests) / s.elapsed.Seconds() }

// other is the CPU (in cores) the machine spent outside the processes we
// account for: other users' work, kernel work charged to no process, steal.
func (s ovSlice) other(gatewayTarget bool) float64 {
	ours := s.wrkRun.cpu + s.sim + s.proxy
	if !gatewayTarget {
		ours += s.self.user + s.self.sys // the idle harness
	}
	return max(cores(s.machine.busy-ours, s.window), 0)
}

// measure runs one slice: wrk loads t for d while every party's CPU is
// read before and after. This process's own usage is read innermost, so
// reading the others is not charged to the gateway.
func (h *ovHarness) measure(ctx context.Context, t ovTarget, conns int, d time.Duration) (ovSlice, error) {
	h.seq++
	prefix := h.hot
	if prefix == "" {
		prefix = fmt.Sprintf("ov-%d-%s", h.seq, t.name)
	}
	c0, errC := listenerConns(h.sim.port)
	m0, errM := readMachine()
	sim0, errS := pidCPU(h.sim.pid)
	p0, errP := h.proxyCPU(t)
	self0, errSelf := readSelf()
	start := time.Now()
	if err := errors.Join(errC, errM, errS, errP, errSelf); err != nil {
		return ovSlice{}, err
	}
	r, err := h.wrk.run(ctx, t.url, t.bearer, prefix, conns, d)
	window := time.Since(start)
	self1, errSelf := readSelf()
	p1, errP := h.proxyCPU(t)
	sim1, errS := pidCPU(h.sim.pid)
	m1, errM := readMachine()
	c1, errC := listenerConns(h.sim.port)
	if err := errors.Join(err, errC, errM, errS, errP, errSelf); err != nil {
		return ovSlice{}, err
	}
	if r.failed() > 0 || r.requests == 0 {
		return ovSlice{}, fmt.Errorf("%d requests, errors %v (status: answers other than 2xx/3xx)", r.requests, r.errors)
	}
	s := ovSlice{wrkRun: r, window: window, sim: sim1 - sim0, self: self1.minus(self0),
		machine: machineTimes{busy: m1.busy - m0.busy, idle: m1.idle - m0.idle}, upOpen: len(c1)}
	for c := range c1 {
		if !c0[c] {
			s.upNew++
		}
	}
	if t.pid == 0 {
		s.proxy = s.self.user + s.self.sys
	} else {
		s.proxy = p1 - p0
	}
	return s, nil
}

// proxyCPU reads the CPU a proxy process tree has used (0 for direct and
// for the gateway, whose CPU is this process's).
func (h *ovHarness) proxyCPU(t ovTarget) (time.Duration, error) {
	if t.pid <= 0 {
		return 0, nil
	}
	return treeCPU(t.pid)
}
