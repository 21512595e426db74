package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRedact: whatever quotes the password, raw or percent-encoded as a
// URL would hold it, the error that leaves Open does not; an error that
// holds none is returned as is, chain and all.
func TestRedact(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial error")
	tests := []struct {
		name     string
		err      error
		password string
		want     string
		keeps    bool // errors.Is(got, cause)
	}{
		{"no password", fmt.Errorf("connecting: %w", cause), "", "connecting: dial error", true},
		{"not quoted", fmt.Errorf("connecting: %w", cause), "pw", "connecting: dial error", true},
		{"raw", fmt.Errorf("dsn u:s3cret@h: %w", cause), "s3cret", "dsn u:xxxxx@h: dial error", false},
		{"twice", errors.New("s3cret and s3cret"), "s3cret", "xxxxx and xxxxx", false},
		{"query-escaped", errors.New("password=p%40ss+w"), "p@ss w", "password=xxxxx", false},
		{"path-escaped", errors.New("u:p%40ss%20w@h"), "p@ss w", "u:xxxxx@h", false},
		{"userinfo-escaped", errors.New("u:a%2Fb@h"), "a/b", "u:xxxxx@h", false},
	}
	for _, tc := range tests {
		got := redact(tc.err, tc.password)
		require.Equal(t, tc.want, got.Error(), tc.name)
		require.Equal(t, tc.keeps, errors.Is(got, cause), tc.name)
	}
}
