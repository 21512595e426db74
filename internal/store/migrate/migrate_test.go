package migrate_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/intelgate/intelgate/internal/store/migrate"
)

var sqliteDialect = migrate.Dialect{Name: "sqlite", Placeholder: func(int) string { return "?" }}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoad(t *testing.T) {
	t.Parallel()
	ms, err := migrate.Load(fstest.MapFS{
		"0002_second.sql": file("CREATE TABLE b (x INTEGER);"),
		"0001_first.sql":  file("CREATE TABLE a (x INTEGER);"),
		"README.md":       file("not a migration"),
	})
	require.NoError(t, err)
	require.Equal(t, []migrate.Migration{
		{Version: 1, Name: "first", SQL: "CREATE TABLE a (x INTEGER);"},
		{Version: 2, Name: "second", SQL: "CREATE TABLE b (x INTEGER);"},
	}, ms)
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fs   fstest.MapFS
		want string
	}{
		"empty dir":     {fstest.MapFS{}, "no migrations found"},
		"bad name":      {fstest.MapFS{"0001-first.sql": file("SELECT 1;")}, `"0001-first.sql": name must be`},
		"upper case":    {fstest.MapFS{"0001_First.sql": file("SELECT 1;")}, "name must be"},
		"short number":  {fstest.MapFS{"1_first.sql": file("SELECT 1;")}, "name must be"},
		"starts at two": {fstest.MapFS{"0002_first.sql": file("SELECT 1;")}, "expected version 0001"},
		"gap": {fstest.MapFS{
			"0001_a.sql": file("SELECT 1;"), "0003_c.sql": file("SELECT 1;"),
		}, `"0003_c.sql": expected version 0002`},
		"duplicate": {fstest.MapFS{
			"0001_a.sql": file("SELECT 1;"), "0001_b.sql": file("SELECT 1;"),
		}, `"0001_b.sql": expected version 0002`},
		"empty file": {fstest.MapFS{"0001_a.sql": file(" \n")}, "is empty"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := migrate.Load(tc.fs)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func history(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	return names
}

func TestUpAppliesInOrderOnce(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	v1 := []migrate.Migration{
		{Version: 1, Name: "a", SQL: "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
	}
	v2 := append(v1, migrate.Migration{Version: 2, Name: "b", SQL: "INSERT INTO a SELECT x + 1 FROM a;"})

	n, err := migrate.Up(t.Context(), db, v1, sqliteDialect)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = migrate.Up(t.Context(), db, v2, sqliteDialect)
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the new migration runs")
	n, err = migrate.Up(t.Context(), db, v2, sqliteDialect)
	require.NoError(t, err)
	require.Zero(t, n)

	var count, sum int
	require.NoError(t, db.QueryRow("SELECT count(*), sum(x) FROM a").Scan(&count, &sum))
	require.Equal(t, 2, count, "multi-statement migration ran fully, second ran once")
	require.Equal(t, 3, sum)
	require.Equal(t, []string{"a", "b"}, history(t, db))
}

func TestUpFailureRollsBack(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ms := []migrate.Migration{
		{Version: 1, Name: "a", SQL: "CREATE TABLE a (x INTEGER);"},
		{Version: 2, Name: "broken", SQL: "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);"},
	}
	n, err := migrate.Up(t.Context(), db, ms, sqliteDialect)
	require.ErrorContains(t, err, "applying migration 0002_broken")
	require.Equal(t, 1, n)
	require.Equal(t, []string{"a"}, history(t, db))
	var tables int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'b'").Scan(&tables))
	require.Zero(t, tables, "the failed migration's first statement was rolled back")
}

func TestUpRefusesNewerOrForeignHistory(t *testing.T) {
	t.Parallel()
	ms := []migrate.Migration{
		{Version: 1, Name: "a", SQL: "CREATE TABLE a (x INTEGER);"},
		{Version: 2, Name: "b", SQL: "CREATE TABLE b (x INTEGER);"},
	}

	t.Run("newer", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		_, err := migrate.Up(t.Context(), db, ms, sqliteDialect)
		require.NoError(t, err)
		_, err = migrate.Up(t.Context(), db, ms[:1], sqliteDialect)
		require.ErrorIs(t, err, migrate.ErrSchemaTooNew)
		require.ErrorContains(t, err, "database is at version 2, this binary knows up to 1")
	})

	t.Run("renamed", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		_, err := migrate.Up(t.Context(), db, ms[:1], sqliteDialect)
		require.NoError(t, err)
		renamed := []migrate.Migration{{Version: 1, Name: "renamed", SQL: ms[0].SQL}, ms[1]}
		_, err = migrate.Up(t.Context(), db, renamed, sqliteDialect)
		require.ErrorContains(t, err, "database has migration 0001_a where 0001_renamed was expected")
		require.NotErrorIs(t, err, migrate.ErrSchemaTooNew)
	})
}

func TestUpRunsLock(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	d := sqliteDialect
	d.Lock = "SELECT no_such_function()"
	_, err := migrate.Up(t.Context(), db, []migrate.Migration{{Version: 1, Name: "a", SQL: "SELECT 1;"}}, d)
	require.ErrorContains(t, err, "locking sqlite schema")
}
