package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/auth"
)

func runTokenNew(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"token", "new"}, args...))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

var tokenLine = regexp.MustCompile(`(?m)^token: (igt_[A-Za-z0-9_-]{43})$`)

func TestTokenNew(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"siem", "SOAR_2", "a-b", "true", "0123", strings.Repeat("x", 64)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runTokenNew(t, name)
			require.NoError(t, err)

			m := tokenLine.FindStringSubmatch(out)
			require.NotNil(t, m, "token line in:\n%s", out)
			token := m[1]
			require.Equal(t, 1, strings.Count(out, token), "the token is printed once")
			require.Contains(t, out, "shown once")

			// The indented part pastes under "clients:" as-is.
			_, snippet, ok := strings.Cut(out, "config: paste under \"clients:\" in your config file:\n")
			require.True(t, ok, out)
			var cfg struct {
				Clients map[string]struct {
					TokenSHA256 string `yaml:"token_sha256"`
				} `yaml:"clients"`
			}
			require.NoError(t, yaml.Unmarshal([]byte("clients:\n"+snippet), &cfg))
			require.Len(t, cfg.Clients, 1)
			require.Equal(t, auth.HashToken(token), cfg.Clients[name].TokenSHA256)
		})
	}
}

func TestTokenNewFresh(t *testing.T) {
	t.Parallel()
	a, err := runTokenNew(t, "siem")
	require.NoError(t, err)
	b, err := runTokenNew(t, "siem")
	require.NoError(t, err)
	require.NotEqual(t, tokenLine.FindString(a), tokenLine.FindString(b))
}

func TestTokenNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no argument", nil, "expected one CLIENT argument, got 0"},
		{"two arguments", []string{"a", "b"}, "expected one CLIENT argument, got 2"},
		{"empty", []string{""}, `CLIENT argument ""`},
		{"space", []string{"my client"}, `CLIENT argument "my client"`},
		{"dot", []string{"a.b"}, "CLIENT argument"},
		{"colon", []string{"a:b"}, "CLIENT argument"},
		{"non-ascii", []string{"clïent"}, "CLIENT argument"},
		{"too long", []string{strings.Repeat("x", 65)}, "1 to 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runTokenNew(t, tc.args...)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, out, "igt_", "no token printed on error")
		})
	}
}
