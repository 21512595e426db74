package config

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
)

// envResolver is the default sources with env: read from env.
func envResolver(env map[string]string) secret.Sources {
	return secret.DefaultSources().With("env", secret.Env{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
}

func TestResolveSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/paths.good.yaml")
	require.NoError(t, err)

	// vt's key is file:/run/secrets/vt, which does not exist here.
	_, err = cfg.ResolveSecretsWith(context.Background(), envResolver(nil))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 1)
	require.Equal(t, "providers.vt.keys[0].secret", list[0].Field)
	require.Equal(t, 31, list[0].Line)
	require.Contains(t, list[0].Msg, "file:/run/secrets/vt")

	// Point vt at a real file and everything resolves, relative files
	// against the config's directory.
	dir := t.TempDir()
	vtKey := filepath.Join(dir, "vt")
	require.NoError(t, os.WriteFile(vtKey, []byte("vt-file-secret\n"), 0o600))
	cfg.Providers["vt"].Keys[0].Secret, err = secret.ParseRef("file:" + vtKey)
	require.NoError(t, err)
	s, err := cfg.ResolveSecrets(context.Background())
	require.NoError(t, err)
	reveal := func(v secret.Value, ok bool) string {
		require.True(t, ok)
		return v.Reveal()
	}
	require.Equal(t, "se-file-secret-value", reveal(s.Key("socialeye", "prod-1")))
	require.Equal(t, "vt-file-secret", reveal(s.Key("vt", "k1")))
	require.Equal(t, "enc-file-secret-value-of-32-bytes-or-more", reveal(s.EncryptionKey("enc-1")))
	for _, pk := range [][2]string{{"vt", "nope"}, {"nope", "k1"}} {
		v, ok := s.Key(pk[0], pk[1])
		require.False(t, ok)
		require.True(t, v.IsZero())
	}
	require.True(t, s.SharedURL().IsZero())
	require.Equal(t, 3, s.Len())
}

func TestResolveSecretsReportsEveryFailure(t *testing.T) {
	t.Parallel()
	cfg, err := Load("../../examples/full.yaml")
	require.NoError(t, err)
	env := map[string]string{
		"SOCIALEYE_API_KEY":     "sk_live_env_value_1",
		"SOCIALEYE_STAGING_KEY": "", // set but empty
		"ABUSEIPDB_API_KEY":     "abuse_env_value_2",
	}
	_, err = cfg.ResolveSecretsWith(context.Background(), envResolver(env))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	fields := map[string]string{}
	for _, fe := range list {
		fields[fe.Field] = fe.Msg
		require.NotZero(t, fe.Line, fe.Field)
	}
	require.Contains(t, fields["encryption.keys[0].secret"], "secret file")
	require.Contains(t, fields["encryption.keys[1].secret"], "INTELGATE_ENC_2025 is not set")
	require.Contains(t, fields["providers.socialeye.keys[1].secret"], "socialeye-prod-1.key")
	require.Contains(t, fields["providers.socialeye.keys[2].secret"], "SOCIALEYE_STAGING_KEY is empty")
	require.Contains(t, fields["providers.abuseipdb.keys[1].secret"], "ABUSEIPDB_STAGING_KEY is not set")
	require.Contains(t, fields["providers.virustotal.keys[0].secret"], "VIRUSTOTAL_API_KEY is not set")
	// The alert sinks' secrets are resolved with the others.
	require.Contains(t, fields["alerts.sinks.soc-hook.secret"], "INTELGATE_ALERT_WEBHOOK_SECRET is not set")
	require.Contains(t, fields["alerts.sinks.chat.url"], "SLACK_WEBHOOK_URL is not set")
	require.Contains(t, fields["alerts.sinks.mail.username"], "SMTP_USER is not set")
	require.Contains(t, fields["alerts.sinks.mail.password"], "SMTP_PASSWORD is not set")
	// And the clients' callback secrets.
	require.Contains(t, fields["clients.siem.callbacks.secret"], "SIEM_CALLBACK_SECRET is not set")
	require.Contains(t, fields["providers.socialeye.webhooks.secrets[0]"], "SOCIALEYE_WEBHOOK_SECRET is not set")
	require.Len(t, list, 12)
	require.NotContains(t, fields, "providers.socialeye.keys[0].secret")
	for _, v := range env {
		if v != "" {
			require.NotContains(t, err.Error(), v)
		}
	}
}

func TestResolveSecretsNotConfigured(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
providers:
  socialeye:
    kind: socialeye
    keys: [{id: k, secret: "vault:secret/ig/socialeye#api_key"}]
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`), "/srv")
	require.NoError(t, err, "vault: references parse")
	_, err = cfg.ResolveSecrets(context.Background())
	require.ErrorIs(t, err, secret.ErrNotConfigured)
	require.EqualError(t, err, "line 5: providers.socialeye.keys[0].secret: vault:secret/ig/socialeye#api_key: vault: references need the secrets.vault section: source not configured")
}

// TestNoSecretInOutput puts secrets where a careless user would — literally
// in the config, and in the variables references point to — and checks that
// no error, printed config or printed Secrets contains them.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	literals := map[string]string{
		"testdata/literal-secret.bad.yaml":     "sk_live_4f9a8b7c6d5e4f3a2b1c",
		"testdata/multi.bad.yaml":              "sk_live_4f9a8b7c6d5e4f3a2b1c",
		"testdata/base-url-userinfo.bad.yaml":  "hunter2pass",
		"testdata/shared-url-literal.bad.yaml": "s3cretRedisPass",
	}
	for file, lit := range literals {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Contains(t, string(data), lit, "fixture must hold the literal")
		_, err = Load(file)
		require.Error(t, err)
		require.NotContains(t, err.Error(), lit, file)
		require.NotContains(t, fmt.Sprintf("%+v %#v", err, err), lit, file)
	}

	const envSecret = "sk_live_FROM_ENV_never_print"
	cfg, err := Load("testdata/minimal.good.yaml")
	require.NoError(t, err)
	s, err := cfg.ResolveSecretsWith(context.Background(), envResolver(map[string]string{"SOCIALEYE_API_KEY": envSecret}))
	require.NoError(t, err)
	v, ok := s.Key("socialeye", "prod-1")
	require.True(t, ok)
	require.Equal(t, envSecret, v.Reveal())

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("startup", "config", cfg, "secrets", s, "secrets_value", *s)
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	outputs := []string{
		fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg),
		fmt.Sprintf("%v %+v %#v", s, s, s),
		fmt.Sprintf("%v %+v %#v", *s, *s, *s),
		buf.String(),
		string(js),
	}
	for _, out := range outputs {
		require.NotContains(t, out, envSecret)
		require.NotContains(t, out, "FROM_ENV")
	}
	require.True(t, strings.Contains(string(js), "env:SOCIALEYE_API_KEY"), "references print as written")
}

// A key file others can read still works but is reported against its field,
// with the errors of the same run; world-writable is an error.
func TestResolveSecretsWarnings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("sk_live_abc\n"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	readable := write("readable.key", 0o644)
	writable := write("writable.key", 0o666)
	private := write("private.key", 0o600)
	cfg, err := Parse(fmt.Appendf(nil, `
providers:
  socialeye:
    kind: socialeye
    keys:
      - {id: a, secret: "file:%s"}
      - {id: b, secret: "file:%s"}
      - {id: c, secret: "file:%s"}
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`, readable, private, writable), dir)
	require.NoError(t, err)

	s, err := cfg.ResolveSecrets(context.Background())
	require.EqualError(t, err, "line 8: providers.socialeye.keys[2].secret: file:"+writable+
		": secret file "+writable+" has mode 0666: writable by others; chmod 600")
	require.Equal(t, "line 6: providers.socialeye.keys[0].secret: file:"+readable+
		" has mode 0644: readable by group/others; chmod 600", s.Warnings().Error())

	require.NoError(t, os.Chmod(writable, 0o600))
	s, err = cfg.ResolveSecrets(context.Background())
	require.NoError(t, err)
	require.Len(t, s.Warnings(), 1)
	require.Equal(t, "providers.socialeye.keys[0].secret", s.Warnings()[0].Field)
	require.NotContains(t, s.Warnings().Error(), "sk_live")

	// A source without warnings (a later Vault one) reports none.
	s, err = cfg.ResolveSecretsWith(context.Background(), secret.DefaultSources().With("file", plainSource{}))
	require.NoError(t, err)
	require.Empty(t, s.Warnings())
}

type plainSource struct{}

func (plainSource) Fetch(ctx context.Context, refs []secret.Ref) []secret.Result {
	return secret.Each(ctx, refs, func(context.Context, secret.Ref) secret.Result {
		return secret.Result{Secret: secret.Secret{Value: secret.NewValue("v")}}
	})
}

// recordingSource is a fake secret.Source: it answers every reference with
// a value derived from it and records what it was asked.
type recordingSource struct {
	prefix string
	asked  *[]string
}

func (r recordingSource) Fetch(ctx context.Context, refs []secret.Ref) []secret.Result {
	return secret.Each(ctx, refs, func(_ context.Context, ref secret.Ref) secret.Result {
		*r.asked = append(*r.asked, ref.String())
		if ref.Path == "MISSING" {
			return secret.Result{Err: fmt.Errorf("%s has nothing at %s", r.prefix, ref.Path)}
		}
		return secret.Result{Secret: secret.Secret{Value: secret.NewValue(r.prefix + "-" + ref.Path + ref.Field)}}
	})
}

// Sources are injected: replacing the env: source with a fake and giving
// vault: one (the later Vault issue's plumbing) needs nothing else, and a
// fake's failure is reported against its field like any other.
func TestResolveSecretsThroughInjectedSources(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
providers:
  socialeye:
    kind: socialeye
    keys:
      - {id: a, secret: "env:SOCIALEYE_A"}
      - {id: b, secret: "vault:secret/ig/socialeye#api_key"}
      - {id: c, secret: "env:MISSING"}
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`), "/srv")
	require.NoError(t, err)
	var envAsked, vaultAsked []string
	src := secret.DefaultSources().
		With("env", recordingSource{prefix: "fake-env", asked: &envAsked}).
		With("vault", recordingSource{prefix: "fake-vault", asked: &vaultAsked})

	_, err = cfg.ResolveSecretsWith(context.Background(), src)
	require.EqualError(t, err, "line 8: providers.socialeye.keys[2].secret: env:MISSING: fake-env has nothing at MISSING")
	require.Equal(t, []string{"env:SOCIALEYE_A", "env:MISSING"}, envAsked)
	require.Equal(t, []string{"vault:secret/ig/socialeye#api_key"}, vaultAsked)

	cfg.Providers["socialeye"].Keys = cfg.Providers["socialeye"].Keys[:2]
	s, err := cfg.ResolveSecretsWith(context.Background(), src)
	require.NoError(t, err)
	a, ok := s.Key("socialeye", "a")
	require.True(t, ok)
	require.Equal(t, "fake-env-SOCIALEYE_A", a.Reveal())
	b, ok := s.Key("socialeye", "b")
	require.True(t, ok)
	require.Equal(t, "fake-vault-secret/ig/socialeyeapi_key", b.Reveal())
}

// TestShortEncryptionSecretRefused: a data-at-rest secret under 32 bytes
// is refused at start, naming the field and the length, never the value.
func TestShortEncryptionSecretRefused(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/paths.good.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	vtKey := filepath.Join(dir, "vt")
	require.NoError(t, os.WriteFile(vtKey, []byte("vt-file-secret\n"), 0o600))
	cfg.Providers["vt"].Keys[0].Secret, err = secret.ParseRef("file:" + vtKey)
	require.NoError(t, err)
	short := filepath.Join(dir, "enc")
	require.NoError(t, os.WriteFile(short, []byte("tooShort-s3cret\n"), 0o600))
	cfg.Encryption.Keys[0].Secret, err = secret.ParseRef("file:" + short)
	require.NoError(t, err)
	_, err = cfg.ResolveSecrets(context.Background())
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 1)
	require.Equal(t, "encryption.keys[0].secret", list[0].Field)
	require.Contains(t, list[0].Msg, "the secret is 15 bytes; a data-at-rest key must be at least 32 bytes")
	require.NotContains(t, err.Error(), "tooShort-s3cret")
}

// A nested auth mount (kubernetes/prod) is a valid mount path; a segment
// that is not a plain name is refused naming the field.
func TestVaultAuthMountPath(t *testing.T) {
	t.Parallel()
	doc := func(mount string) []byte {
		return []byte(`
secrets:
  vault: {address: "https://vault.example:8200", auth: {method: kubernetes, role: ig, mount: "` + mount + `"}}
providers:
  socialeye: {kind: socialeye, keys: [{id: k, secret: "env:K"}]}
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`)
	}
	_, err := Parse(doc("kubernetes/prod"), "/srv")
	require.NoError(t, err)
	for _, bad := range []string{"kubernetes/", "/k8s", "k8s/../x", "a b"} {
		_, err = Parse(doc(bad), "/srv")
		require.ErrorContains(t, err, "secrets.vault.auth.mount: must be a mount path", bad)
	}
}
