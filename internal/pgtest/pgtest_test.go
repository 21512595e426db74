package pgtest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/pgtest"
)

func TestWithSearchPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn, schema, want, err string
	}{
		{"postgres://u@h:5432/db?sslmode=disable", "s_1", "postgres://u@h:5432/db?search_path=s_1&sslmode=disable", ""},
		{"postgresql://u@h/db", "s", "postgresql://u@h/db?search_path=s", ""},
		{"postgres://u@h/db?search_path=old", "new", "postgres://u@h/db?search_path=new", ""},
		{"host=h dbname=db ", "s", "host=h dbname=db search_path=s", ""},
		{"host=h", "S", "", "only a-z"},
		{"host=h", "s; DROP", "", "only a-z"},
		{"postgres://u@h/%zz", "s", "", "parsing"},
	}
	for _, tc := range tests {
		got, err := pgtest.WithSearchPath(tc.dsn, tc.schema)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.dsn)
			continue
		}
		require.NoError(t, err, tc.dsn)
		require.Equal(t, tc.want, got)
	}
}

// TestSchemaIsolated: each schema starts empty and sees only its own
// tables; Conn connects into it.
func TestSchemaIsolated(t *testing.T) {
	t.Parallel()
	a, b := pgtest.New(t), pgtest.New(t)
	require.NotEqual(t, a.Name, b.Name)
	ca, cb := pgtest.Conn(t, a.DSN), pgtest.Conn(t, b.DSN)
	ctx := t.Context()
	var schema string
	require.NoError(t, ca.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	require.Equal(t, a.Name, schema)
	_, err := ca.Exec(ctx, "CREATE TABLE t (x int)")
	require.NoError(t, err)
	_, err = cb.Exec(ctx, "CREATE TABLE t (x int)")
	require.NoError(t, err, "b has no table t of a's")
	_, err = ca.Exec(ctx, "INSERT INTO t VALUES (1)")
	require.NoError(t, err)
	var n int
	require.NoError(t, cb.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Zero(t, n)
}

// TestSchemaDropped: the schema is gone once its test has ended.
func TestSchemaDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("uses", func(t *testing.T) { name = pgtest.New(t).Name })
	if name == "" {
		t.Skip("the subtest skipped")
	}
	c := pgtest.Conn(t, pgtest.BaseDSN(t))
	var exists bool
	require.NoError(t, c.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&exists))
	require.False(t, exists)
}
