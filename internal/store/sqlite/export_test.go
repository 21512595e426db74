package sqlite

import (
	"database/sql"
	"testing"
)

// QueryRowForTest runs query on the store's writer connection.
func QueryRowForTest(t *testing.T, s *Store, query string) *sql.Row {
	t.Helper()
	return s.writes.QueryRowContext(t.Context(), query)
}
