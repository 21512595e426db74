package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/regfile"
)

// LoadForValidation returns the decoded config beside its field problems,
// with paths made absolute, so config validate can go on to files and
// secrets; with no config to go on (not YAML, unreadable) it returns none.
func TestLoadForValidation(t *testing.T) {
	t.Parallel()
	cfg, err := LoadForValidation("testdata/multi.bad.yaml")
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 8)
	require.NotNil(t, cfg, "the file decoded: its config comes back")
	require.Contains(t, cfg.Providers, "socialeye")
	require.Len(t, cfg.Providers["socialeye"].Keys, 2)

	full, err := Load("testdata/multi.bad.yaml")
	require.Nil(t, full, "Load never returns a config with problems")
	require.Error(t, err)

	for _, file := range []string{"testdata/syntax.bad.yaml", "testdata/does-not-exist.yaml"} {
		cfg, err = LoadForValidation(file)
		require.Error(t, err, file)
		require.Nil(t, cfg, file)
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(p, []byte("providers:\n  vt:\n    kind: nope\n    schema_file: s.json\n"), 0o600))
	cfg, err = LoadForValidation(p)
	require.Error(t, err)
	require.Equal(t, filepath.Join(dir, "s.json"), cfg.Providers["vt"].SchemaFile, "paths are absolute")

	_, err = Load(dir)
	require.ErrorIs(t, err, regfile.ErrNotRegular)
	require.EqualError(t, err, "reading config: "+dir+" is a directory, not a regular file")
}
