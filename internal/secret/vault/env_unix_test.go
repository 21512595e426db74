//go:build unix

package vault_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// mkfifo makes a named pipe that nothing writes to. If the test fails
// because something is stuck opening it for reading, the cleanup opens it
// for writing, which lets that reader through (to an empty read), so no
// goroutine outlives the test.
func mkfifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	t.Cleanup(func() {
		if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	})
	return p
}

// newWithin runs vault.New and fails the test if it has not returned
// within patience: a New stuck on a file is the defect under test.
func newWithin(t *testing.T, o vault.Options) (*vault.Source, error) {
	t.Helper()
	type result struct {
		src *vault.Source
		err error
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		src, err := vault.New(ctx, o)
		done <- result{src, err}
	}()
	select {
	case r := <-done:
		return r.src, r.err
	case <-ctx.Done():
		t.Fatalf("vault.New did not return within %s", patience)
		return nil, errors.New("unreachable")
	}
}

// TestEnvironmentFilesCannotStallNew: the api package reads the files that
// VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT and VAULT_CLIENT_KEY name
// whenever a client is built, although the gateway uses none of them. One
// that is a FIFO (or a device, or missing, or huge) must make New refuse
// promptly, naming the variable and never its value, instead of hanging,
// reading without end, or failing with the library's words. A regular
// file is read and ignored. Not parallel: it sets the process environment.
func TestEnvironmentFilesCannotStallNew(t *testing.T) {
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.pem")
	require.NoError(t, os.WriteFile(huge, nil, 0o600))
	require.NoError(t, os.Truncate(huge, 2<<20)) // sparse: costs no disk
	cases := []struct {
		name string
		env  map[string]string
		bad  string // the variable the error must name
		why  string
	}{
		{"FIFO in VAULT_CACERT", map[string]string{"VAULT_CACERT": mkfifo(t, dir, "ca.fifo")}, "VAULT_CACERT", "not a regular file"},
		{"directory in VAULT_CAPATH", map[string]string{"VAULT_CAPATH": dir}, "VAULT_CAPATH", "not a regular file"},
		{"FIFO in VAULT_CLIENT_KEY", map[string]string{
			"VAULT_CLIENT_CERT": srv.CAFile(t), "VAULT_CLIENT_KEY": mkfifo(t, dir, "key.fifo"),
		}, "VAULT_CLIENT_KEY", "not a regular file"},
		{"missing VAULT_CLIENT_CERT", map[string]string{
			"VAULT_CLIENT_CERT": filepath.Join(dir, "none.pem"), "VAULT_CLIENT_KEY": srv.CAFile(t),
		}, "VAULT_CLIENT_CERT", "does not exist"},
		{"huge VAULT_CACERT", map[string]string{"VAULT_CACERT": huge}, "VAULT_CACERT", "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := newWithin(t, tokenOptions(t, srv, tok))
			require.Error(t, err)
			require.ErrorContains(t, err, tc.bad)
			require.ErrorContains(t, err, tc.why)
			require.ErrorContains(t, err, "intelgate ignores it")
			require.ErrorContains(t, err, "unset it or point it at a regular file")
			require.NotContains(t, err.Error(), dir, "the variable's value is not quoted")
		})
	}

	t.Run("a regular file is read and ignored", func(t *testing.T) {
		t.Setenv("VAULT_CAPATH", upstreamtest.NewCA(t, "not the server's").WriteFile(t))
		src, err := newWithin(t, tokenOptions(t, srv, tok))
		require.NoError(t, err)
		require.NoError(t, src.Close())
	})
}
