//go:build unix

package secret

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.fifo")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	return p
}
