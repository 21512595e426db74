package postgres_test

import (
	"database/sql"
	"path/filepath"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/store/postgres"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// TestSchemaMirrorsSQLite: both backends have the same tables with the
// same columns, so code written against one dialect's tables (the audit
// log's statements, written once) finds them on the other, and a table
// added to one backend and forgotten in the other fails here.
func TestSchemaMirrorsSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	lite, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, lite.Close())
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	rows, err := db.QueryContext(t.Context(), `SELECT m.name || '.' || p.name FROM sqlite_master m
		JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	require.NoError(t, err)
	var want []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		want = append(want, c)
	}
	require.NoError(t, rows.Err())

	sc := pgtest.New(t)
	open(t, sc.DSN, postgres.Options{})
	pgRows, err := pgtest.Conn(t, sc.DSN).Query(t.Context(),
		"SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = $1", sc.Name)
	require.NoError(t, err)
	got, err := pgx.CollectRows(pgRows, pgx.RowTo[string])
	require.NoError(t, err)
	sort.Strings(want)
	sort.Strings(got)
	require.Equal(t, want, got)
}
