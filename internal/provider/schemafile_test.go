package provider

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A schema's $refs may name files below the schema_file's directory only,
// never a host, and a file that is not JSON is reported without quoting it.
func TestSchemaRefsStayBesideTheSchema(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "schemas")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "defs"), 0o700))
	write := func(path, body string) string {
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	write(filepath.Join(root, "socialeye.key"), "SuperSecretKey123")
	write(filepath.Join(dir, "defs", "score.json"), `{"type":"number"}`)
	write(filepath.Join(dir, "notjson.json"), "SuperSecretKey123")

	tests := []struct {
		name, schema, wantErr string
	}{
		{"ref below", `{"properties":{"score":{"$ref":"defs/score.json"}}}`, ""},
		{"ref outside", `{"$ref":"../socialeye.key"}`, "outside the schema_file's directory"},
		{"ref to a host", `{"$ref":"file://evil.example/etc/hostname"}`, "only a local file"},
		{"ref to a file that is not JSON", `{"$ref":"notjson.json"}`, "notjson.json is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := write(filepath.Join(dir, filepath.Base(t.Name())+".json"), tt.schema)
			err := CompileSchema(path)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "SuperSecret")
			require.NotContains(t, err.Error(), "'S'", "no character of a file that was not meant to be read")
		})
	}
}
