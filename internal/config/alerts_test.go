package config

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// alertBadFiles lists, for every testdata/alerts-*.bad.yaml, every problem
// it must report (see badFiles).
var alertBadFiles = map[string][]string{
	"alerts-general": {
		`line 3: alerts.evaluate_every: must be between 1s and 10m`,
		`line 4: alerts.cooldown: must be at least 1m`,
		`line 5: alerts.retention: must be greater than 0`,
		`line 6: alerts.max_open: must be between 1 and 1000000`,
	},
	"alerts-thresholds": {
		`line 5: alerts.rules.upstream_errors.window: must be between 10s and 24h`,
		`line 6: alerts.rules.upstream_errors.ratio: must be greater than 0 and at most 1`,
		`line 7: alerts.rules.upstream_errors.min_requests: must be at least 1`,
		`line 8: alerts.rules.upstream_errors.cooldown: must be 0 (alerts.cooldown) or at least 1m`,
		`line 10: alerts.rules.query_pattern.window: must be between 10s and 24h`,
		`line 11: alerts.rules.query_pattern.max_distinct: must be at least 10`,
		`line 12: alerts.rules.query_pattern.warm_up: must be greater than 0 and at most 90d`,
	},
	"alerts-severity": {
		`line 4: alerts.rules.breaker_open.severity: must be info, warning or critical, not "high"`,
		`line 5: alerts.rules.key_rejected.suspect_severity: must be info, warning or critical, not ""`,
		`line 6: alerts.rules.key_age.warn_severity: must be info, warning or critical, not "Warning"`,
	},
	"alerts-volume": {
		`line 6: alerts.rules.client_volume.factor: must be greater than 1 and at most 1000`,
		`line 7: alerts.rules.client_volume.min_requests: must be at least 1`,
		`line 8: alerts.rules.client_volume.warm_up: must be at least client_volume.window (10m0s)`,
		`line 9: alerts.rules.client_volume.smoothing: must be greater than 0 and at most 1`,
		`line 10: alerts.rules.client_volume.ceiling: must not be negative (0: no ceiling)`,
	},
	"alerts-volume-long-term": {
		`line 6: alerts.rules.client_volume.long_term_factor: must be 0 (off) or greater than 1 and at most 1000`,
		`line 7: alerts.rules.client_volume.long_term_smoothing: must be greater than 0 and at most client_volume.smoothing (0.1): the long-term baseline is the slow one`,
	},
	"alerts-volume-ceilings": {
		`line 6: alerts.rules.client_volume.ceilings.nobody: no client is named "nobody" (clients lists them)`,
		`line 7: alerts.rules.client_volume.ceilings.siem: must be at least 1 (a client's own ceiling`,
		`line 8: alerts.rules.client_volume.ceilings.soar: must be at least 1`,
	},
	"alerts-sources": {
		`line 5: alerts.rules.unexpected_source.ipv4_prefix: must be between 8 and 32`,
		`line 6: alerts.rules.unexpected_source.ipv6_prefix: must be between 16 and 128`,
		`line 7: alerts.rules.unexpected_source.max_addresses: must be between 1 and 65536`,
		`line 10: alerts.rules.auth_failures.overall: must be at least auth_failures.per_source (50)`,
		`line 11: alerts.rules.auth_failures.max_sources: must be between 1 and 1000000`,
	},
	"alerts-quota": {
		`line 5: alerts.rules.quota.warn: must be greater than 0 and at most 1`,
		`line 6: alerts.rules.quota.critical: must be greater than quota.warn (0) and at most 1`,
	},
	"alerts-dead-letters": {
		`line 5: alerts.rules.dead_letters.window: must be between 10s and 24h`,
		`line 6: alerts.rules.dead_letters.min_new: must be at least 1 (how many new dead items within window fire the rule)`,
		`line 7: alerts.rules.dead_letters.critical_total: must not be negative (0: never critical)`,
		`line 8: alerts.rules.dead_letters.severity: must be info, warning or critical, not "page"`,
		`line 9: alerts.rules.dead_letters.cooldown: must be 0 (alerts.cooldown) or at least 1m`,
	},
	"alerts-webhook": {
		`line 6: alerts.sinks.plain.url: must be https://; http:// needs allow_http: true and a loopback IP address (127.0.0.1 or [::1])`,
		`line 10: alerts.sinks.remote-http.url: http:// is allowed to a loopback IP address only (write 127.0.0.1 or [::1]), not "alerts.example.com"`,
		`line 15: alerts.sinks.token-in-query.url: must not carry a query or fragment`,
		`line 17: alerts.sinks.userinfo.secret: required: a whsec_ signing secret reference`,
		`line 19: alerts.sinks.userinfo.url: must not carry credentials`,
		`line 23: alerts.sinks.literal-secret.secret: a literal secret is not allowed here`,
		`line 24: alerts.sinks.literal-secret.host: not used with type webhook`,
		`line 25: alerts.sinks.literal-secret.rules[1]: unknown rule "nope"`,
		`line 26: alerts.sinks.literal-secret.queue: must be between 1 and 1048576`,
		`line 27: alerts.sinks.literal-secret.timeout: must be greater than 0 and at most 5m`,
		`line 28: alerts.sinks.literal-secret.max_attempts: must be between 1 and 20`,
	},
	"alerts-webhook-localhost": {
		`line 6: alerts.sinks.by-name.url: http:// is allowed to a loopback IP address only (write 127.0.0.1 or [::1]), not "localhost"`,
		`line 11: alerts.sinks.upper-case.url: http:// is allowed to a loopback IP address only (write 127.0.0.1 or [::1]), not "LOCALHOST"`,
		`line 16: alerts.sinks.loopback-name.url: http:// is allowed to a loopback IP address only (write 127.0.0.1 or [::1]), not "127.0.0.1.nip.io"`,
	},
	"alerts-slack": {
		`line 6: alerts.sinks.chat.url: must be a secret reference such as env:SLACK_WEBHOOK_URL: the incoming-webhook URL is a credential`,
		`line 7: alerts.sinks.chat2.url: required: a secret reference`,
		`line 9: alerts.sinks.chat2.min_severity: must be info, warning or critical, not "urgent"`,
	},
	"alerts-smtp": {
		`line 4: alerts.sinks.mail.host: required: the relay's host name`,
		`line 4: alerts.sinks.mail.password: username and password go together`,
		`line 6: alerts.sinks.mail.port: must be a port from 1 to 65535`,
		`line 7: alerts.sinks.mail.from: must be one email address`,
		`line 8: alerts.sinks.mail.to: at least one recipient is required`,
		`line 10: alerts.sinks.mail.url: not used with type smtp`,
		`line 15: alerts.sinks.mail2.to[1]: must be one email address`,
	},
	"alerts-sink-type": {
		`line 5: alerts.sinks.pager.type: must be webhook, slack, smtp or log, not "pagerduty"`,
		`line 6: alerts.sinks.bad name: must be 1–64 letters`,
		`line 11: alerts.sinks.journal.qeue: unknown field "qeue"; did you mean "queue"?`,
		`line 13: alerts.sinks.log.type: the name log is the built-in log sink's`,
	},
}

// The credentials written where a reference belongs are refused without
// being repeated: the error goes to terminals and CI logs.
func TestAlertSinkErrorsNeverEchoCredentials(t *testing.T) {
	t.Parallel()
	for file, secrets := range map[string][]string{
		"alerts-slack":   {"XXXXSECRETXXXX", "hooks.slack.com"},
		"alerts-webhook": {"abc123", "user:pw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		_, err := Load("testdata/" + file + ".bad.yaml")
		require.Error(t, err)
		for _, s := range secrets {
			require.NotContains(t, err.Error(), s, file)
		}
	}
}

func TestAlertDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/minimal.good.yaml")
	require.NoError(t, err)
	a := cfg.Alerts
	require.True(t, a.Enabled)
	require.Equal(t, 30*time.Second, a.EvaluateEvery.Std())
	require.Equal(t, 15*time.Minute, a.Cooldown.Std())
	require.Equal(t, DefaultAlertsMaxOpen, a.MaxOpen)
	r := a.Rules
	for name, on := range map[string]bool{
		"upstream_errors": r.UpstreamErrors.Enabled, "client_volume": r.ClientVolume.Enabled,
		"query_pattern": r.QueryPattern.Enabled, "unexpected_source": r.UnexpectedSource.Enabled,
		"auth_failures": r.AuthFailures.Enabled, "key_rejected": r.KeyRejected.Enabled, "key_age": r.KeyAge.Enabled,
		"quota": r.Quota.Enabled, "breaker_open": r.BreakerOpen.Enabled, "audit_dropped": r.AuditDropped.Enabled,
		"secret_source": r.SecretSource.Enabled, "dead_letters": r.DeadLetters.Enabled,
	} {
		require.True(t, on, "%s must be on by default", name)
	}
	require.Equal(t, 0.2, r.UpstreamErrors.Ratio)
	require.Equal(t, 0.8, r.Quota.Warn)
	require.Equal(t, 0.95, r.Quota.Critical)
	require.Equal(t, SeverityCritical, r.UnexpectedSource.Severity)
	require.Equal(t, 24*time.Hour, r.KeyAge.Cooldown.Std())
	require.Equal(t, 50000, r.ClientVolume.Ceiling, "a ceiling by default: a baseline alone can be ramped")
	require.Equal(t, 10.0, r.ClientVolume.LongTermFactor)
	require.Equal(t, 0.005, r.ClientVolume.LongTermSmoothing)
	require.Equal(t, time.Hour, r.DeadLetters.Window.Std())
	require.Equal(t, 1, r.DeadLetters.MinNew, "one new dead item is news")
	require.Equal(t, 100, r.DeadLetters.CriticalTotal)
	require.Equal(t, SeverityWarning, r.DeadLetters.Severity)
	require.Empty(t, a.Sinks)
}

// The ceiling and the long-term baseline can each be turned off with 0.
func TestClientVolumeZeroTurnsOff(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile("testdata/minimal.good.yaml")
	require.NoError(t, err)
	cfg, err := Parse(append(base, "alerts:\n  rules:\n    client_volume: {ceiling: 0, long_term_factor: 0}\n"...), "testdata")
	require.NoError(t, err)
	require.Zero(t, cfg.Alerts.Rules.ClientVolume.Ceiling)
	require.Zero(t, cfg.Alerts.Rules.ClientVolume.LongTermFactor)
	require.Equal(t, DefaultClientVolumeLongTermSmoothing, cfg.Alerts.Rules.ClientVolume.LongTermSmoothing)
}

// With the long-term baseline off (long_term_factor 0) its weight judges
// nothing, so it need not be below smoothing; it must still be a weight.
func TestClientVolumeLongTermSmoothingWhenOff(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile("testdata/minimal.good.yaml")
	require.NoError(t, err)
	_, err = Parse(append(base, "alerts:\n  rules:\n    client_volume: {smoothing: 0.001, long_term_factor: 0}\n"...), "testdata")
	require.NoError(t, err, "long_term_smoothing 0.005 above smoothing 0.001, with the long-term baseline off")
	_, err = Parse(append(base, "alerts:\n  rules:\n    client_volume: {smoothing: 0.001}\n"...), "testdata")
	require.ErrorContains(t, err, "alerts.rules.client_volume.long_term_smoothing: must be greater than 0 and at most client_volume.smoothing (0.001)")
	_, err = Parse(append(base, "alerts:\n  rules:\n    client_volume: {long_term_factor: 0, long_term_smoothing: 0}\n"...), "testdata")
	require.ErrorContains(t, err, "alerts.rules.client_volume.long_term_smoothing: must be greater than 0 and at most 1")
}

// A rule written in part keeps the defaults of what it leaves out.
func TestAlertRulePartialOverride(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/alerts-full.good.yaml")
	require.NoError(t, err)
	r := cfg.Alerts.Rules
	require.Equal(t, 30*time.Minute, r.UpstreamErrors.Cooldown.Std())
	require.Equal(t, 20000, r.ClientVolume.Ceiling)
	require.Equal(t, map[string]int{"siem": 120000}, r.ClientVolume.Ceilings)
	require.Equal(t, 8.0, r.ClientVolume.LongTermFactor)
	require.Equal(t, 0.01, r.ClientVolume.LongTermSmoothing)
	require.True(t, r.ClientVolume.Enabled, "enabled left out stays on")
	require.Equal(t, SeverityWarning, r.ClientVolume.Severity)
	require.False(t, r.SecretSource.Enabled)
	require.Equal(t, SeverityWarning, r.SecretSource.Severity)
	require.Equal(t, 30*time.Minute, r.DeadLetters.Window.Std())
	require.Equal(t, 5, r.DeadLetters.MinNew)
	require.Zero(t, r.DeadLetters.CriticalTotal, "0: never critical")
	require.True(t, r.DeadLetters.Enabled, "enabled left out stays on")

	s := cfg.Alerts.Sinks
	require.Len(t, s, 5)
	require.Equal(t, DefaultSinkQueue, s["chat"].Queue)
	require.False(t, s["chat"].SendResolved)
	require.True(t, s["ops-hook"].SendResolved)
	require.Equal(t, DefaultSMTPPort, s["mail"].SMTPPort())
	require.Equal(t, SeverityInfo, s["journal"].MinSeverity)
}

func TestAlertSinkSecretsResolve(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/alerts-full.good.yaml")
	require.NoError(t, err)
	env := map[string]string{
		"SOCIALEYE_API_KEY":    "se-key-value-0123456789",
		"ALERT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"SLACK_WEBHOOK_URL":    "https://hooks.slack.example/services/T/B/secret",
		"SMTP_USER":            "intelgate",
		"SMTP_PASSWORD":        "smtp-password-value",
	}
	_, err = cfg.ResolveSecretsWith(context.Background(), envResolver(env))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	// The relative file: reference resolves against the config's
	// directory, and is reported (missing) under its field.
	require.Len(t, list, 1, "%v", err)
	require.Equal(t, "alerts.sinks.local-hook.secret", list[0].Field)
	require.Contains(t, list[0].Msg, "testdata/secrets/hook")

	cfg.Alerts.Sinks["local-hook"].Secret = cfg.Alerts.Sinks["ops-hook"].Secret
	s, err := cfg.ResolveSecretsWith(context.Background(), envResolver(env))
	require.NoError(t, err)
	for field, want := range map[string]string{
		"alerts.sinks.ops-hook.secret": env["ALERT_WEBHOOK_SECRET"],
		"alerts.sinks.chat.url":        env["SLACK_WEBHOOK_URL"],
		"alerts.sinks.mail.username":   env["SMTP_USER"],
		"alerts.sinks.mail.password":   env["SMTP_PASSWORD"],
	} {
		e, ok := s.Entry(field)
		require.True(t, ok, field)
		require.Equal(t, want, e.Value.Reveal(), field)
	}
	_, ok := s.Entry("alerts.sinks.ops-hook.url")
	require.False(t, ok, "a literal URL is not a secret")
	require.False(t, strings.Contains(s.Fields()[0], "journal"))
}
