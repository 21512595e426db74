package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemoServesAnswersWithTheWrittenToken(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDemo(ctx, dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		require.NoError(t, d.wait())
		d.close()
	})

	var welcome bytes.Buffer
	d.printWelcome(&welcome)
	require.Contains(t, welcome.String(), `curl -sS -H "Authorization: Bearer `+d.token)
	require.Contains(t, welcome.String(), "requests.get(base + \"/v1/resolve\"")

	env := readEnvFile(t, filepath.Join(dir, "demo.env"))
	require.Equal(t, d.url, env["INTELGATE_URL"])
	require.Equal(t, d.token, env["INTELGATE_TOKEN"])
	for _, f := range []string{"demo.env", "socialeye.key", "intelgate.yaml"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "intelgate.yaml"))
	require.NoError(t, err)
	require.NotContains(t, string(cfg), d.token, "config holds only the token's hash")

	req, _ := http.NewRequest(http.MethodGet, env["INTELGATE_URL"]+"/v1/resolve?query=johndoe", nil)
	req.Header.Set("Authorization", "Bearer "+env["INTELGATE_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.True(t, strings.HasPrefix(string(body), "{"))
}

func TestDemoRefusesASecondDemoInTheSameDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDemo(ctx, dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	env := readEnvFile(t, filepath.Join(dir, "demo.env"))

	_, err = startDemo(context.Background(), dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "another demo is running")
	require.Equal(t, env, readEnvFile(t, filepath.Join(dir, "demo.env")), "the running demo's files are untouched")

	cancel()
	require.NoError(t, d.wait())
	d.close()
	d2, err := startDemo(context.Background(), dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	require.NoError(t, err, "the lock is released when the first demo stops")
	d2.close()
}

func TestDemoRefusesNonLoopbackAddr(t *testing.T) {
	t.Parallel()
	_, err := startDemo(context.Background(), t.TempDir(), "0.0.0.0:8080", slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "--addr")
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		require.True(t, ok, sc.Text())
		m[k] = v
	}
	return m
}

func TestServeWithBadConfigNeverStarts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
server: {listen: "127.0.0.1:0"}
providers:
  socialeye:
    kind: socialeye
    base_url: https://api.socialeye.net
    keys: [{id: k, secret: "sk-literal-value-123"}]
    tls: {min_version: "1.1"}
clients:
  siem: {token_sha256: nothex, providers: [nosuch]}
`), 0o600))
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"serve", "--config", path})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	err := cmd.ExecuteContext(context.Background())
	var ec exitCodeError
	require.True(t, errors.As(err, &ec), "want an exit status, got %v", err)
	require.Equal(t, 1, ec.code)
	out := stderr.String()
	for _, field := range []string{"providers.socialeye.keys[0].secret", "providers.socialeye.tls.min_version",
		"clients.siem.token_sha256", "clients.siem.providers"} {
		require.Contains(t, out, field)
	}
	require.NotContains(t, out, "sk-literal-value-123", "a literal secret is never echoed")
	require.NotContains(t, stdout.String()+out, "intelgate serving")
}
