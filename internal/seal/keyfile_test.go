package seal_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/seal"
)

func TestLoadOrCreateKeyFileCreatesThenReloads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seal.key")

	k, created, err := seal.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "local-1", k.ID)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(k.Secret)+"\n", string(raw), "the secret is the file's text, as file: would read it")
	bits, err := base64.StdEncoding.DecodeString(string(k.Secret))
	require.NoError(t, err)
	require.Len(t, bits, 32, "256 random bits")
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}

	again, created, err := seal.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, k.Secret, again.Secret)
	require.Equal(t, "local-1", again.ID)

	_, err = seal.NewKeyring([]seal.Key{again})
	require.NoError(t, err)
}

func TestLoadOrCreateKeyFileTwoFilesDiffer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, _, err := seal.LoadOrCreateKeyFile(filepath.Join(dir, "a"))
	require.NoError(t, err)
	b, _, err := seal.LoadOrCreateKeyFile(filepath.Join(dir, "b"))
	require.NoError(t, err)
	require.NotEqual(t, a.Secret, b.Secret)
}

func TestLoadKeyFileAcceptsLongerSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seal.key")
	secret := []byte(strings.Repeat("s", 48))
	require.NoError(t, os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)), 0o600))
	k, created, err := seal.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, base64.StdEncoding.EncodeToString(secret), string(k.Secret))
}

func TestLoadKeyFileRefuses(t *testing.T) {
	t.Parallel()
	valid := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		unix    bool // the check needs unix permission bits
		want    []string
	}{
		{"group readable", valid, 0o640, true, []string{"mode 0640", "chmod 600"}},
		{"other readable", valid, 0o604, true, []string{"mode 0604", "chmod 600"}},
		{"group writable", valid, 0o620, true, []string{"mode 0620", "chmod 600"}},
		{"short", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 31))) + "\n", 0o600, false, []string{"31-byte secret", "at least 32 bytes"}},
		{"empty", "", 0o600, false, []string{"0-byte secret"}},
		{"not base64", strings.Repeat("not base64! ", 5), 0o600, false, []string{"does not hold standard base64"}},
		{"too large", strings.Repeat("A", 8192), 0o600, false, []string{"larger than"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.unix && runtime.GOOS == "windows" {
				t.Skip("no unix permission bits")
			}
			path := filepath.Join(t.TempDir(), "seal.key")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			require.NoError(t, os.Chmod(path, tc.mode))
			_, created, err := seal.LoadOrCreateKeyFile(path)
			require.Error(t, err)
			require.False(t, created)
			require.Contains(t, err.Error(), path)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			if tc.content != "" {
				require.NotContains(t, err.Error(), strings.TrimSpace(tc.content)[:8], "the error must not quote the file")
			}
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tc.content, string(after), "a refused file is left alone")
		})
	}
}

func TestLoadKeyFileRefusesSymlink(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on windows")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "real.key")
	_, _, err := seal.LoadOrCreateKeyFile(target)
	require.NoError(t, err)
	link := filepath.Join(dir, "seal.key")
	require.NoError(t, os.Symlink(target, link))
	_, _, err = seal.LoadOrCreateKeyFile(link)
	require.ErrorContains(t, err, "is a symlink")

	dangling := filepath.Join(dir, "dangling.key")
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), dangling))
	_, _, err = seal.LoadOrCreateKeyFile(dangling)
	require.ErrorContains(t, err, "is a symlink", "a dangling link is not followed to create a file")
	_, err = os.Lstat(filepath.Join(dir, "nowhere"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadKeyFileRefusesDirectory(t *testing.T) {
	t.Parallel()
	_, _, err := seal.LoadOrCreateKeyFile(t.TempDir())
	require.ErrorContains(t, err, "not a regular file")
}

func TestCreateKeyFileInMissingDirectory(t *testing.T) {
	t.Parallel()
	_, _, err := seal.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "missing", "seal.key"))
	require.ErrorContains(t, err, "create seal key file")
}
