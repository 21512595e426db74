package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runAuditCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"audit"}, args...))
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// auditedEnv is an embedded deployment whose gateway answered a few
// lookups and stopped: its audit log is on disk.
func auditedEnv(t *testing.T) (e *cacheEnv, cfg string, logs string) {
	t.Helper()
	e = newCacheEnv(t)
	cfg = e.writeConfig(t)
	gw := e.startGateway(t, cfg)
	for _, q := range []string{"audit-alice", "audit-bob", "audit-carol"} {
		e.mustResolve(t, gw, q)
	}
	gw.stop()
	return e, cfg, gw.logs.String()
}

func TestAuditFlagsAreChecked(t *testing.T) {
	t.Parallel()
	_, cfg, _ := auditedEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--config", cfg, "--since", "last tuesday"}, "--since: "},
		{[]string{"export", "--config", cfg, "--since", "2026-11-01", "--until", "2026-13-01"}, "--until: "},
		{[]string{"export", "--config", cfg, "--since", "2026-11-02", "--until", "2026-11-01"}, "--until: must be after --since"},
		{[]string{"export", "--config", cfg}, `"since" not set`},
		{[]string{"verify", "--config", cfg, "--checkpoint", "12"}, "--checkpoint: "},
		{[]string{"verify", "--config", cfg, "--file", filepath.Join(t.TempDir(), "missing.jsonl")}, "--file: "},
		{[]string{"verify"}, `"config" not set`},
		{[]string{}, "needs a subcommand"},
	} {
		_, _, err := runAuditCmd(t, tc.args...)
		require.Error(t, err, tc.args)
		require.Contains(t, err.Error(), tc.want, tc.args)
	}
}

// verify passes on an intact log, and after an edit of the database it
// names the record and exits 1; the checkpoint the gateway logged at
// shutdown is accepted as --checkpoint.
func TestAuditVerifyFindsAnEdit(t *testing.T) {
	t.Parallel()
	e, cfg, logs := auditedEnv(t)
	out, _, err := runAuditCmd(t, "verify", "--config", cfg)
	require.NoError(t, err)
	require.Regexp(t, `^ok: \d+ record\(s\), 1 to \d+, chain intact; 1 checkpoint\(s\) verified\n$`, out)

	m := regexp.MustCompile(`"checkpoint":"(\d+:[0-9a-f]{64})"`).FindStringSubmatch(logs)
	require.NotNil(t, m, "the gateway logs its checkpoint")
	_, _, err = runAuditCmd(t, "verify", "--config", cfg, "--checkpoint", m[1])
	require.NoError(t, err)

	db := e.openDB(t)
	_, err = db.ExecContext(t.Context(), `UPDATE audit_records SET record = replace(record, '"client":"siem"', '"client":"soar"') WHERE seq = 2`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	out, _, err = runAuditCmd(t, "verify", "--config", cfg)
	var exit exitCodeError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.code)
	require.Contains(t, out, "BROKEN at record 2 (altered)")
}

// export writes JSON Lines with the chain fields; the file verifies on
// its own, and an edited line does not.
func TestAuditExportVerifiesOnItsOwn(t *testing.T) {
	t.Parallel()
	_, cfg, _ := auditedEnv(t)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	_, stderr, err := runAuditCmd(t, "export", "--config", cfg, "--since", "2000-01-01", "--output", file)
	require.NoError(t, err)
	require.Regexp(t, `exported \d+ record\(s\)`, stderr)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.GreaterOrEqual(t, len(lines), 7, "three lookups, three provider results, a checkpoint")
	for _, l := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec))
		require.Contains(t, rec, "seq")
		require.Contains(t, rec, "prev")
		require.Contains(t, rec, "hash")
		require.NotContains(t, l, "audit-alice", "the indicator is an HMAC")
	}
	out, _, err := runAuditCmd(t, "verify", "--config", cfg, "--file", file)
	require.NoError(t, err, out)
	require.Contains(t, out, "chain intact")

	edited := filepath.Join(t.TempDir(), "edited.jsonl")
	require.NoError(t, os.WriteFile(edited, []byte(strings.Replace(string(b), `"outcome":"ok"`, `"outcome":"refused"`, 1)), 0o600))
	out, _, err = runAuditCmd(t, "verify", "--config", cfg, "--file", edited)
	require.Error(t, err)
	require.Contains(t, out, "BROKEN at record 1 (altered)")
}

// --indicator finds the lookups of one indicator however it was typed,
// without the database holding it.
func TestAuditExportByIndicator(t *testing.T) {
	t.Parallel()
	_, cfg, _ := auditedEnv(t)
	out, _, err := runAuditCmd(t, "export", "--config", cfg, "--since", "2000-01-01", "--indicator", "audit-bob")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	require.Contains(t, lines[0], `"kind":"lookup"`)
	out, _, err = runAuditCmd(t, "export", "--config", cfg, "--since", "2000-01-01", "--indicator", "nobody-looked-this-up", "--type", "username")
	require.NoError(t, err)
	require.Empty(t, strings.TrimSpace(out))
	_, _, err = runAuditCmd(t, "export", "--config", cfg, "--since", "2000-01-01", "--type", "domain")
	require.ErrorContains(t, err, "--type: needs --indicator")
}
