package deploy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
)

// TestMakeSecrets runs make-secrets.sh and checks what compose.yaml mounts:
// the gateways' config resolves every secret from the files (as the gateway
// does at start), the pairs that must agree do (the DSN's password and
// PostgreSQL's, the Redis URL's password and the ACL's hash, the simulator's
// key and the gateways'), modes are as documented, and a second run
// refuses to overwrite anything. With redis-server installed, a Redis
// started on the generated ACL file lets the gateway's user in with the
// URL's password and leaves an unauthenticated client nothing but PING.
func TestMakeSecrets(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "od", "base64", "sha256sum", "tr", "head", "cut"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("make-secrets.sh needs %s (coreutils), not on PATH", tool)
		}
	}
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	script := repoPath(t, "deploy/container/make-secrets.sh")
	run(t, dir, "sh", script, "-n", secrets)
	out, err := runErr(t, dir, "sh", script, "-n", secrets)
	require.Error(t, err, "a second run must refuse:\n%s", out)
	require.Contains(t, out, "refusing to overwrite")

	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(secrets, name))
		require.NoError(t, err)
		s, ok := strings.CutSuffix(string(b), "\n")
		require.True(t, ok, "%s ends with one newline", name)
		return s
	}
	info, err := os.Stat(secrets)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "the secrets directory")
	for name, mode := range map[string]os.FileMode{
		"socialeye_api_key": 0o444, "encryption_key": 0o444, "postgres_dsn": 0o444, "redis_url": 0o444,
		"postgres_password": 0o444, "redis_acl": 0o444, "sim.env": 0o600,
	} {
		info, err := os.Stat(filepath.Join(secrets, name))
		require.NoError(t, err)
		require.Equal(t, mode, info.Mode().Perm(), name)
	}

	// The gateways' config, with /run/secrets where make-secrets.sh wrote.
	cfgText := strings.ReplaceAll(string(readRepoFile(t, "deploy/container/intelgate.yaml")), "file:/run/secrets/", "file:"+secrets+"/")
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfgText), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	resolved, err := cfg.ResolveSecrets(context.Background())
	require.NoError(t, err, "every secret the gateways read resolves from make-secrets.sh's files")
	require.Len(t, resolved.Warnings(), 4, "0444 key files: one configuration warning each, as documented")

	key, ok := resolved.Key("socialeye", "sim-1")
	require.True(t, ok)
	require.Equal(t, "SOCIALEYE_API_KEY="+key.Reveal(), read("sim.env"), "the simulator accepts the gateways' key")
	enc, ok := resolved.EncryptionKey("compose-1")
	require.True(t, ok)
	require.GreaterOrEqual(t, len(enc.Reveal()), 32)

	dsn, err := url.Parse(resolved.StorageDSN().Reveal())
	require.NoError(t, err)
	pw, _ := dsn.User.Password()
	require.Equal(t, read("postgres_password"), pw, "the DSN carries PostgreSQL's password")
	require.Equal(t, "intelgate", dsn.User.Username())
	require.Equal(t, "postgres:5432", dsn.Host)
	require.Equal(t, "/intelgate", dsn.Path)

	ru, err := url.Parse(resolved.SharedURL().Reveal())
	require.NoError(t, err)
	redisPW, _ := ru.User.Password()
	sum := sha256.Sum256([]byte(redisPW))
	acl := read("redis_acl")
	require.Contains(t, acl, "user intelgate on #"+hex.EncodeToString(sum[:])+" ", "the ACL holds the URL password's hash")
	require.Contains(t, acl, "user default on nopass resetchannels -@all +ping")
	require.Equal(t, "redis:6379", ru.Host)

	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		t.Log("redis-server is not on PATH: the ACL file was only read, not loaded")
		return
	}
	checkRedisACL(t, redisServer, dir, filepath.Join(secrets, "redis_acl"), ru.User.Username(), redisPW)
}

// checkRedisACL starts redis-server on a Unix socket (no port, loopback
// only by construction) with the ACL file, and checks who may do what.
func checkRedisACL(t *testing.T, server, dir, aclFile, user, password string) {
	sock := filepath.Join(dir, "redis.sock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, server, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--aclfile", aclFile, "--save", "", "--appendonly", "no", "--dir", dir)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
	}()

	anon := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1, DialTimeout: time.Second})
	defer anon.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := anon.Ping(ctx).Err()
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "redis-server did not answer PING within 30s: %v\n%s", err, log.String())
		select {
		case err := <-exited:
			t.Fatalf("redis-server exited: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	require.ErrorContains(t, anon.Get(ctx, "intelgate:x").Err(), "NOPERM", "an unauthenticated client may only PING")

	gw := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Username: user, Password: password, MaxRetries: -1})
	defer gw.Close()
	require.NoError(t, gw.Set(ctx, "intelgate:x", "1", time.Minute).Err())
	require.NoError(t, gw.Eval(ctx, "return redis.call('INCR', KEYS[1])", []string{"intelgate:n"}).Err())
	require.NoError(t, gw.Publish(ctx, "intelgate:purge", "x").Err())
	require.NoError(t, gw.Keys(ctx, "intelgate:*").Err())

	wrong := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Username: user, Password: password + "x", MaxRetries: -1})
	defer wrong.Close()
	require.Error(t, wrong.Ping(ctx).Err(), "a wrong password is refused")
}
