package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/logtest"
)

// `intelgate reload` asks a running gateway to reload: it prints what
// changed, and a refused reload exits 1 naming the problem. Not parallel:
// it sets INTELGATE_URL and INTELGATE_TOKEN.
func TestReloadCommand(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "se.key"), []byte("sk_live_reload_cli_test_key_01\n"), 0o600))
	token, hash, err := auth.NewToken()
	require.NoError(t, err)
	path := filepath.Join(dir, "intelgate.yaml")
	doc := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {driver: sqlite, dsn: state.db}
providers:
  socialeye:
    kind: socialeye
    keys: [{id: prod-1, secret: "file:se.key"}]
clients:
  ops: {token_sha256: %s, providers: [socialeye], admin: true}
`, hash)
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	log, _ := logtest.JSONLogger()
	a, err := app.New(t.Context(), cfg, log, app.Options{ConfigPath: path})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, a.Close())
	})
	t.Setenv("INTELGATE_URL", "http://"+ln.Addr().String())
	t.Setenv("INTELGATE_TOKEN", token)

	run := func() (string, string, error) {
		var out, errOut bytes.Buffer
		cmd := newRootCmd()
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs([]string{"reload"})
		err := cmd.ExecuteContext(t.Context())
		return out.String(), errOut.String(), err
	}
	out, stderr, err := run()
	require.NoError(t, err, stderr)
	require.Contains(t, out, `"config": true`)

	require.NoError(t, os.WriteFile(path, bytes.Replace([]byte(doc), []byte("admin: true"), []byte("admin: maybe"), 1), 0o600))
	_, stderr, err = run()
	require.Equal(t, exitCodeError{code: 1}, err)
	require.Contains(t, stderr, "Configuration reload refused (409)")
	require.Contains(t, stderr, "clients.ops.admin")
}
