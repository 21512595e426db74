package provider

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
)

// TestExampleProvidersBuild loads every shipped example config and builds
// each provider with the real factory, so an example that config accepts
// but the provider would refuse (or a schema file that does not compile)
// fails here rather than on a user's first start.
func TestExampleProvidersBuild(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(file)
			require.NoError(t, err)
			for name, pc := range cfg.Providers {
				p, _, err := New(name, pc)
				require.NoError(t, err, "provider %s", name)
				require.Equal(t, name, p.Name())
				for _, typ := range pc.Types {
					require.True(t, p.Supports(typ), "provider %s supports its configured type %s", name, typ)
				}
			}
		})
	}
}
