package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// TestPurgeLogReachesAnotherProcess: a purge published through one handle
// on the file (the CLI) reaches a subscriber on another (the gateway),
// widened to its provider, and a subscriber only hears what came after it
// started.
func TestPurgeLogReachesAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	gateway, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gateway.Close() })
	cli, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })

	require.NoError(t, cli.PurgeLog(0).Publish(context.Background(), cache.Scope{Provider: "before"}))

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan cache.Scope, 8)
	done := make(chan error, 1)
	go func() {
		done <- gateway.PurgeLog(5*time.Millisecond).Subscribe(ctx, func(s cache.Scope) { got <- s })
	}()
	// The subscriber starts from the log's end as it is when it first
	// reads it; publish until the first purge arrives, then the rest.
	deadline := time.After(10 * time.Second)
	for first := false; !first; {
		require.NoError(t, cli.PurgeLog(0).Publish(context.Background(), cache.Scope{Provider: "vt"}))
		select {
		case s := <-got:
			require.Equal(t, cache.Scope{Provider: "vt"}, s, "a purge published before Subscribe started is not replayed")
			first = true
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("no purge reached the subscriber")
		}
	}
	// Purges published before the first arrived may still be on their
	// way (the subscriber polls): a marker published now arrives after
	// all of them, in log order.
	require.NoError(t, cli.PurgeLog(0).Publish(context.Background(), cache.Scope{Provider: "marker"}))
	for s := <-got; s.Provider != "marker"; s = <-got {
		require.Equal(t, cache.Scope{Provider: "vt"}, s)
	}
	require.NoError(t, cli.PurgeLog(0).Publish(context.Background(), cache.Scope{Provider: "vt", Indicators: []string{"10.1.2.3"}}))
	require.Equal(t, cache.Scope{Provider: "vt"}, <-got, "an indicator purge travels as its provider's: no indicator in the log")
	require.NoError(t, cli.PurgeLog(0).Publish(context.Background(), cache.Scope{}))
	require.Equal(t, cache.Scope{}, <-got)
	require.Error(t, cli.PurgeLog(0).Publish(context.Background(), cache.Scope{Indicators: []string{"x"}}))
	cancel()
	require.NoError(t, <-done)
}
