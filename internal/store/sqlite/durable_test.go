package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// TestOnError: Options.OnError hears each failed call under its method's
// name, and neither successes nor a caller's cancellation.
func TestOnError(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	s, err := sqlite.OpenWith(t.Context(), filepath.Join(t.TempDir(), "intelgate.db"), sqlite.Options{
		OnError: func(op string) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, op)
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	w := []govern.Window{{Key: "q", Limit: 1, Expires: time.Now().Add(time.Hour)}}
	errStop := errors.New("stop")

	tests := []struct {
		op   string // "" when the call must not be reported
		call func(ctx context.Context) error
	}{
		{"TouchClient", func(ctx context.Context) error { return s.TouchClient(ctx, "", "10.0.0.1", time.Now()) }},
		{"", func(ctx context.Context) error { return s.TouchClient(ctx, "siem", "10.0.0.1", time.Now()) }},
		{"", func(context.Context) error { return s.TouchClient(canceled, "siem", "10.0.0.1", time.Now()) }},
		{"", func(context.Context) error { _, _, _, err := s.ClientLastSeen(canceled, "siem"); return err }},
		{"RecordKeyFingerprint", func(ctx context.Context) error {
			_, err := s.RecordKeyFingerprint(ctx, "", "k", "fp", time.Now())
			return err
		}},
		{"Sweep", func(ctx context.Context) error { _, err := s.Sweep(ctx, "nope", time.Now(), 1); return err }},
		{"", func(ctx context.Context) error { _, err := s.Sweep(ctx, store.SweepSeen, time.Now(), 1); return err }},
		{"SavePause", func(ctx context.Context) error { return s.SavePause(ctx, "", time.Now()) }},
		{"DeletePause", func(ctx context.Context) error { return s.DeletePause(ctx, "") }},
		{"", func(ctx context.Context) error { _, err := s.LoadPauses(ctx, time.Now()); return err }},
		{"Consume", func(ctx context.Context) error { // ErrInTx; the transaction itself succeeds
			var consumed error
			if err := s.InTx(ctx, func(ctx context.Context, _ store.Tx) error {
				_, _, consumed = s.Consume(ctx, w)
				return nil
			}); err != nil {
				return err
			}
			return consumed
		}},
		{"InTx", func(ctx context.Context) error {
			return s.InTx(ctx, func(context.Context, store.Tx) error { return errStop })
		}},
		{"ReadTx", func(ctx context.Context) error {
			return s.ReadTx(ctx, func(context.Context, store.Tx) error { return errStop })
		}},
		{"", func(context.Context) error {
			return s.ReadTx(canceled, func(context.Context, store.Tx) error { return nil })
		}},
		{"Put", func(ctx context.Context) error { return s.Put(ctx, cache.Record{}) }},
		{"Purge", func(ctx context.Context) error { _, err := s.Purge(ctx, "", []string{"t"}); return err }},
		{"Scan", func(ctx context.Context) error {
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "id", "b", time.Now().Add(time.Hour))))
			return s.Scan(ctx, func(cache.Record) error { return errStop })
		}},
		{"Publish", func(ctx context.Context) error {
			return s.PurgeLog(0).Publish(ctx, cache.Scope{Indicators: []string{"x"}})
		}},
	}
	for _, tc := range tests {
		mu.Lock()
		got = nil
		mu.Unlock()
		err := tc.call(t.Context())
		mu.Lock()
		reported := got
		mu.Unlock()
		if tc.op == "" {
			require.Empty(t, reported, "%v", err)
			continue
		}
		require.Error(t, err, tc.op)
		require.Equal(t, []string{tc.op}, reported, "%v", err)
	}

	got = nil
	require.NoError(t, s.Close())
	require.Error(t, s.Ping(t.Context()))
	require.Equal(t, []string{"Ping"}, got)
}

// TestSweepCachePurgesByPublishTime: purges are swept by when they were
// published, on the store's clock, exactly up to the cut (the conformance
// case cannot choose their times).
func TestSweepCachePurgesByPublishTime(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(cacheStart)
	s, err := sqlite.OpenWith(t.Context(), filepath.Join(t.TempDir(), "intelgate.db"), sqlite.Options{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	for range 4 {
		require.NoError(t, s.PurgeLog(0).Publish(ctx, cache.Scope{Provider: "p"}))
		clk.Advance(time.Minute)
	}
	// Published at start, +1m, +2m and +3m: the cut at +2m takes two.
	n, err := s.Sweep(ctx, store.SweepCachePurges, cacheStart.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	n, err = s.Sweep(ctx, store.SweepCachePurges, cacheStart.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.Zero(t, n, "the purge published at the cut stays")
	n, err = s.Sweep(ctx, store.SweepCachePurges, cacheStart.Add(time.Hour), 10)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}
