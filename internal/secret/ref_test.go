package secret

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                  string
		scheme, path, field string
	}{
		{"env:SOCIALEYE_API_KEY", "env", "SOCIALEYE_API_KEY", ""},
		{"env:_x1", "env", "_x1", ""},
		{"file:/run/secrets/key", "file", "/run/secrets/key", ""},
		{"file:keys/../keys/se.key", "file", "keys/se.key", ""},
		{"vault:secret/intelgate/socialeye#api_key", "vault", "secret/intelgate/socialeye", "api_key"},
		{"awssm:prod/intelgate#socialeye", "awssm", "prod/intelgate", "socialeye"},
		{"awssm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:ig-AbCdEf#key", "awssm",
			"arn:aws:secretsmanager:eu-west-1:123456789012:secret:ig-AbCdEf", "key"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRef(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.scheme, r.Scheme)
			require.Equal(t, tt.path, r.Path)
			require.Equal(t, tt.field, r.Field)
			require.Equal(t, tt.in, r.String())
			require.False(t, r.IsZero())
		})
	}
}

func TestParseRefRejectsWithoutEchoing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		literal bool // ErrLiteral rather than ErrInvalidRef
	}{
		{"sk_live_9f8e7d6c5b4a", true},
		{"", true},
		{"Bearer sk_live_9f8e7d6c5b4a", true},
		{"https://user:hunter2secret@example.com", true},
		{"ENV:SECRETNAME", true},
		{"sk:live9f8e7d6c", true},
		{"env:", false},
		{"env:9LIVES", false},
		{"env:has-dash", false},
		{"env:sk_live 9f8e7d6c", false},
		{"file:", false},
		{"file:/tmp/a\nb", false},
		{"vault:secret/only#", false},
		{"vault:mountonly#field", false},
		{"vault:secret//x#f", false},
		{"vault:secret/../x#f", false},
		{"vault:secret/x", false},
		{"awssm:prod/intelgate", false},
		{"awssm:#field", false},
		{"awssm:bad id!#field", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRef(tt.in)
			require.Error(t, err)
			if tt.literal {
				require.ErrorIs(t, err, ErrLiteral)
			} else {
				require.ErrorIs(t, err, ErrInvalidRef)
			}
			if len(tt.in) > 6 { // a bare "env:" is echoed by the help text itself
				require.NotContains(t, err.Error(), tt.in)
			}
			for _, frag := range []string{"sk_live", "9f8e7d6c", "hunter2", "9LIVES", "bad id"} {
				require.NotContains(t, err.Error(), frag)
			}
		})
	}
}

func TestRefYAML(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Key Ref `yaml:"key"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("key: env:X_KEY\n"), &cfg))
	require.Equal(t, "env", cfg.Key.Scheme)
	require.Equal(t, "X_KEY", cfg.Key.Path)

	cfg.Key = Ref{}
	require.NoError(t, yaml.Unmarshal([]byte("key:\n"), &cfg))
	require.True(t, cfg.Key.IsZero())

	err := yaml.Unmarshal([]byte("key: sk_live_abcdef123\n"), &cfg)
	require.ErrorIs(t, err, ErrLiteral)
	require.NotContains(t, err.Error(), "sk_live_abcdef123")

	err = yaml.Unmarshal([]byte("key: [env:X]\n"), &cfg)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrLiteral))
}

func TestRefWithBaseDir(t *testing.T) {
	t.Parallel()
	r, err := ParseRef("file:keys/se.key")
	require.NoError(t, err)
	abs := r.WithBaseDir("/etc/intelgate")
	require.Equal(t, "/etc/intelgate/keys/se.key", abs.Path)
	require.Equal(t, "file:/etc/intelgate/keys/se.key", abs.String())

	r, err = ParseRef("file:/abs/k")
	require.NoError(t, err)
	require.Equal(t, r, r.WithBaseDir("/etc"))

	r, err = ParseRef("env:K")
	require.NoError(t, err)
	require.Equal(t, r, r.WithBaseDir("/etc"))
}
