package config

import (
	"crypto/tls"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/indicator"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/minimal.good.yaml")
	require.NoError(t, err)
	abs, err := filepath.Abs("testdata")
	require.NoError(t, err)

	require.Equal(t, abs, cfg.BaseDir)
	require.Equal(t, "prod", cfg.Environment)
	s := cfg.Server
	require.Equal(t, "127.0.0.1:8080", s.Listen)
	require.Nil(t, s.TLS)
	require.False(t, s.AllowPlaintext)
	require.Equal(t, 5*time.Second, s.ReadHeaderTimeout.Std())
	require.Equal(t, 15*time.Second, s.ReadTimeout.Std())
	require.Equal(t, 60*time.Second, s.WriteTimeout.Std())
	require.Equal(t, 120*time.Second, s.IdleTimeout.Std())
	require.Equal(t, 30*time.Second, s.ShutdownTimeout.Std())
	require.Equal(t, ByteSize(16<<10), s.MaxHeaderBytes)
	require.Equal(t, ByteSize(1<<20), s.MaxBodyBytes)
	require.Equal(t, Storage{Driver: "sqlite", DSN: filepath.Join(abs, "intelgate.db"), Timeout: Duration(5 * time.Second), MaxConnections: 10}, cfg.Storage)
	require.Equal(t, "memory", cfg.Shared.Driver)

	p := cfg.Providers["socialeye"]
	require.Equal(t, "https://api.socialeye.net", p.BaseURL)
	require.Equal(t, uint16(tls.VersionTLS12), p.TLS.MinVersion.Std())
	require.Equal(t, 30*time.Second, p.Timeout.Std())
	require.Equal(t, ByteSize(5<<20), p.MaxResponseBytes)
	require.Equal(t, Retry{MaxAttempts: 3, MaxWait: Duration(30 * time.Second), Backoff: Duration(200 * time.Millisecond), Budget: 0.1}, p.Retry)
	require.Equal(t, Breaker{FailureRatio: 0.5, MinRequests: 20, Window: Duration(time.Minute), OpenFor: Duration(30 * time.Second), HalfOpenRequests: 1}, p.Breaker)
	require.Equal(t, 2*time.Second, p.Limits.MaxWait.Std())
	require.Equal(t, "UTC", p.Limits.TimeZone)
	require.Equal(t, time.UTC, p.Limits.Location())
	require.Equal(t, Shared{Driver: "memory", Fail: "closed", Timeout: Duration(250 * time.Millisecond), Prefix: "intelgate:"}, cfg.Shared)
	require.Equal(t, Cache{TTL: Duration(time.Hour), NegativeTTL: Duration(10 * time.Minute), StaleIfError: Duration(24 * time.Hour)}, p.Cache)
	require.True(t, p.Cache.On(), "caching is on unless a provider turns it off")
	require.Equal(t, CacheSettings{MemoryBytes: 64 << 20}, cfg.Cache)
	day := 24 * time.Hour
	require.Equal(t, Retention{Audit: Duration(365 * day), CacheMaxTTL: Duration(day), JobResults: Duration(7 * day),
		WebhookIDs: Duration(30 * day), Seen: Duration(90 * day), SweepInterval: Duration(time.Hour)}, cfg.Retention)
	require.Equal(t, Audit{Indicators: "hmac", QueueSize: 8192, CheckpointEvery: 10000, CheckpointInterval: Duration(5 * time.Minute)}, cfg.Audit)
	require.Equal(t, IndicatorTypes(), p.Types)
	require.NotContains(t, p.Types, indicator.Auto)
	require.True(t, p.Limits.Rate.Unlimited())
	require.Equal(t, "prod", p.Keys[0].Environment)
	require.Equal(t, "prod", cfg.Clients["siem"].Environment)
	require.Len(t, p.KeysFor("prod"), 1)
	require.Empty(t, p.KeysFor("staging"))
}

func TestHTTPRequestDefaultsAndLateDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("../../examples/full.yaml")
	require.NoError(t, err)

	vt := cfg.Providers["virustotal"]
	require.Equal(t, "GET", vt.Request.Method)
	require.Equal(t, []int{404}, vt.Request.NotFoundStatus)
	require.Equal(t, Auth{In: "header", Name: "x-apikey"}, vt.Request.Auth)
	require.Equal(t, Rate{N: 4, Per: time.Minute}, vt.Limits.Rate)
	require.Equal(t, 1, vt.Limits.Burst, "4/m bursts to one request, not four")
	require.Equal(t, filepath.Join(cfg.BaseDir, "schemas/virustotal-ip.json"), vt.SchemaFile)

	abuse := cfg.Providers["abuseipdb"]
	require.Equal(t, "{indicator}", abuse.Request.Query["ipAddress"])
	require.Equal(t, "staging", abuse.Keys[1].Environment)
	require.Equal(t, "prod", abuse.Keys[0].Environment)

	require.Equal(t, 20, cfg.Clients["soar-staging"].Limits.Burst)
	require.Equal(t, 5, cfg.Clients["siem"].Limits.Burst)
	require.Equal(t, uint16(tls.VersionTLS13), cfg.Server.TLS.MinVersion.Std())
	require.Equal(t, filepath.Join(cfg.BaseDir, "tls/intelgate.crt"), cfg.Server.TLS.CertFile)
	require.Equal(t, "2026-10-01", cfg.Providers["socialeye"].Keys[0].RotatedAt.String())
}

func TestRelativePathsBecomeAbsolute(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/paths.good.yaml")
	require.NoError(t, err)
	base := cfg.BaseDir
	require.True(t, filepath.IsAbs(base))

	require.Equal(t, filepath.Join(base, "tls/cert.pem"), cfg.Server.TLS.CertFile)
	require.Equal(t, "/etc/intelgate/key.pem", cfg.Server.TLS.KeyFile)
	require.Equal(t, filepath.Join(base, "state/intelgate.db"), cfg.Storage.DSN)
	se := cfg.Providers["socialeye"]
	require.Equal(t, filepath.Join(base, "ca.pem"), se.TLS.CAFile)
	require.Equal(t, filepath.Join(base, "secrets/socialeye.key"), se.Keys[0].Secret.Path)
	require.Equal(t, "file:"+filepath.Join(base, "secrets/socialeye.key"), se.Keys[0].Secret.String())
	require.Equal(t, filepath.Join(base, "secrets/enc.key"), cfg.Encryption.Keys[0].Secret.Path)
	vt := cfg.Providers["vt"]
	require.Equal(t, filepath.Join(base, "schemas/vt.json"), vt.SchemaFile)
	require.Equal(t, "/run/secrets/vt", vt.Keys[0].Secret.Path)
	require.Len(t, se.TLS.Pins, 2)
}

func TestParseBaseDir(t *testing.T) {
	t.Parallel()
	doc := []byte(`
providers:
  socialeye: {kind: socialeye, keys: [{id: k, secret: "file:k.txt"}]}
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`)
	cfg, err := Parse(doc, "/srv/ig")
	require.NoError(t, err)
	require.Equal(t, "/srv/ig/k.txt", cfg.Providers["socialeye"].Keys[0].Secret.Path)
	require.Equal(t, "/srv/ig/intelgate.db", cfg.Storage.DSN)

	cfg, err = Parse(doc, "")
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(cfg.BaseDir))
}

func TestExplicitZeroIsKeptAndJudged(t *testing.T) {
	t.Parallel()
	// A value written as 0 is not replaced by the default: it is validated.
	_, err := Parse([]byte(`
providers:
  socialeye:
    kind: socialeye
    keys: [{id: k, secret: env:K}]
    breaker: {min_requests: 0}
    timeout: 0s
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`), "/srv")
	require.ErrorContains(t, err, "line 6: providers.socialeye.breaker.min_requests: must be at least 1")
	require.ErrorContains(t, err, "line 7: providers.socialeye.timeout: must be greater than 0")
}

func TestAliasesAndTheirLimit(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
providers:
  a: &p {kind: socialeye, keys: [{id: k, secret: env:K}]}
  b: *p
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [a, b]}
`), "/srv")
	require.NoError(t, err)
	require.Len(t, cfg.Providers, 2)

	// The classic exponential alias expansion (10^9 nodes) is refused at
	// the first level instead of being expanded: no field nests that deep.
	var b strings.Builder
	b.WriteString("x0: &a0 [1,1,1,1,1,1,1,1,1,1]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("server:\n  trusted_proxies: *a8\n")
	_, err = Parse([]byte(b.String()), "/srv")
	require.ErrorContains(t, err, "server.trusted_proxies[9]: must be a single value")
}

func TestDecoderNodeBudget(t *testing.T) {
	t.Parallel()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("trusted_proxies: [10.0.0.0/8, 10.0.0.0/8, 10.0.0.0/8, 10.0.0.0/8]\n"), &doc))
	d := newDecoder()
	d.budget = 4
	var s Server
	d.decode("server", doc.Content[0], reflect.ValueOf(&s).Elem())
	require.Len(t, d.errs, 1)
	require.Contains(t, d.errs[0].Msg, "document too large")
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	t.Parallel()
	p := DefaultProvider()
	p.Kind = "http"
	p.BaseURL = "https://api.example.com"
	p.Types = []indicator.Type{indicator.Domain}
	p.Keys = []Key{{ID: "k1"}}
	p.Request = DefaultHTTPRequest()
	p.Request.Path = "/v1/domains/{indicator}"

	cfg := Default()
	cfg.Providers = map[string]*Provider{"ex": p}
	cfg.Clients = map[string]*Client{"app": {
		TokenSHA256: strings.Repeat("AB", 32),
		Providers:   []string{"ex"},
	}}
	err := cfg.Validate()
	require.EqualError(t, err, "providers.ex.keys[0].secret: required; use env:NAME, file:PATH, vault:MOUNT/PATH#FIELD or awssm:SECRET_ID#FIELD")
	require.Equal(t, "prod", cfg.Clients["app"].Environment)
	require.Equal(t, strings.Repeat("ab", 32), cfg.Clients["app"].TokenSHA256, "token hashes are normalised to lower case")
}

// The secret sources' files — the Vault CA, its credentials' files, the
// service account token, the AWS CA — resolve against the config's
// directory like every other path: under systemd the working directory
// is not the config's.
func TestSecretSourcePathsBecomeAbsolute(t *testing.T) {
	t.Parallel()
	doc := []byte(`
secrets:
  vault:
    address: https://vault.example:8200
    ca_file: vault-ca.pem
    auth: {method: approle, role_id: "file:vault-role", secret_id: "file:/run/secrets/vault-secret"}
  aws: {region: eu-west-1, ca_file: certs/aws.pem}
providers:
  socialeye: {kind: socialeye, keys: [{id: k, secret: "env:K"}]}
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`)
	cfg, err := Parse(doc, "/etc/intelgate")
	require.NoError(t, err)
	v := cfg.Secrets.Vault
	require.Equal(t, "/etc/intelgate/vault-ca.pem", v.CAFile)
	require.Equal(t, "file:/etc/intelgate/vault-role", v.Auth.RoleID.String())
	require.Equal(t, "file:/run/secrets/vault-secret", v.Auth.SecretID.String())
	require.Equal(t, "/etc/intelgate/certs/aws.pem", cfg.Secrets.AWS.CAFile)

	k8s, err := Parse([]byte(`
secrets:
  vault: {address: "https://vault.example:8200", auth: {method: kubernetes, role: ig, service_account_token_file: sa/token}}
providers:
  socialeye: {kind: socialeye, keys: [{id: k, secret: "env:K"}]}
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`), "/etc/intelgate")
	require.NoError(t, err)
	require.Equal(t, "/etc/intelgate/sa/token", k8s.Secrets.Vault.Auth.ServiceAccountTokenFile)
}
