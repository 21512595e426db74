//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A FIFO named as a key file, CA file or schema must fail config validate at
// once, against its field — not hang waiting for a writer.
func TestConfigValidateRefusesFIFOsAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"key.fifo", "ca.fifo", "schema.fifo"} {
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, name), 0o600))
	}
	p := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, `providers:
  socialeye:
    kind: socialeye
    keys: [{id: prod-1, secret: "file:key.fifo"}]
    tls: {ca_file: ca.fifo}
    schema_file: schema.fifo
clients:
  siem: {token_sha256: %s, providers: [socialeye]}
`, validateHash), 0o600))

	type result struct {
		stderr string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		// runConfigValidate's t.Helper and t.Context are safe here; it
		// calls no require.
		_, stderr, err := runConfigValidate(t, "--config", p)
		done <- result{stderr, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second): // a hang is forever; 5s allows for a loaded machine
		t.Fatal("config validate blocked on a FIFO")
	}
	require.Equal(t, exitCodeError{code: 1}, r.err)
	for _, want := range []string{
		"line 4: providers.socialeye.keys[0].secret: file:" + filepath.Join(dir, "key.fifo") + ": reading secret file: " + filepath.Join(dir, "key.fifo") + " is a named pipe (FIFO), not a regular file",
		"line 5: providers.socialeye.tls.ca_file: reading CA file: " + filepath.Join(dir, "ca.fifo") + " is a named pipe (FIFO), not a regular file",
		"line 6: providers.socialeye.schema_file: ",
		": 3 problems",
	} {
		require.Contains(t, r.stderr, want)
	}
	require.Contains(t, r.stderr, "schema.fifo is a named pipe (FIFO), not a regular file")
}

// One run reports field, file and secret problems together, field problems
// first; warnings are printed but alone leave the exit status 0.
func TestConfigValidateReportsFieldsFilesAndSecretsTogether(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(key, []byte("sk_live_validate_warning\n"), 0o600))
	require.NoError(t, os.Chmod(key, 0o644))
	p := filepath.Join(dir, "intelgate.yaml")
	doc := `providers:
  socialeye:
    kind: socialeye
    timeout: 3x
    keys:
      - {id: prod-1, secret: "file:key"}
      - {id: prod-2, secret: "env:INTELGATE_TEST_SURELY_UNSET_77c1"}
    tls: {ca_file: missing-ca.pem}
clients:
  siem: {token_sha256: %s, providers: [socialeye]}
`
	require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, doc, validateHash), 0o600))
	stdout, stderr, err := runConfigValidate(t, "--config", p)
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Empty(t, stdout)
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	require.Len(t, lines, 5, stderr)
	require.Equal(t, "warning: "+p+": line 6: providers.socialeye.keys[0].secret: file:"+key+
		" has mode 0644: readable by group/others; chmod 600", lines[0])
	require.True(t, strings.HasPrefix(lines[1], p+": line 4: providers.socialeye.timeout: invalid duration"), lines[1])
	require.True(t, strings.HasPrefix(lines[2], p+": line 8: providers.socialeye.tls.ca_file: reading CA file: "), lines[2])
	require.Equal(t, p+": line 7: providers.socialeye.keys[1].secret: env:INTELGATE_TEST_SURELY_UNSET_77c1: "+
		"environment variable INTELGATE_TEST_SURELY_UNSET_77c1 is not set", lines[3])
	require.Equal(t, p+": 3 problems", lines[4])
	require.NotContains(t, stderr, "sk_live_validate_warning")

	// Fixed: the warning alone does not fail the run.
	doc = strings.Replace(doc, "    timeout: 3x\n", "", 1)
	doc = strings.Replace(doc, "\n      - {id: prod-2, secret: \"env:INTELGATE_TEST_SURELY_UNSET_77c1\"}", "", 1)
	doc = strings.Replace(doc, "    tls: {ca_file: missing-ca.pem}\n", "", 1)
	require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, doc, validateHash), 0o600))
	stdout, stderr, err = runConfigValidate(t, "--config", p)
	require.NoError(t, err, stderr)
	require.Equal(t, "warning: "+p+": line 5: providers.socialeye.keys[0].secret: file:"+key+
		" has mode 0644: readable by group/others; chmod 600\n", stderr)
	require.Contains(t, stdout, ": OK: ")
}

// The listener's key file must not be readable or writable by every user,
// and a broken certificate does not hide a broken key: both are reported.
func TestConfigValidateChecksTheListenerKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "cert.fifo"), 0o600))
	key := filepath.Join(dir, "server.key")
	require.NoError(t, os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600))
	require.NoError(t, os.Chmod(key, 0o644))
	p := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, `server: {tls: {cert_file: cert.fifo, key_file: server.key}}
providers:
  socialeye:
    kind: socialeye
    keys: [{id: prod-1, secret: "env:INTELGATE_TEST_UNUSED"}]
clients:
  siem: {token_sha256: %s, providers: [socialeye]}
`, validateHash), 0o600))
	_, stderr, err := runConfigValidate(t, "--config", p, "--skip-secrets")
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Contains(t, stderr, "server.tls.cert_file: reading the certificate: "+filepath.Join(dir, "cert.fifo")+" is a named pipe (FIFO)")
	require.Contains(t, stderr, "server.tls.key_file: "+key+" has mode 0644: readable or writable by every user")
	require.NotContains(t, stderr, "BEGIN PRIVATE KEY")
}
