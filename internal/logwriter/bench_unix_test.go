//go:build unix

package logwriter

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkAccessLogLine is one access-log-sized record through slog's
// JSON handler to a file, as `intelgate serve 2>file` writes it: straight
// to the file (one write system call per line) and through a Writer.
func BenchmarkAccessLogLine(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		name := "unbuffered"
		if buffered {
			name = "buffered"
		}
		b.Run(name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			require.NoError(b, err)
			b.Cleanup(func() { _ = f.Close() })
			var out io.Writer = f
			var w *Writer
			if buffered {
				w = New(f, Options{})
				out = w
			}
			log := slog.New(slog.NewJSONHandler(out, nil))
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(context.Background(), slog.LevelInfo, "request",
						slog.String("request_id", "5f0c2a9e41d3b7a8c6e2f190"), slog.String("method", "GET"),
						slog.String("path", "/v1/resolve"), slog.Int("status", 200), slog.Int64("bytes", 2817),
						slog.Float64("latency_ms", 1.234), slog.String("remote", "127.0.0.1:51234"),
						slog.String("client", "siem"), slog.String("provider", "socialeye"),
						slog.String("indicator_type", "username"))
				}
			})
			if w != nil {
				require.NoError(b, w.Close())
			}
			// CPU time, user and system, rather than wall time alone: on a
			// busy machine it is the number that holds still.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user plus system CPU time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
