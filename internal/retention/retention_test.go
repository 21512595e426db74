package retention_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/retention"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type swept struct {
	mu sync.Mutex
	n  map[string]int64
}

func (s *swept) Observe(_ context.Context, e observe.Event) {
	if e, ok := e.(observe.Swept); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.n[e.Kind] += e.Deleted
	}
}

func keys(t *testing.T) *seal.Keyring {
	t.Helper()
	kr, err := seal.NewKeyring([]seal.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}})
	require.NoError(t, err)
	return kr
}

// The sweeper deletes exactly what is past retention on the injected
// clock, kind by kind, in batches; the audit chain still verifies, and
// says itself what was deleted.
func TestSweepRemovesExactlyWhatExpired(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(t0)
	st, err := sqlite.OpenWith(t.Context(), filepath.Join(t.TempDir(), "r.db"), sqlite.Options{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := t.Context()
	as := audit.NewStore(st, keys(t))
	day := 24 * time.Hour

	// Audit: one record a day for 20 days.
	var recs []audit.Record
	for i := range 20 {
		recs = append(recs, audit.Record{Time: t0.Add(time.Duration(i) * day), Kind: audit.KindAdmin, Action: "test"})
	}
	require.NoError(t, as.Append(ctx, recs))
	// Clients last seen on days 0, 5 and 15.
	for i, c := range []string{"old", "middle", "recent"} {
		require.NoError(t, st.TouchClient(ctx, c, "10.0.0.1", t0.Add(time.Duration([]int{0, 5, 15}[i])*day)))
	}
	// Pauses ending on days 1, 12 and 30.
	for i, k := range []string{"p:a", "p:b", "p:c"} {
		require.NoError(t, st.SavePause(ctx, k, t0.Add(time.Duration([]int{1, 12, 30}[i])*day)))
	}

	clk.Advance(20 * day)
	obs := &swept{n: map[string]int64{}}
	log, err := audit.NewLog(audit.Options{Store: as, FlushEvery: time.Millisecond})
	require.NoError(t, err)
	r, err := retention.New(retention.Options{Store: st, Audit: as, Log: log, AuditFor: 10 * day, SeenFor: 10 * day,
		Every: time.Hour, Batch: 3, Observer: obs, Clock: clk})
	require.NoError(t, err)
	got, err := r.Sweep(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 10, got["audit"], "days 0-9 are older than ten days; day 10 is exactly ten days old and stays")
	require.EqualValues(t, 2, got[string(store.SweepSeen)])
	require.EqualValues(t, 2, got[string(store.SweepPauses)], "pauses that ended on days 1 and 12")
	require.Equal(t, got["audit"], obs.n["audit"], "every batch is reported")

	_, _, ok, err := st.ClientLastSeen(ctx, "middle")
	require.NoError(t, err)
	require.False(t, ok)
	_, _, ok, err = st.ClientLastSeen(ctx, "recent")
	require.NoError(t, err)
	require.True(t, ok)
	pauses, err := st.LoadPauses(ctx, t0)
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{"p:c": t0.Add(30 * day)}, pauses)

	// The sweep's own record goes into the chain, which still verifies
	// from the first kept record.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- log.Run(runCtx) }()
	cancel()
	require.NoError(t, <-done)
	rep, err := as.Verify(ctx, audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.EqualValues(t, 11, rep.First)
	page, _, err := as.Page(ctx, audit.Filter{After: 20}, 10)
	require.NoError(t, err)
	require.Equal(t, audit.KindRetention, page[0].Kind)
	require.EqualValues(t, 10, page[0].Count)

	// Nothing more is due.
	got, err = r.Sweep(ctx)
	require.NoError(t, err)
	for kind, n := range got {
		require.Zero(t, n, kind)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	_, err := retention.New(retention.Options{AuditFor: time.Hour, SeenFor: time.Hour, Every: time.Hour})
	require.Error(t, err)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "r.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = retention.New(retention.Options{Store: st, SeenFor: time.Hour, Every: time.Hour})
	require.Error(t, err)
}
