package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runConfigValidate(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"config", "validate"}, args...))
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

const validateHash = "b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7"

// writeConfig writes a one-provider config whose key is ref.
func writeConfig(t *testing.T, ref string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "intelgate.yaml")
	doc := fmt.Sprintf(`providers:
  socialeye:
    kind: socialeye
    keys:
      - id: prod-1
        secret: %s
clients:
  siem:
    token_sha256: %s
    providers: [socialeye]
`, ref, validateHash)
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
	return p
}

func TestConfigValidateOK(t *testing.T) {
	t.Parallel()
	const secretValue = "sk_live_file_secret_do_not_print"
	p := writeConfig(t, "file:key.txt")
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(p), "key.txt"), []byte(secretValue+"\n"), 0o600))

	stdout, stderr, err := runConfigValidate(t, "--config", p)
	require.NoError(t, err)
	require.Empty(t, stderr)
	require.Equal(t, p+": OK: 1 provider (socialeye), 1 client (siem), 1 secret(s) resolved\n", stdout)
	require.NotContains(t, stdout, secretValue)
}

func TestConfigValidateSkipSecrets(t *testing.T) {
	t.Parallel()
	p := writeConfig(t, "env:INTELGATE_TEST_SURELY_UNSET_5b1e")
	stdout, _, err := runConfigValidate(t, "--config", p, "--skip-secrets")
	require.NoError(t, err)
	require.Contains(t, stdout, "OK: 1 provider (socialeye), 1 client (siem), secrets not resolved (--skip-secrets)")

	_, stderr, err := runConfigValidate(t, "--config", p)
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Equal(t, p+": line 6: providers.socialeye.keys[0].secret: env:INTELGATE_TEST_SURELY_UNSET_5b1e: "+
		"environment variable INTELGATE_TEST_SURELY_UNSET_5b1e is not set\n"+p+": 1 problem\n", stderr)
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	const file = "../../internal/config/testdata/multi.bad.yaml"
	stdout, stderr, err := runConfigValidate(t, "--config", file, "--skip-secrets")
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Empty(t, stdout)
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	require.Len(t, lines, 9, stderr)
	require.Equal(t, file+": line 9: providers.socialeye.timeout: invalid duration \"3x\" (write a number with a unit: 500ms, 30s, 5m, 1h, 90d)", lines[2])
	require.Contains(t, lines[4], "line 14: providers.socialeye.keys[0].secret: a literal secret is not allowed here")
	require.Equal(t, file+": 8 problems", lines[8])
	require.NotContains(t, stderr, "sk_live_4f9a8b7c6d5e4f3a2b1c")
}

// TestConfigValidateExamples runs each example's own header: it sets the
// variables the header exports and runs the `intelgate config validate`
// line the header gives, with exactly its flags. A header that promises a
// clean validate must get one. Not parallel: it sets the environment.
func TestConfigValidateExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			env, args := exampleHeader(t, f)
			for name, value := range env {
				t.Setenv(name, value)
			}
			stdout, stderr, err := runConfigValidate(t, args...)
			require.NoError(t, err, stderr)
			require.Empty(t, stderr)
			require.Contains(t, stdout, ": OK: ")
		})
	}
}

// exampleHeader reads the leading comment of an example: the variables its
// `export` lines set (a placeholder "…" becomes a test value) and the
// arguments of its one `intelgate config validate` line, with the
// examples/ path made relative to this package.
func exampleHeader(t *testing.T, file string) (env map[string]string, args []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	env = map[string]string{}
	for line := range strings.Lines(string(data)) {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			break // the header ends at the first non-comment line
		}
		text, _, _ = strings.Cut(strings.TrimSpace(text), " #")
		fields := strings.Fields(text)
		switch {
		case len(fields) > 1 && fields[0] == "export":
			for _, kv := range fields[1:] {
				name, value, _ := strings.Cut(kv, "=")
				if value == "…" || value == "" {
					value = "example-test-value-" + strings.ToLower(name)
				}
				env[name] = value
			}
		case len(fields) > 3 && strings.Join(fields[:3], " ") == "intelgate config validate":
			require.Nil(t, args, "%s: one config validate line", file)
			args = fields[3:]
		}
	}
	require.NotNil(t, args, "%s: the header must say how to validate it", file)
	i := slices.Index(args, "--config")
	require.True(t, i >= 0 && i+1 < len(args), "%s: %v", file, args)
	require.Equal(t, "examples/"+filepath.Base(file), args[i+1], "the header validates its own file")
	args[i+1] = file
	return env, args
}

func TestConfigValidateUsageErrors(t *testing.T) {
	t.Parallel()
	_, stderr, err := runConfigValidate(t, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Contains(t, stderr, "no such file or directory")

	_, _, err = runConfigValidate(t)
	require.ErrorContains(t, err, `required flag(s) "config" not set`)
}

// TestConfigValidateReadsNamedFiles: a config that serve would refuse for a
// missing CA file or a broken schema fails validate too, against the field.
func TestConfigValidateReadsNamedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"type": 12`), 0o600))
	p := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf(`providers:
  socialeye:
    kind: socialeye
    keys:
      - id: prod-1
        secret: env:X
    tls:
      ca_file: missing-ca.pem
    schema_file: broken.json
clients:
  siem:
    token_sha256: %s
    providers: [socialeye]
`, validateHash)), 0o600))
	_, stderr, err := runConfigValidate(t, "--config", p, "--skip-secrets")
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Contains(t, stderr, "line 8: providers.socialeye.tls.ca_file:")
	require.Contains(t, stderr, "line 9: providers.socialeye.schema_file:")
	require.Contains(t, stderr, ": 2 problems")
}
