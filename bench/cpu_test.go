package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// CPU accounting for the overhead benchmark. Every party runs as its own
// process except the gateway, which runs in the benchmark process itself:
//
//   - the gateway: the benchmark process (getrusage RUSAGE_SELF), which
//     during a gateway slice does nothing else but wait for wrk;
//   - nginx (master and workers), Caddy, the simulator: /proc/PID/stat;
//   - wrk: its own rusage, from the kernel when it exits;
//   - the machine: /proc/stat, so CPU used by anything else on the
//     machine (other people's tests, the kernel's loopback networking
//     that no process is charged for, steal) shows up as "other".

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux
// architecture (it is part of the kernel's user-space ABI).
const userHZ = 100

// tick is one /proc clock tick.
const tick = time.Second / userHZ

// procStatCPU parses user+system CPU time and the parent pid out of one
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces, so fields are counted from the last ')'.
func procStatCPU(line string) (cpu time.Duration, ppid int, err error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, 0, errors.New("no command name in stat line")
	}
	// After ')': state ppid pgrp session tty tpgid flags minflt cminflt
	// majflt cmajflt utime stime …
	f := strings.Fields(line[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat line has %d fields after the name, want at least 13", len(f))
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("ppid %q: %w", f[1], err)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * tick, ppid, nil
}

// treeCPU is the CPU time used so far by process pid and its live
// children (nginx's workers; Caddy and the simulator have none).
func treeCPU(pid int) (time.Duration, error) {
	own, err := pidCPU(pid)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing /proc: %w", err)
	}
	total := own
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone in between, or not a process
		}
		cpu, ppid, err := procStatCPU(string(data))
		if err == nil && ppid == pid {
			total += cpu
		}
	}
	return total, nil
}

func pidCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading process stat: %w", err)
	}
	cpu, _, err := procStatCPU(string(data))
	return cpu, err
}

// machineTimes are the machine's cumulative CPU times, all cores summed.
type machineTimes struct {
	busy time.Duration // user nice system irq softirq steal
	idle time.Duration // idle iowait
}

// parseMachineStat reads the first ("cpu ") line of /proc/stat.
func parseMachineStat(data string) (machineTimes, error) {
	line, _, _ := strings.Cut(data, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTimes{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var v [8]int64 // user nice system idle iowait irq softirq steal
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return machineTimes{}, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		v[i] = n
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	idle := v[3] + v[4]
	return machineTimes{busy: time.Duration(busy) * tick, idle: time.Duration(idle) * tick}, nil
}

func readMachine() (machineTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	return parseMachineStat(string(data))
}

// selfUsage is what this process (the gateway, during a gateway slice)
// has used so far.
type selfUsage struct {
	user, sys time.Duration // getrusage RUSAGE_SELF
	gc        time.Duration // runtime/metrics: GC CPU, estimated by the runtime
	mallocs   uint64        // heap objects allocated
	bytes     uint64        // heap bytes allocated
}

// gcCPU is the runtime's estimate of the CPU its garbage collector used.
const gcCPU = "/cpu/classes/gc/total:cpu-seconds"

// readSelf reads selfUsage. Allocation counts come from ReadMemStats, as
// testing's allocs/op do (it stops the world for a moment; it is called
// only between slices).
func readSelf() (selfUsage, error) {
	user, sys, err := rusageSelf()
	if err != nil {
		return selfUsage{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u := selfUsage{user: user, sys: sys, mallocs: ms.Mallocs, bytes: ms.TotalAlloc}
	s := []metrics.Sample{{Name: gcCPU}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64 {
		u.gc = time.Duration(s[0].Value.Float64() * float64(time.Second))
	}
	return u, nil
}

func (u selfUsage) minus(v selfUsage) selfUsage {
	return selfUsage{user: u.user - v.user, sys: u.sys - v.sys, gc: u.gc - v.gc,
		mallocs: u.mallocs - v.mallocs, bytes: u.bytes - v.bytes}
}

// cores is cpu spread over elapsed: 1.0 is one core fully busy.
func cores(cpu, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(cpu) / float64(elapsed)
}

// usPer is cpu per request in microseconds.
func usPer(cpu time.Duration, requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	return float64(cpu) / float64(time.Microsecond) / float64(requests)
}

// numCPU is how many cores the machine's figures are spread over.
func numCPU() int { return runtime.NumCPU() }

// listenerConns is the set of established TCP connections whose local end
// is 127.0.0.1:port (a server's accepted connections), keyed by the
// remote end, from /proc/net/tcp. Comparing the sets before and after a
// slice shows whether a proxy kept its upstream connections or made new
// ones (each one a TLS handshake for the simulator).
func listenerConns(port int) (map[string]bool, error) {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/net/tcp: %w", err)
	}
	return parseListenerConns(string(data), port), nil
}

// parseListenerConns reads /proc/net/tcp lines "sl local rem st …" with
// addresses as hex IPv4:port (127.0.0.1 is 0100007F) and state 01 for
// ESTABLISHED.
func parseListenerConns(data string, port int) map[string]bool {
	local := fmt.Sprintf("0100007F:%04X", port)
	conns := map[string]bool{}
	for line := range strings.Lines(data) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == local && f[3] == "01" {
			conns[f[2]] = true
		}
	}
	return conns
}
