package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// pauseStart is the fake clock's start, far from the wall clock: a pause
// measured on the wall clock instead would read as long over.
var pauseStart = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// node is one embedded gateway process's durable and governance state:
// the store on the file and a memory.State opened on it, as production
// wires them.
type node struct {
	store *sqlite.Store
	state *memory.State
}

// boot starts a node on the file at path, as a gateway process starts.
func boot(t *testing.T, path string, clk *clocktest.Clock) node {
	t.Helper()
	st, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	state, err := memory.Open(t.Context(), memory.Options{Clock: clk, Quotas: st, Pauses: st})
	require.NoError(t, err)
	return node{store: st, state: state}
}

// restart stops n, as a process exits, and boots a new node on its file.
func (n node) restart(t *testing.T, path string, clk *clocktest.Clock) node {
	t.Helper()
	require.NoError(t, n.store.Close())
	return boot(t, path, clk)
}

func requirePausedUntil(t *testing.T, s govern.Pauser, key string, want time.Time) {
	t.Helper()
	got, err := s.PausedUntil(t.Context(), key)
	require.NoError(t, err)
	require.True(t, want.Equal(got), "%s: want %s, got %s", key, want, got)
}

// TestPausesSurviveRestart: pauses and claims made through memory.State
// on a SQLite file are in force after a restart, unpauses stay made, and
// what ended while the process was down is not loaded.
func TestPausesSurviveRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	clk := clocktest.New(pauseStart)
	n := boot(t, path, clk)
	ctx := t.Context()
	hour := clk.Now().Add(time.Hour)
	require.NoError(t, n.state.PauseUntil(ctx, "p:se:k1", hour))
	require.NoError(t, n.state.PauseUntil(ctx, "p:se:k1", clk.Now().Add(time.Minute)), "shorter: kept at an hour")
	won, err := n.state.TryPause(ctx, "c:se:k1:fp", time.Hour)
	require.NoError(t, err)
	require.True(t, won)
	require.NoError(t, n.state.PauseUntil(ctx, "p:se:short", clk.Now().Add(time.Minute)))
	require.NoError(t, n.state.PauseUntil(ctx, "x:se:k2:fp", hour))
	require.NoError(t, n.state.Unpause(ctx, "x:se:k2:fp"))

	clk.Advance(2 * time.Minute) // down for two minutes
	n = n.restart(t, path, clk)
	requirePausedUntil(t, n.state, "p:se:k1", hour)
	requirePausedUntil(t, n.state, "c:se:k1:fp", hour)
	requirePausedUntil(t, n.state, "p:se:short", time.Time{})
	requirePausedUntil(t, n.state, "x:se:k2:fp", time.Time{})
	won, err = n.state.TryPause(ctx, "c:se:k1:fp", time.Hour)
	require.NoError(t, err)
	require.False(t, won, "the claim taken before the restart still holds")

	require.NoError(t, n.state.Unpause(ctx, "p:se:k1"))
	n = n.restart(t, path, clk)
	requirePausedUntil(t, n.state, "p:se:k1", time.Time{})
	requirePausedUntil(t, n.state, "c:se:k1:fp", hour)
}

// TestRevocationSurvivesRestart: a key the governor revoked stays out of
// rotation across a restart of the whole embedded stack (store, state,
// governor), a restore stays made, and revocation stays a verdict on the
// secret: a rotated secret under the same id starts unrevoked.
func TestRevocationSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	clk := clocktest.New(pauseStart)
	ctx := t.Context()
	pool := func(k1Secret string) []govern.Key {
		return []govern.Key{
			{ID: "k1", Environment: "prod", Value: secret.NewValue(k1Secret)},
			{ID: "k2", Environment: "prod", Value: secret.NewValue("secret-k2")},
		}
	}
	governor := func(n node, keys []govern.Key) *govern.Governor {
		g, err := govern.New(govern.Options{State: n.state, Clock: clk}, []govern.Policy{{Provider: "se", Keys: keys}}, nil)
		require.NoError(t, err)
		return g
	}
	requireRevoked := func(g *govern.Governor, keyID string, want bool) {
		t.Helper()
		got, err := g.Revoked(ctx, "se", keyID)
		require.NoError(t, err)
		require.Equal(t, want, got, keyID)
	}

	n := boot(t, path, clk)
	require.NoError(t, governor(n, pool("secret-k1")).Revoke(ctx, "se", "k1"))

	n = n.restart(t, path, clk)
	g := governor(n, pool("secret-k1"))
	requireRevoked(g, "k1", true)
	requireRevoked(g, "k2", false)
	l, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k2", l.KeyID, "the revoked primary is skipped after the restart")

	n = n.restart(t, path, clk)
	g = governor(n, pool("secret-k1-rotated"))
	requireRevoked(g, "k1", false)

	n = n.restart(t, path, clk)
	g = governor(n, pool("secret-k1"))
	requireRevoked(g, "k1", true)
	require.NoError(t, g.Restore(ctx, "se", "k1"))

	n = n.restart(t, path, clk)
	requireRevoked(governor(n, pool("secret-k1")), "k1", false)
}
