//go:build unix

package vault_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
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

// within runs f and fails the test if it has not returned within
// patience: a call stuck on a file is the defect under test.
func within[T any](t *testing.T, what string, f func(context.Context) T) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	done := make(chan T, 1)
	go func() { done <- f(ctx) }()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		t.Fatalf("%s did not return within %s", what, patience)
		var zero T
		return zero
	}
}

// newWithin runs vault.New and fails the test if it has not returned
// within patience.
func newWithin(t *testing.T, o vault.Options) (*vault.Source, error) {
	t.Helper()
	type result struct {
		src *vault.Source
		err error
	}
	r := within(t, "vault.New", func(ctx context.Context) result {
		src, err := vault.New(ctx, o)
		return result{src, err}
	})
	return r.src, r.err
}

// clearVaultFiles unsets, for the test, every variable the api package
// reads files (or CA bytes) from.
func clearVaultFiles(t *testing.T) {
	for _, name := range []string{api.EnvVaultCACert, api.EnvVaultCACertBytes, api.EnvVaultCAPath, api.EnvVaultClientCert, api.EnvVaultClientKey} {
		t.Setenv(name, "")
	}
}

// certDir builds a directory shaped like /etc/ssl/certs: PEM files, hash
// symlinks to them, a bundle, and a subdirectory with a PEM file in it.
func certDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var bundle []byte
	for i := range 3 {
		pem := upstreamtest.NewCA(t, fmt.Sprintf("root %d", i)).PEM()
		bundle = append(bundle, pem...)
		name := fmt.Sprintf("Root_%d.pem", i)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), pem, 0o644))
		require.NoError(t, os.Symlink(name, filepath.Join(dir, fmt.Sprintf("%08x.0", i))))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca-certificates.crt"), bundle, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "extra"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra", "local.pem"), upstreamtest.NewCA(t, "local").PEM(), 0o644))
	return dir
}

// TestEnvironmentFilesCannotStallNew: the api package reads the files that
// VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT and VAULT_CLIENT_KEY name
// whenever a client is built, although the gateway uses none of them. One
// it would read that is a FIFO (or a device, or missing, or huge), or a
// VAULT_CAPATH tree past the caps, must make New refuse promptly, naming
// the variable and never its value, instead of hanging, reading without
// end, or failing with the library's words. Not parallel: it sets the
// process environment.
func TestEnvironmentFilesCannotStallNew(t *testing.T) {
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.pem")
	require.NoError(t, os.WriteFile(huge, nil, 0o600))
	require.NoError(t, os.Truncate(huge, 2<<20)) // sparse: costs no disk

	withFIFO := certDir(t)
	mkfifo(t, filepath.Join(withFIFO, "extra"), "stuck.pem")
	withDevice := certDir(t)
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(withDevice, "zero.pem")))
	crowded := t.TempDir()
	for i := range 4097 {
		require.NoError(t, os.Mkdir(filepath.Join(crowded, fmt.Sprint(i)), 0o700))
	}
	heavy := t.TempDir()
	pem := upstreamtest.NewCA(t, "padded").PEM()
	for i := range 9 { // nine files of 1 MiB: past the 8 MiB of the whole tree
		p := filepath.Join(heavy, fmt.Sprintf("%d.pem", i))
		require.NoError(t, os.WriteFile(p, pem, 0o600))
		require.NoError(t, os.Truncate(p, 1<<20))
	}

	cases := []struct {
		name string
		env  map[string]string
		bad  string // the variable the error must name
		why  string
	}{
		{"FIFO in VAULT_CACERT", map[string]string{"VAULT_CACERT": mkfifo(t, dir, "ca.fifo")}, "VAULT_CACERT", "not a regular file"},
		{"FIFO under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": withFIFO}, "VAULT_CAPATH", "a directory holding an entry that is not a regular file"},
		{"device under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": withDevice}, "VAULT_CAPATH", "a directory holding an entry that is not a regular file"},
		{"FIFO as VAULT_CAPATH", map[string]string{"VAULT_CAPATH": mkfifo(t, dir, "path.fifo")}, "VAULT_CAPATH", "not a regular file"},
		{"too many entries under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": crowded}, "VAULT_CAPATH", "more than 4096 entries"},
		{"too many bytes under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": heavy}, "VAULT_CAPATH", "more than 8 MiB of files"},
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
			clearVaultFiles(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := newWithin(t, tokenOptions(t, srv, tok))
			require.Error(t, err)
			require.ErrorContains(t, err, tc.bad)
			require.ErrorContains(t, err, tc.why)
			require.ErrorContains(t, err, "intelgate ignores it")
			require.ErrorContains(t, err, "unset it or point it at a")
			for _, v := range tc.env {
				require.NotContains(t, err.Error(), v, "the variable's value is not quoted")
				require.NotContains(t, err.Error(), filepath.Base(v))
			}
		})
	}

	t.Run("a directory of certificates is accepted", func(t *testing.T) {
		clearVaultFiles(t)
		t.Setenv("VAULT_CAPATH", certDir(t)) // VAULT_CAPATH=/etc/ssl/certs, as images set it
		src, err := newWithin(t, tokenOptions(t, srv, tok))
		require.NoError(t, err)
		require.NoError(t, src.Close())
	})
	t.Run("a file the library does not read is not looked at", func(t *testing.T) {
		clearVaultFiles(t)
		t.Setenv("VAULT_CACERT", srv.CAFile(t)) // wins over VAULT_CAPATH
		t.Setenv("VAULT_CAPATH", mkfifo(t, t.TempDir(), "unread.fifo"))
		src, err := newWithin(t, tokenOptions(t, srv, tok))
		require.NoError(t, err)
		require.NoError(t, src.Close())
	})
}

// TestClientCertWithoutKey: the api package reads neither file of the
// client pair unless both are set, and refuses one without the other. So
// VAULT_CLIENT_CERT alone is not opened (a FIFO there stalls nothing, a
// missing file is not called missing), and New says what the library
// objects to, by name. Not parallel: it sets the process environment.
func TestClientCertWithoutKey(t *testing.T) {
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	for name, path := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "none.pem"),
		"FIFO":    mkfifo(t, t.TempDir(), "cert.fifo"),
	} {
		t.Run(name, func(t *testing.T) {
			clearVaultFiles(t)
			t.Setenv("VAULT_CLIENT_CERT", path)
			_, err := newWithin(t, tokenOptions(t, srv, tok))
			require.EqualError(t, err, "vault: the environment variable VAULT_CLIENT_CERT is set without VAULT_CLIENT_KEY; intelgate ignores both "+
				"(secrets.vault says how to reach Vault), but the Vault client library refuses to build a client with one and not the other: unset VAULT_CLIENT_CERT")
		})
	}
}

// TestEnvironmentFilesTheLibraryReads pins checkEnvFiles to what
// github.com/hashicorp/vault/api actually reads and refuses: for every
// environment here that the library can be given without stalling, the
// check and api.DefaultConfig (what NewClient calls) agree, file for file,
// on whether a client can be built. A new version of the api package that
// reads something else fails this test. Not parallel: it sets the process
// environment.
func TestEnvironmentFilesTheLibraryReads(t *testing.T) {
	pem := upstreamtest.NewCA(t, "a root")
	nonPEM := filepath.Join(t.TempDir(), "cacerts")
	require.NoError(t, os.WriteFile(nonPEM, []byte("\xfe\xed\xfe\xed a Java keystore"), 0o644))
	withKeystore := certDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(withKeystore, "java"), 0o755))
	require.NoError(t, os.Symlink(nonPEM, filepath.Join(withKeystore, "java", "cacerts")))
	linkToDir := filepath.Join(t.TempDir(), "certs")
	require.NoError(t, os.Symlink(certDir(t), linkToDir))
	withDirLink := certDir(t)
	require.NoError(t, os.Symlink(certDir(t), filepath.Join(withDirLink, "more")))
	withBroken := certDir(t)
	require.NoError(t, os.Symlink("gone.pem", filepath.Join(withBroken, "00000000.1")))

	cases := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"a certificate directory", map[string]string{"VAULT_CAPATH": certDir(t)}, true},
		{"a certificate file as VAULT_CAPATH", map[string]string{"VAULT_CAPATH": pem.WriteFile(t)}, true},
		{"a Java keystore under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": withKeystore}, false},
		{"a symlink to a directory as VAULT_CAPATH", map[string]string{"VAULT_CAPATH": linkToDir}, false},
		{"the same, with a trailing slash", map[string]string{"VAULT_CAPATH": linkToDir + "/"}, true},
		{"a symlink to a directory under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": withDirLink}, false},
		{"a broken symlink under VAULT_CAPATH", map[string]string{"VAULT_CAPATH": withBroken}, false},
		{"a missing VAULT_CAPATH", map[string]string{"VAULT_CAPATH": filepath.Join(t.TempDir(), "none")}, false},
		{"VAULT_CACERT wins over VAULT_CAPATH", map[string]string{
			"VAULT_CACERT": pem.WriteFile(t), "VAULT_CAPATH": mkfifo(t, t.TempDir(), "unread"),
		}, true},
		{"VAULT_CACERT_BYTES wins over VAULT_CAPATH", map[string]string{
			"VAULT_CACERT_BYTES": string(pem.PEM()), "VAULT_CAPATH": mkfifo(t, t.TempDir(), "unread"),
		}, true},
		{"a VAULT_CACERT that is not PEM", map[string]string{"VAULT_CACERT": nonPEM}, false},
		{"VAULT_CLIENT_CERT alone, a FIFO", map[string]string{"VAULT_CLIENT_CERT": mkfifo(t, t.TempDir(), "cert")}, false},
		{"VAULT_CLIENT_KEY alone, missing", map[string]string{"VAULT_CLIENT_KEY": filepath.Join(t.TempDir(), "none")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clearVaultFiles(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			checked := within(t, "checkEnvFiles", func(context.Context) error { return vault.CheckEnvFiles() })
			library := within(t, "api.DefaultConfig", func(context.Context) error { return api.DefaultConfig().Error })
			require.Equal(t, tc.ok, library == nil, "the api package: %v", library)
			require.Equal(t, tc.ok, checked == nil, "checkEnvFiles: %v", checked)
		})
	}
}
