package audit_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/postgres"
)

// The audit tests run on PostgreSQL too: each on a fresh schema, skipped
// (by pgtest) when INTELGATE_TEST_POSTGRES_DSN is not set.
func init() {
	backends = append(backends, backend{name: "postgres", open: openPostgres})
}

func openPostgres(t testing.TB) store.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), pgtest.DSN(t), postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}
