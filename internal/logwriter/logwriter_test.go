package logwriter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sink is a destination that counts its writes; safe to read while the
// Writer's timer writes to it.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.fail != nil {
		return 0, s.fail
	}
	return s.buf.Write(p)
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *sink) writeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// never is a flush interval no test outlives: only size, Flush, Urgent
// and Close write.
const never = time.Hour

// TestEveryLineBeforeCloseIsWritten: lines logged concurrently through
// slog, with no timer flush, all come out of Close whole, each exactly
// once, in far fewer writes than lines.
func TestEveryLineBeforeCloseIsWritten(t *testing.T) {
	t.Parallel()
	out := &sink{}
	w := New(out, Options{BufferSize: 4 << 10, FlushInterval: never})
	log := slog.New(slog.NewJSONHandler(w, nil))
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				log.Info("request", "writer", g, "n", i, "path", "/v1/resolve")
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())

	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var rec struct {
			Writer, N int
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a whole JSON line: %q", line)
		key := fmt.Sprint(rec.Writer, "/", rec.N)
		require.False(t, seen[key], "line %s written twice", key)
		seen[key] = true
	}
	require.Len(t, seen, writers*each)
	require.Less(t, out.writeCount(), writers*each/10, "batched: one write per many lines")
}

func TestBuffersUntilFlush(t *testing.T) {
	t.Parallel()
	out := &sink{}
	w := New(out, Options{FlushInterval: never})
	_, err := w.Write([]byte("one\n"))
	require.NoError(t, err)
	_, err = w.Write([]byte("two\n"))
	require.NoError(t, err)
	require.Empty(t, out.String())
	require.NoError(t, w.Flush())
	require.Equal(t, "one\ntwo\n", out.String())
	require.Equal(t, 1, out.writeCount())
	require.NoError(t, w.Flush(), "nothing to flush is not an error")
	require.Equal(t, 1, out.writeCount())
}

// TestTimerFlushes: a line waits at most FlushInterval.
func TestTimerFlushes(t *testing.T) {
	t.Parallel()
	out := &sink{}
	w := New(out, Options{FlushInterval: 5 * time.Millisecond})
	t.Cleanup(func() { _ = w.Close() })
	_, err := w.Write([]byte("tick\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return out.String() == "tick\n" }, 10*time.Second, time.Millisecond)
	_, err = w.Write([]byte("tock\n")) // the timer re-arms for the next batch
	require.NoError(t, err)
	require.Eventually(t, func() bool { return out.String() == "tick\ntock\n" }, 10*time.Second, time.Millisecond)
}

// TestOrderAndSizeFlush: a line that does not fit flushes those before it;
// one bigger than the buffer goes straight out after them.
func TestOrderAndSizeFlush(t *testing.T) {
	t.Parallel()
	out := &sink{}
	w := New(out, Options{BufferSize: 16, FlushInterval: never})
	for _, s := range []string{"aaaaaaaaaa\n", "bbbbbbbbbb\n", strings.Repeat("c", 40) + "\n", "d\n"} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.Equal(t, "aaaaaaaaaa\nbbbbbbbbbb\n"+strings.Repeat("c", 40)+"\n", out.String())
	require.NoError(t, w.Close())
	require.Equal(t, "aaaaaaaaaa\nbbbbbbbbbb\n"+strings.Repeat("c", 40)+"\nd\n", out.String())
}

// TestWritesAfterCloseGoThrough: something that logs after Close (a
// deferred shutdown step) is not lost.
func TestWritesAfterCloseGoThrough(t *testing.T) {
	t.Parallel()
	out := &sink{}
	w := New(out, Options{FlushInterval: never})
	_, _ = w.Write([]byte("before\n"))
	require.NoError(t, w.Close())
	_, err := w.Write([]byte("after\n"))
	require.NoError(t, err)
	require.Equal(t, "before\nafter\n", out.String())
}

// TestUrgentFlushesWarnings: a warning is out when Log returns, with the
// info lines before it; info lines alone wait.
func TestUrgentFlushesWarnings(t *testing.T) {
	t.Parallel()
	out := &sink{}
	w := New(out, Options{FlushInterval: never})
	log := slog.New(w.Urgent(slog.NewJSONHandler(w, nil), slog.LevelWarn)).With("component", "test")
	log.Info("request")
	require.Empty(t, out.String())
	log.WithGroup("g").Warn("upstream asked to slow down")
	got := out.String()
	require.Contains(t, got, `"msg":"request","component":"test"`)
	require.Contains(t, got, `"msg":"upstream asked to slow down","component":"test"`)
	require.Less(t, strings.Index(got, `"msg":"request"`), strings.Index(got, "slow down"), "in order")
}

// TestBrokenOutputNeverBlocksOrGrows: when out fails, writes fail fast
// and the buffer stays bounded; once out recovers, logging resumes.
func TestBrokenOutputNeverBlocksOrGrows(t *testing.T) {
	t.Parallel()
	out := &sink{fail: errors.New("stderr closed")}
	w := New(out, Options{BufferSize: 64, FlushInterval: never})
	var failed int
	for range 100 {
		if _, err := w.Write([]byte("0123456789\n")); err != nil {
			failed++
		}
	}
	require.Positive(t, failed)
	require.LessOrEqual(t, cap(w.buf), 64, "bounded")
	require.Error(t, w.Flush())

	out.mu.Lock()
	out.fail = nil
	out.mu.Unlock()
	_, err := w.Write([]byte("back\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.True(t, strings.HasSuffix(out.String(), "back\n"), out.String())
}
