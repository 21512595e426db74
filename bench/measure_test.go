package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests pin the measuring code the benchmark numbers depend on; they
// are the only tests in the package and take milliseconds.

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	cases := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"median of even count is the lower middle (nearest rank)", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p is the minimum", ms(hundred...), 0.1, 1 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := append([]time.Duration(nil), tc.ds...)
			require.Equal(t, tc.want, percentile(tc.ds, tc.p))
			require.Equal(t, before, tc.ds, "percentile must not reorder its input")
		})
	}
}

func TestRunLoadSendsEachRequestOnceAndCountsStatuses(t *testing.T) {
	t.Parallel()
	const n = 1000
	seen := make([]int, n)
	o := runLoad(context.Background(), 8, n, func(_ context.Context, i int) error {
		seen[i]++ // each index goes to exactly one worker, so no race
		switch {
		case i%10 == 0:
			return errStatus{code: 429}
		case i%10 == 1:
			return context.DeadlineExceeded // a transport error: status 0
		}
		return nil
	})
	for i, c := range seen {
		require.Equal(t, 1, c, "request %d", i)
	}
	require.Len(t, o.latencies, n)
	require.Equal(t, map[int]int{200: 800, 429: 100, 0: 100}, o.statuses)
	require.Equal(t, 200, o.failed())
	require.Positive(t, o.elapsed)
}

func TestMedian(t *testing.T) {
	t.Parallel()
	require.Zero(t, median(nil))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	in := []float64{4, 1, 3, 2}
	require.Equal(t, 2.5, median(in))
	require.Equal(t, []float64{4, 1, 3, 2}, in, "median must not reorder its input")
}

func TestProcStatCPU(t *testing.T) {
	t.Parallel()
	// A command name with spaces and a ')' of its own, as /proc allows.
	line := "4242 (nginx: worker (x) ) S 4241 4241 4241 0 -1 4194624 120 0 0 0 250 75 0 0 20 0 1 0 123 456 789\n"
	cpu, ppid, err := procStatCPU(line)
	require.NoError(t, err)
	require.Equal(t, 4241, ppid)
	require.Equal(t, 3250*time.Millisecond, cpu, "utime 250 + stime 75 ticks of 10ms")
	_, _, err = procStatCPU("4242 (short) S 1 2")
	require.Error(t, err)
}

func TestParseMachineStat(t *testing.T) {
	t.Parallel()
	m, err := parseMachineStat("cpu  100 5 50 1000 20 3 7 15 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	require.NoError(t, err)
	require.Equal(t, 1800*time.Millisecond, m.busy, "user+nice+system+irq+softirq+steal = 180 ticks")
	require.Equal(t, 10200*time.Millisecond, m.idle, "idle+iowait = 1020 ticks")
	_, err = parseMachineStat("intr 1 2 3")
	require.Error(t, err)
}

func TestParseWrk(t *testing.T) {
	t.Parallel()
	out := "Running 3s test @ http://127.0.0.1:1\n  2 threads and 16 connections\n" +
		"intelgate-wrk requests=30000 duration_us=3000500 p50_us=480 p99_us=2100 max_us=9000 connect=0 read=0 write=0 status=3 timeout=0\n"
	r, err := parseWrk(out)
	require.NoError(t, err)
	require.Equal(t, int64(30000), r.requests)
	require.Equal(t, 3000500*time.Microsecond, r.elapsed)
	require.Equal(t, 480*time.Microsecond, r.p50)
	require.Equal(t, 2100*time.Microsecond, r.p99)
	require.Equal(t, map[string]int64{"status": 3}, r.errors)
	require.Equal(t, int64(3), r.failed())
	_, err = parseWrk("Running 3s test\n")
	require.Error(t, err, "no result line")
	_, err = parseWrk("intelgate-wrk requests=1\n")
	require.Error(t, err, "a result line without latencies")
}

func TestParseListenerConns(t *testing.T) {
	t.Parallel()
	// Port 8080 is 1F90. Two established connections to it, one in
	// TIME_WAIT (06), one listening socket (0A), and the client end of a
	// connection (local port C350), which is not the listener's.
	data := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:C352 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 4 30 10 -1
   4: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
`
	require.Equal(t, map[string]bool{"0100007F:C350": true, "0100007F:C351": true}, parseListenerConns(data, 8080))
}
