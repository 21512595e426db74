package regfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadRegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(p, []byte("abc\n"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(p, link))

	for _, path := range []string{p, link} {
		data, info, err := Read(path, 4)
		require.NoError(t, err, path)
		require.Equal(t, "abc\n", string(data))
		require.True(t, info.Mode().IsRegular(), "a symlink reports its target")
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	}

	_, _, err := Read(p, 3)
	require.ErrorIs(t, err, ErrTooLarge)
	require.EqualError(t, err, p+" is larger than 3 bytes: file too large")

	_, _, err = Read(filepath.Join(dir, "missing"), 10)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestReadRefusesNonRegularFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	link := filepath.Join(dir, "link-to-dir")
	require.NoError(t, os.Symlink(dir, link))
	tests := []struct {
		name, path, kind string
	}{
		{"directory", dir, "a directory"},
		{"symlink to a directory", link, "a directory"},
		{"device", os.DevNull, "a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Read(tt.path, 1<<10)
			require.ErrorIs(t, err, ErrNotRegular)
			require.EqualError(t, err, tt.path+" is "+tt.kind+", not a regular file")
		})
	}
}

func TestReadRefusesFIFOWithoutBlocking(t *testing.T) {
	t.Parallel()
	fifo := mkfifo(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := Read(fifo, 1<<10)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrNotRegular)
		require.EqualError(t, err, fifo+" is a named pipe (FIFO), not a regular file")
	case <-time.After(time.Second):
		t.Fatal("reading a FIFO with no writer blocked")
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{64 << 10: "64 KiB", 4 << 20: "4 MiB", 1500: "1500 bytes", 0: "0 bytes"} {
		require.Equal(t, want, Size(n))
	}
}
