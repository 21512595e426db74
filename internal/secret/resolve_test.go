package secret

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustRef(t *testing.T, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	require.NoError(t, err)
	return r
}

func TestResolveEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SET": "sk_live_envvalue", "EMPTY": ""}
	rv := DefaultSources().With("env", Env{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
	ctx := context.Background()

	v, err := rv.Resolve(ctx, mustRef(t, "env:SET"))
	require.NoError(t, err)
	require.Equal(t, "sk_live_envvalue", v.Reveal())

	_, err = rv.Resolve(ctx, mustRef(t, "env:UNSET"))
	require.ErrorContains(t, err, "UNSET is not set")

	_, err = rv.Resolve(ctx, mustRef(t, "env:EMPTY"))
	require.ErrorContains(t, err, "EMPTY is empty")
}

func TestResolveEnvProcess(t *testing.T) {
	t.Setenv("INTELGATE_SECRET_TEST_KEY", "from-process")
	v, err := Resolve(context.Background(), mustRef(t, "env:INTELGATE_SECRET_TEST_KEY"))
	require.NoError(t, err)
	require.Equal(t, "from-process", v.Reveal())
}

func TestResolveFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tests := []struct {
		name, content, want, wantErr string
	}{
		{name: "plain", content: "k1", want: "k1"},
		{name: "lf", content: "k1\n", want: "k1"},
		{name: "crlf", content: "k1\r\n", want: "k1"},
		{name: "only-one-newline", content: "k1\n\n", wantErr: "contains leading or trailing whitespace (trailing)"},
		{name: "inner-space-kept", content: "k 1\n", want: "k 1"},
		{name: "leading-space", content: " k1\n", wantErr: "contains leading or trailing whitespace (leading)"},
		{name: "trailing-space", content: "k1 \n", wantErr: "contains leading or trailing whitespace (trailing)"},
		{name: "trailing-tab", content: "k1\t", wantErr: "contains leading or trailing whitespace (trailing)"},
		{name: "crlf-twice", content: "k1\r\n\r\n", wantErr: "contains leading or trailing whitespace (trailing)"},
		{name: "bom", content: "\uFEFFk1\n", wantErr: "contains leading or trailing whitespace (a UTF-8 byte order mark)"},
		{name: "empty", content: "", wantErr: "is empty"},
		{name: "just-newline", content: "\n", wantErr: "is empty"},
		{name: "max", content: strings.Repeat("a", MaxFileSize), want: strings.Repeat("a", MaxFileSize)},
		{name: "too-big", content: strings.Repeat("a", MaxFileSize+1), wantErr: "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := write(tt.name, tt.content)
			v, err := Resolve(context.Background(), mustRef(t, "file:"+p))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.True(t, v.IsZero())
				if len(tt.content) >= 16 {
					require.NotContains(t, err.Error(), tt.content[:16])
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, v.Reveal())
		})
	}

	_, err := Resolve(context.Background(), mustRef(t, "file:"+filepath.Join(dir, "missing")))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestResolveNotConfigured(t *testing.T) {
	t.Parallel()
	for s, section := range map[string]string{"vault:secret/ig#key": "secrets.vault", "awssm:prod/ig#key": "secrets.aws"} {
		ref := mustRef(t, s)
		_, err := Resolve(context.Background(), ref)
		require.ErrorIs(t, err, ErrNotConfigured)
		require.EqualError(t, err, ref.Scheme+": references need the "+section+" section: source not configured")
	}
}

func TestResolveZeroAndCancelled(t *testing.T) {
	t.Parallel()
	_, err := Resolve(context.Background(), Ref{})
	require.ErrorContains(t, err, "no secret reference")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Resolve(ctx, mustRef(t, "env:HOME"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestResolveRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"cr-inside":               "sk_live\rabc\n",
		"nul":                     "sk_live\x00abc",
		"two-lines":               "sk_live_abc\nsecond\n",
		"zero-width space inside": "sk_live\u200babc\n",
		"not UTF-8":               "sk_live\xffabc\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		ref, err := ParseRef("file:" + path)
		require.NoError(t, err)
		_, err = Resolve(context.Background(), ref)
		require.ErrorContains(t, err, "control character", name)
		require.NotContains(t, err.Error(), "sk_live")
	}
	r := DefaultSources().With("env", Env{LookupEnv: func(string) (string, bool) { return "key\x00x", true }})
	ref, err := ParseRef("env:KEY")
	require.NoError(t, err)
	_, err = r.Resolve(context.Background(), ref)
	require.ErrorContains(t, err, "control character")
}

func TestResolveEnvRefusesSurroundingWhitespace(t *testing.T) {
	t.Parallel()
	for name, value := range map[string]string{
		"leading":  " sk_live_abc",
		"trailing": "sk_live_abc\n",
		"cr":       "sk_live_abc\r",
		"bom":      "\uFEFFsk_live_abc",
	} {
		r := DefaultSources().With("env", Env{LookupEnv: func(string) (string, bool) { return value, true }})
		_, err := r.Resolve(context.Background(), mustRef(t, "env:KEY"))
		require.ErrorContains(t, err, "environment variable KEY contains leading or trailing whitespace", name)
		require.NotContains(t, err.Error(), "sk_live", name)
	}
}
