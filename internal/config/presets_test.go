package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/preset"
)

// presetDoc is a config whose provider p is the given block.
func presetDoc(block string) []byte {
	return []byte(fmt.Sprintf(`
providers:
  p:
%s
clients:
  c: {token_sha256: %s, providers: [p]}
`, block, strings.Repeat("ab", 32)))
}

// A preset's fields arrive as if written by the user, the tier picks the
// limits, and the user's own fields win key by key.
func TestPresetExpansion(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(presetDoc(`
    preset: hibp
    tier: paid
    keys: [{id: k1, secret: env:HIBP_KEY}]
    cache: {ttl: 2h}
    request: {headers: {User-Agent: acme-soc}}`), t.TempDir())
	require.NoError(t, err)
	p := cfg.Providers["p"]
	require.Equal(t, "http", p.Kind)
	require.Equal(t, "hibp", p.Preset)
	require.Equal(t, "https://haveibeenpwned.com", p.BaseURL)
	require.Equal(t, []indicator.Type{indicator.Email}, p.Types, "types come from the endpoints")
	require.Equal(t, "acme-soc", p.Request.Headers["User-Agent"], "an override replaces the preset's value")
	require.Equal(t, "hibp-api-key", p.Request.Auth.Name, "a sibling the user left alone stays the preset's")
	require.Equal(t, "2h0m0s", p.Cache.TTL.Std().String())
	require.NotZero(t, p.Cache.NegativeTTL, "the preset's negative_ttl survives an override of ttl")
	require.Equal(t, "hibp.schema.json", p.PresetSchemaName)
	require.NotEmpty(t, p.PresetSchema)

	free, err := Parse(presetDoc(`
    preset: hibp
    keys: [{id: k1, secret: env:HIBP_KEY}]`), t.TempDir())
	require.NoError(t, err)
	require.NotEqual(t, free.Providers["p"].Limits, p.Limits, "tier paid has its own limits; free is the default")
}

// A user's null removes a preset's field; a schema_file of the user's own
// replaces the embedded schema.
func TestPresetOverrideNullAndSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := Parse(presetDoc(`
    preset: greynoise-community
    keys: [{id: k1, secret: env:GN_KEY}]
    auth_check: null
    schema_file: mine.json`), dir)
	require.NoError(t, err)
	p := cfg.Providers["p"]
	require.Nil(t, p.AuthCheck, "null deletes the preset's auth_check")
	require.Empty(t, p.PresetSchema, "the user's schema_file replaces the preset's")
	require.True(t, strings.HasSuffix(p.SchemaFile, "mine.json"))
}

func TestPresetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, block string
		field, msg  string
	}{
		{"unknown preset lists the known", `
    preset: virustotl
    keys: [{id: k1, secret: env:K}]`, "providers.p.preset", "unknown preset \"virustotl\" (known: " + strings.Join(preset.Names(), ", ") + ")"},
		{"tier", `
    preset: hibp
    tier: gold
    keys: [{id: k1, secret: env:K}]`, "providers.p.tier", "must be free or paid"},
		{"kind", `
    preset: hibp
    kind: socialeye
    keys: [{id: k1, secret: env:K}]`, "providers.p.kind", "a preset is a kind http provider"},
		{"wrong type of an overridden scalar", `
    preset: hibp
    keys: [{id: k1, secret: env:K}]
    limits: {rate: fast}`, "providers.p.limits.rate", ""},
		{"wrong type of an overridden mapping", `
    preset: hibp
    keys: [{id: k1, secret: env:K}]
    request: [a, b]`, "providers.p.request", "must be a mapping"},
		{"unknown field in an override", `
    preset: hibp
    keys: [{id: k1, secret: env:K}]
    request: {hedaers: {}}`, "providers.p.request.hedaers", "unknown field"},
		{"endpoint of an unknown type", `
    preset: hibp
    keys: [{id: k1, secret: env:K}]
    request: {endpoints: {ipv5: {path: "/x/{indicator}"}}}`, "providers.p.request.endpoints.ipv5", "unknown indicator type"},
		{"tier without preset", `
    kind: http
    tier: paid
    base_url: https://api.example.com
    types: [ipv4]
    request: {path: "/ip/{indicator}"}
    keys: [{id: k1, secret: env:K}]`, "providers.p.tier", "only with preset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(presetDoc(tt.block), t.TempDir())
			require.Error(t, err)
			var list ErrorList
			require.ErrorAs(t, err, &list)
			found := false
			for _, fe := range list {
				if fe.Field == tt.field && strings.Contains(fe.Msg, tt.msg) {
					found = true
				}
			}
			require.True(t, found, "want %s: %q in %v", tt.field, tt.msg, err)
		})
	}
}
