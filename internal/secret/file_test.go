package secret

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/regfile"
)

// A file: secret must be a regular file, read at once: anything else is an
// error naming the path and what it is, never a hang.
func TestResolveFileRefusesNonRegularFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, path, wantErr string
	}{
		{"directory", dir, dir + " is a directory, not a regular file"},
		{"device", os.DevNull, os.DevNull + " is a character device, not a regular file"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct{ name, path, wantErr string }{
			"fifo", mkfifo(t), "is a named pipe (FIFO), not a regular file"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref := mustRef(t, "file:"+tt.path)
			done := make(chan error, 1)
			go func() {
				_, err := Resolve(context.Background(), ref)
				done <- err
			}()
			select {
			case err := <-done:
				require.ErrorIs(t, err, regfile.ErrNotRegular)
				require.ErrorContains(t, err, tt.wantErr)
			case <-time.After(time.Second):
				t.Fatalf("resolving file:%s did not return within a second", tt.path)
			}
		})
	}
}

func TestResolveFileFollowsSymlinkToRegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(target, []byte("sk_live_abc\n"), 0o600))
	link := filepath.Join(dir, "current")
	require.NoError(t, os.Symlink(target, link))
	sec, err := DefaultSources().Fetch(context.Background(), mustRef(t, "file:"+link))
	v, warnings := sec.Value, sec.Warnings
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Equal(t, "sk_live_abc", v.Reveal())
}

func TestResolveFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permission bits")
	}
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		mode             os.FileMode
		warning, wantErr string
	}{
		{mode: 0o600},
		{mode: 0o400},
		{mode: 0o644, warning: "has mode 0644: readable by group/others; chmod 600"},
		{mode: 0o640, warning: "has mode 0640: readable by group/others; chmod 600"},
		{mode: 0o604, warning: "has mode 0604: readable by group/others; chmod 600"},
		{mode: 0o610, warning: "has mode 0610: accessible by group/others; chmod 600"},
		{mode: 0o666, wantErr: "has mode 0666: writable by others; chmod 600"},
		{mode: 0o602, wantErr: "has mode 0602: writable by others; chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(dir, tt.mode.String())
			require.NoError(t, os.WriteFile(p, []byte("sk_live_abc\n"), 0o600))
			require.NoError(t, os.Chmod(p, tt.mode)) // not subject to the umask
			ref := mustRef(t, "file:"+p)
			sec, err := DefaultSources().Fetch(context.Background(), ref)
			v, warnings := sec.Value, sec.Warnings
			if tt.wantErr != "" {
				require.EqualError(t, err, "secret file "+p+" "+tt.wantErr)
				require.True(t, v.IsZero())
				return
			}
			require.NoError(t, err)
			require.Equal(t, "sk_live_abc", v.Reveal())
			if tt.warning == "" {
				require.Empty(t, warnings)
				return
			}
			require.Equal(t, []string{"file:" + p + " " + tt.warning}, warnings)
		})
	}
}
