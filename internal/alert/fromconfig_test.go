package alert_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

const configYAML = `
alerts:
  cooldown: 20m
  rules:
    upstream_errors: {ratio: 0.3}
    client_volume: {ceilings: {soar: 200000}}
    quota: {enabled: false}
  sinks:
    hook:
      type: webhook
      url: https://alerts.example.com/intelgate
      secret: file:hook.secret
      ca_file: ca.pem
      min_severity: warning
      rules: [key_rejected]
    hook-ref:
      type: webhook
      url: env:HOOK_URL
      secret: env:HOOK_SECRET
    chat:
      type: slack
      url: env:SLACK_URL
      send_resolved: false
    mail:
      type: smtp
      host: smtp.example.com
      port: 465
      from: intelgate@example.com
      to: [soc@example.com]
      username: env:SMTP_USER
      password: env:SMTP_PASSWORD
    journal:
      type: log
      min_severity: critical
providers:
  socialeye:
    kind: socialeye
    keys:
      - id: prod-1
        secret: env:SOCIALEYE_API_KEY
clients:
  siem:
    token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7
    providers: [socialeye]
    source_cidrs: [10.0.0.0/8]
  soar:
    token_sha256: c9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7
    providers: [socialeye]
`

func loadConfig(t *testing.T, env map[string]string) (*config.Config, *config.Secrets, error) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "intelgate.yaml"), []byte(configYAML), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hook.secret"), []byte(testSecret), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), upstreamtest.NewCA(t, "sink CA").PEM(), 0o600))
	cfg, err := config.Load(filepath.Join(dir, "intelgate.yaml"))
	require.NoError(t, err)
	src := secret.DefaultSources().With("env", secret.Env{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
	sec, err := cfg.ResolveSecretsWith(context.Background(), src)
	return cfg, sec, err
}

func goodEnv() map[string]string {
	return map[string]string{
		"SOCIALEYE_API_KEY": "se-key-0123456789abcdef", "HOOK_URL": "https://hooks.example.com/x?token=abc",
		"HOOK_SECRET": testSecret, "SLACK_URL": "https://hooks.slack.example/services/T/B/x",
		"SMTP_USER": "intelgate", "SMTP_PASSWORD": "pw",
	}
}

func TestFromConfig(t *testing.T) {
	t.Parallel()
	cfg, sec, err := loadConfig(t, goodEnv())
	require.NoError(t, err)
	o, err := alert.FromConfig(cfg, func() *config.Secrets { return sec })
	require.NoError(t, err)

	require.Equal(t, 20*time.Minute, o.Rules.Cooldown)
	require.Equal(t, 0.3, o.Rules.UpstreamErrors.Ratio)
	require.False(t, o.Rules.Quota.Enabled)
	require.Equal(t, map[string]int{"soar": 200000}, o.Rules.ClientVolume.Ceilings)
	require.Equal(t, config.DefaultClientVolumeCeiling, o.Rules.ClientVolume.Ceiling, "every other client")
	require.True(t, o.Rules.KeyAge.Enabled)
	require.Equal(t, 90*24*time.Hour, o.Rules.KeyAge.Period, "from the rotation section")
	require.Equal(t, alert.DeadLettersRule{Base: alert.Base{Enabled: true, Severity: alert.Warning}, Window: time.Hour, MinNew: 1,
		CriticalTotal: 100}, o.Rules.DeadLetters, "on by default")
	require.Equal(t, map[string]alert.Client{"siem": {SourceCIDRs: true}, "soar": {}}, o.Clients)
	require.Equal(t, []string{"socialeye"}, o.Providers)
	require.Equal(t, map[string][]string{"socialeye": {"prod-1"}}, o.Keys)

	specs := map[string]alert.SinkSpec{}
	for _, s := range o.Sinks {
		specs[s.Name] = s
	}
	require.Len(t, specs, 5)
	require.IsType(t, &alert.WebhookSink{}, specs["hook"].Sink)
	require.Equal(t, alert.Warning, specs["hook"].MinSeverity)
	require.Equal(t, []string{"key_rejected"}, specs["hook"].Rules)
	require.IsType(t, &alert.SlackSink{}, specs["chat"].Sink)
	require.False(t, specs["chat"].SendResolved)
	require.IsType(t, &alert.SMTPSink{}, specs["mail"].Sink)
	require.IsType(t, &alert.LogSink{}, specs["journal"].Sink)
	require.Equal(t, 1000, specs["hook"].Queue)
	require.Equal(t, 10*time.Second, specs["hook"].Timeout)

	o.Clock = nil
	e, err := alert.New(o)
	require.NoError(t, err, "a configured log sink replaces the default one")
	require.NotNil(t, e)
}

// A sink secret that is unusable is refused at start, naming its field
// and never the value.
func TestFromConfigRefusesBadSinkSecrets(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env   map[string]string
		field string
	}{
		"weak signing secret": {env: map[string]string{"HOOK_SECRET": "whsec_c2hvcnQ="}, field: "alerts.sinks.hook-ref.secret"},
		"plaintext slack url": {env: map[string]string{"SLACK_URL": "http://hooks.slack.example/services/T/B/leakme"}, field: "alerts.sinks.chat.url"},
		"url with a password": {env: map[string]string{"HOOK_URL": "https://u:leakme@hooks.example.com/"}, field: "alerts.sinks.hook-ref.url"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := goodEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, sec, err := loadConfig(t, env)
			require.NoError(t, err)
			_, err = alert.FromConfig(cfg, func() *config.Secrets { return sec })
			require.ErrorContains(t, err, tc.field+":")
			require.NotContains(t, err.Error(), "leakme")
			require.False(t, strings.Contains(err.Error(), "c2hvcnQ"))
		})
	}
}
