package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/migrate"
	"github.com/intelgate/intelgate/internal/store/sqlite"
	"github.com/intelgate/intelgate/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "intelgate.db"))
		require.NoError(t, err)
		return s
	})
}

// TestRiverHandle: the River seam is the store's one writer connection on
// the same file, found through store.SQLHandle, and InTx's Tx is a *sql.Tx
// (riversqlite's InsertTx takes one).
func TestRiverHandle(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "intelgate.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var st store.Store = s
	require.Equal(t, store.SQLite, st.Dialect())
	h, ok := st.(store.SQLHandle)
	require.True(t, ok)
	db := h.DB()
	require.Equal(t, 1, db.Stats().MaxOpenConnections, "riversqlite wants exactly one connection")

	_, err = db.ExecContext(t.Context(), "INSERT INTO client_seen (client, last_seen, last_addr) VALUES (?, ?, ?)",
		"siem", "2026-11-27T09:00:00.000000000Z", "10.0.0.1")
	require.NoError(t, err)
	_, addr, ok, err := s.ClientLastSeen(t.Context(), "siem")
	require.NoError(t, err)
	require.True(t, ok, "the handle writes the store's file")
	require.Equal(t, "10.0.0.1", addr)

	require.NoError(t, s.InTx(t.Context(), func(_ context.Context, tx store.Tx) error {
		_, isSQLTx := tx.(*sql.Tx)
		require.True(t, isSQLTx)
		return nil
	}))
}

// TestReopen: opening an existing database applies no migration twice and
// keeps the data.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.TouchClient(t.Context(), "siem", "10.0.0.1", at))
	require.NoError(t, s.Close())

	s, err = sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	got, addr, ok, err := s.ClientLastSeen(t.Context(), "siem")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "10.0.0.1", addr)
	require.True(t, at.Equal(got))

	db := rawDB(t, path)
	var n, maxVersion int
	require.NoError(t, db.QueryRow("SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &maxVersion))
	require.Equal(t, maxVersion, n, "each migration recorded exactly once")
	require.GreaterOrEqual(t, n, 1)
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	db := rawDB(t, path)
	_, err = db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', '2030-01-01T00:00:00Z')")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	_, err = sqlite.Open(t.Context(), path)
	require.ErrorIs(t, err, migrate.ErrSchemaTooNew)
	require.ErrorContains(t, err, "version 9999")
	require.ErrorContains(t, err, path)
}

func TestWALAndPragmas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	// journal_mode is stored in the file: a fresh connection sees it.
	db := rawDB(t, path)
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)

	// The per-connection pragmas, as the store's own connections see them.
	var fk, busy, sync int
	require.NoError(t, sqlite.QueryRowForTest(t, s, "PRAGMA foreign_keys").Scan(&fk))
	require.NoError(t, sqlite.QueryRowForTest(t, s, "PRAGMA busy_timeout").Scan(&busy))
	require.NoError(t, sqlite.QueryRowForTest(t, s, "PRAGMA synchronous").Scan(&sync))
	require.Equal(t, 1, fk)
	require.Equal(t, sqlite.BusyTimeoutMillis, busy)
	require.Equal(t, 1, sync, "synchronous=NORMAL")
}

func TestFileMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.TouchClient(t.Context(), "siem", "10.0.0.1", time.Now()))

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}
}

func TestPathWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a?b#c %41")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "intelgate.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "the database is at the path given, not a mangled one")
}

func TestNotASQLiteFile(t *testing.T) {
	t.Parallel()
	tests := map[string][]byte{
		"text":         []byte("storage:\n  driver: sqlite\n"),
		"short":        []byte("SQL"),
		"page of junk": make([]byte, 4096),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, content, 0o600))
			_, err := sqlite.Open(t.Context(), path)
			require.ErrorContains(t, err, "not a SQLite database")
			require.ErrorContains(t, err, path)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, content, after, "the file is left untouched")
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(t.Context(), "")
	require.ErrorContains(t, err, "path is empty")

	_, err = sqlite.Open(t.Context(), t.TempDir()) // a directory
	require.Error(t, err)

	_, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing", "intelgate.db"))
	require.Error(t, err)
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}
