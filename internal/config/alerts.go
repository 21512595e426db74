package config

import (
	"maps"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/secret"
)

// Alerts is the alerts section: the built-in rules, their sinks and the
// actions taken on security events (docs/alerts.md). Every rule is on by
// default; a deployment turns one off or tunes its thresholds, it does not
// have to discover that alerting exists.
type Alerts struct {
	// Enabled false turns every rule off (default true). Stored alerts
	// stay readable at GET /admin/v1/alerts.
	Enabled bool `yaml:"enabled"`
	// EvaluateEvery is how often the windowed and polled rules are
	// evaluated, and quiet alerts resolved (default 30s).
	EvaluateEvery Duration `yaml:"evaluate_every"`
	// Cooldown is how long an open alert that keeps firing stays quiet
	// before it notifies again, and how long an acknowledged one stays
	// quiet (default 15m). A rule's own cooldown overrides it.
	Cooldown Duration `yaml:"cooldown"`
	// Retention is how long a resolved or acknowledged alert not seen
	// since is kept (default 90d).
	Retention Duration `yaml:"retention"`
	// MaxOpen bounds the open alerts of each rule (default 1000): a
	// flood of distinct sources cannot grow the alert table, or the
	// notifications, without bound. Beyond it, new alerts of the rule
	// are counted and dropped.
	MaxOpen int                   `yaml:"max_open"`
	Rules   AlertRules            `yaml:"rules"`
	Sinks   map[string]*AlertSink `yaml:"sinks"`
}

// AlertRules are the built-in rules, each with its thresholds.
type AlertRules struct {
	UpstreamErrors   UpstreamErrorsRule   `yaml:"upstream_errors"`
	ClientVolume     ClientVolumeRule     `yaml:"client_volume"`
	QueryPattern     QueryPatternRule     `yaml:"query_pattern"`
	UnexpectedSource UnexpectedSourceRule `yaml:"unexpected_source"`
	AuthFailures     AuthFailuresRule     `yaml:"auth_failures"`
	KeyRejected      KeyRejectedRule      `yaml:"key_rejected"`
	KeyAge           KeyAgeRule           `yaml:"key_age"`
	Quota            QuotaRule            `yaml:"quota"`
	BreakerOpen      AlertRule            `yaml:"breaker_open"`
	AuditDropped     AlertRule            `yaml:"audit_dropped"`
	SecretSource     AlertRule            `yaml:"secret_source"`
	DeadLetters      DeadLettersRule      `yaml:"dead_letters"`
}

// AlertRule is the part every rule has. Cooldown 0 is alerts.cooldown.
type AlertRule struct {
	Enabled  bool     `yaml:"enabled"`
	Severity string   `yaml:"severity"` // info, warning or critical
	Cooldown Duration `yaml:"cooldown"`
}

// UpstreamErrorsRule fires when more than Ratio of a provider's upstream
// calls in Window failed, once at least MinRequests were made.
type UpstreamErrorsRule struct {
	Enabled     bool     `yaml:"enabled"`
	Severity    string   `yaml:"severity"`
	Cooldown    Duration `yaml:"cooldown"`
	Window      Duration `yaml:"window"`
	Ratio       float64  `yaml:"ratio"`
	MinRequests int      `yaml:"min_requests"`
}

// ClientVolumeRule fires when a client's requests in one Window exceed
// Factor times its baseline (an exponentially weighted moving average of
// its past windows, weight Smoothing), or LongTermFactor times its
// long-term baseline (the same average at the slower LongTermSmoothing;
// LongTermFactor 0: off), once it has been watched for WarmUp and the
// window holds at least MinRequests; or, at any time, when they exceed
// Ceiling (0: no ceiling), or the client's own entry in Ceilings. A window is learnt as at most half-way to a
// baseline's threshold, so a client cannot raise its baselines faster
// than 1+Smoothing·(Factor−1)/2 (1+LongTermSmoothing·(LongTermFactor−1)/2)
// a window: the long-term baseline and the ceiling are what stop a client
// that ramps its volume up slowly.
type ClientVolumeRule struct {
	Enabled           bool     `yaml:"enabled"`
	Severity          string   `yaml:"severity"`
	Cooldown          Duration `yaml:"cooldown"`
	Window            Duration `yaml:"window"`
	Factor            float64  `yaml:"factor"`
	MinRequests       int      `yaml:"min_requests"`
	WarmUp            Duration `yaml:"warm_up"`
	Smoothing         float64  `yaml:"smoothing"`
	LongTermFactor    float64  `yaml:"long_term_factor"`
	LongTermSmoothing float64  `yaml:"long_term_smoothing"`
	Ceiling           int      `yaml:"ceiling"`
	// Ceilings are per-client ceilings, by client name, in place of
	// Ceiling: a client that is heavy by design (a bulk enrichment job)
	// would otherwise meet the default ceiling every window, and its
	// alert would teach people to ignore the rule.
	Ceilings map[string]int `yaml:"ceilings"`
}

// QueryPatternRule fires when a client looks up more than MaxDistinct
// distinct indicators in one Window (enumeration), and, when FirstUse is
// on, when a client watched for WarmUp first uses an indicator type or a
// provider (at FirstUseSeverity).
type QueryPatternRule struct {
	Enabled          bool     `yaml:"enabled"`
	Severity         string   `yaml:"severity"`
	Cooldown         Duration `yaml:"cooldown"`
	Window           Duration `yaml:"window"`
	MaxDistinct      int      `yaml:"max_distinct"`
	FirstUse         bool     `yaml:"first_use"`
	FirstUseSeverity string   `yaml:"first_use_severity"`
	WarmUp           Duration `yaml:"warm_up"`
}

// UnexpectedSourceRule fires when a client's valid token is presented
// from outside its source_cidrs (Severity), and, when NewAddresses is on,
// when a client without source_cidrs, watched for WarmUp, calls from a
// network it was never seen from (NewAddressSeverity). A network is the
// address's IPv4Prefix or IPv6Prefix; each client remembers its
// MaxAddresses most recent networks.
type UnexpectedSourceRule struct {
	Enabled            bool     `yaml:"enabled"`
	Severity           string   `yaml:"severity"`
	Cooldown           Duration `yaml:"cooldown"`
	NewAddresses       bool     `yaml:"new_addresses"`
	NewAddressSeverity string   `yaml:"new_address_severity"`
	WarmUp             Duration `yaml:"warm_up"`
	IPv4Prefix         int      `yaml:"ipv4_prefix"`
	IPv6Prefix         int      `yaml:"ipv6_prefix"`
	MaxAddresses       int      `yaml:"max_addresses"`
}

// AuthFailuresRule fires when one source (an IPv4 address, an IPv6 /64)
// fails authentication PerSource times in one Window, or all sources
// together Overall times. At most MaxSources sources are tracked.
type AuthFailuresRule struct {
	Enabled    bool     `yaml:"enabled"`
	Severity   string   `yaml:"severity"`
	Cooldown   Duration `yaml:"cooldown"`
	Window     Duration `yaml:"window"`
	PerSource  int      `yaml:"per_source"`
	Overall    int      `yaml:"overall"`
	MaxSources int      `yaml:"max_sources"`
}

// KeyRejectedRule fires when an upstream refuses a key: at
// SuspectSeverity for a lookup answered 401/403 (the resource may be what
// was refused), at Severity when the fixed auth check confirms it or the
// key is revoked.
type KeyRejectedRule struct {
	Enabled         bool     `yaml:"enabled"`
	Severity        string   `yaml:"severity"`
	SuspectSeverity string   `yaml:"suspect_severity"`
	Cooldown        Duration `yaml:"cooldown"`
}

// KeyAgeRule fires when a key is older than rotation.period (Severity),
// and rotation.warn_before earlier (WarnSeverity).
type KeyAgeRule struct {
	Enabled      bool     `yaml:"enabled"`
	Severity     string   `yaml:"severity"`
	WarnSeverity string   `yaml:"warn_severity"`
	Cooldown     Duration `yaml:"cooldown"`
}

// QuotaRule fires when a key's day or month quota is Warn used (warning)
// and Critical used (critical).
type QuotaRule struct {
	Enabled  bool     `yaml:"enabled"`
	Cooldown Duration `yaml:"cooldown"`
	Warn     float64  `yaml:"warn"`
	Critical float64  `yaml:"critical"`
}

// DeadLettersRule watches the bulk queue's dead-letter queue (GET
// /admin/v1/dlq), polled at each evaluation: it fires (Severity) when at
// least MinNew items died within Window — new dead items, not ones that
// sat there before — and at critical while it holds at least
// CriticalTotal (0: never critical). It resolves once the queue has not
// grown (and holds fewer than CriticalTotal) for its cooldown, or at once
// when it is emptied. Without jobs it has nothing to watch.
type DeadLettersRule struct {
	Enabled       bool     `yaml:"enabled"`
	Severity      string   `yaml:"severity"`
	Cooldown      Duration `yaml:"cooldown"`
	Window        Duration `yaml:"window"`
	MinNew        int      `yaml:"min_new"`
	CriticalTotal int      `yaml:"critical_total"`
}

// AlertSink is one place notifications go. Which fields apply depends on
// Type; a field of another type is an error.
type AlertSink struct {
	// Type is webhook, slack, smtp or log.
	Type string `yaml:"type"`
	// URL: webhook: an https:// URL (http:// only to loopback with
	// AllowHTTP), or a secret reference when the URL carries a
	// credential; slack: a secret reference (the incoming-webhook URL is
	// the credential).
	URL string `yaml:"url"`
	// Secret is the webhook's whsec_ signing secret (Standard Webhooks).
	Secret    secret.Ref `yaml:"secret"`
	AllowHTTP bool       `yaml:"allow_http"`
	// CAFile is a PEM bundle the server's certificate chains to (webhook,
	// slack, smtp); default: the system roots.
	CAFile string `yaml:"ca_file"`
	// Host, Port (default 587; 465 is implicit TLS, any other port must
	// offer STARTTLS), From and To are the smtp sink's relay and message;
	// Username and Password, when set, authenticate over TLS only.
	Host     string     `yaml:"host"`
	Port     int        `yaml:"port"`
	From     string     `yaml:"from"`
	To       []string   `yaml:"to"`
	Username secret.Ref `yaml:"username"`
	Password secret.Ref `yaml:"password"`
	// MinSeverity and Rules filter what the sink receives (default info,
	// every rule); SendResolved also sends resolutions (default true).
	MinSeverity  string   `yaml:"min_severity"`
	Rules        []string `yaml:"rules"`
	SendResolved bool     `yaml:"send_resolved"`
	// Queue bounds the notifications waiting for the sink (default 1000);
	// beyond it they are dropped and counted.
	Queue int `yaml:"queue"`
	// Timeout bounds one delivery attempt (default 10s); MaxAttempts
	// bounds the attempts of one notification (default 5).
	Timeout     Duration `yaml:"timeout"`
	MaxAttempts int      `yaml:"max_attempts"`
}

// SMTPPort is the sink's port: Port, or DefaultSMTPPort when unset.
func (s AlertSink) SMTPPort() int {
	if s.Port == 0 {
		return DefaultSMTPPort
	}
	return s.Port
}

// Severities, in rising order.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Defaults of the alerts section (docs/alerts.md).
const (
	DefaultAlertsEvaluateEvery = Duration(30 * time.Second)
	DefaultAlertsCooldown      = Duration(15 * time.Minute)
	DefaultAlertsRetention     = Duration(90 * 24 * time.Hour)
	DefaultAlertsMaxOpen       = 1000

	DefaultUpstreamErrorsWindow      = Duration(5 * time.Minute)
	DefaultUpstreamErrorsRatio       = 0.2
	DefaultUpstreamErrorsMinRequests = 20

	DefaultClientVolumeWindow      = Duration(5 * time.Minute)
	DefaultClientVolumeFactor      = 3.0
	DefaultClientVolumeMinRequests = 100
	DefaultClientVolumeWarmUp      = Duration(time.Hour)
	DefaultClientVolumeSmoothing   = 0.2
	// The long-term baseline weighs a window at 0.005 (its memory is
	// about 200 active windows, 17 hours at the default window), so it
	// remembers a client's day through its night: after its first day, a
	// client whose day is 50 times its night does not alert every
	// morning. It rises at most 2.25% a window (see internal/alert's
	// learn): a client ramping its volume up faster is alerted once it is
	// ten times that baseline, in a bounded number of windows.
	DefaultClientVolumeLongTermFactor    = 10.0
	DefaultClientVolumeLongTermSmoothing = 0.005
	// DefaultClientVolumeCeiling is requests per client per window (about
	// 170 a second over the default 5m) whatever the baselines learnt:
	// more than any enrichment pipeline sends one gateway, well under
	// what would drain a paid vendor quota unnoticed.
	DefaultClientVolumeCeiling = 50000

	DefaultQueryPatternWindow      = Duration(10 * time.Minute)
	DefaultQueryPatternMaxDistinct = 500
	DefaultQueryPatternWarmUp      = Duration(24 * time.Hour)

	DefaultUnexpectedSourceWarmUp       = Duration(24 * time.Hour)
	DefaultUnexpectedSourceIPv4Prefix   = 24
	DefaultUnexpectedSourceIPv6Prefix   = 64
	DefaultUnexpectedSourceMaxAddresses = 256

	DefaultAuthFailuresWindow = Duration(time.Minute)
	// DefaultAuthFailuresPerSource is server.auth_failures.max's default:
	// the gateway blocks a source at its max-th failure, so a larger
	// threshold would never be reached by one source.
	DefaultAuthFailuresPerSource  = 10
	DefaultAuthFailuresOverall    = 200
	DefaultAuthFailuresMaxSources = 10000

	// A key's age changes by the day and a quota by the hour: reminding
	// every 15 minutes would teach people to ignore the sink.
	DefaultKeyAgeCooldown = Duration(24 * time.Hour)
	DefaultQuotaCooldown  = Duration(time.Hour)
	DefaultQuotaWarn      = 0.8
	DefaultQuotaCritical  = 0.95

	// One item dead within the hour is news (its attempts ran out: the
	// provider failed it max_attempts times); a hundred waiting is a
	// backlog someone has to retry.
	DefaultDeadLettersWindow        = Duration(time.Hour)
	DefaultDeadLettersMinNew        = 1
	DefaultDeadLettersCriticalTotal = 100

	DefaultSinkQueue       = 1000
	DefaultSinkTimeout     = Duration(10 * time.Second)
	DefaultSinkMaxAttempts = 5
	DefaultSMTPPort        = 587
)

func (a *Alerts) setDefaults() {
	on := func(sev string) AlertRule { return AlertRule{Enabled: true, Severity: sev} }
	*a = Alerts{
		Enabled: true, EvaluateEvery: DefaultAlertsEvaluateEvery, Cooldown: DefaultAlertsCooldown,
		Retention: DefaultAlertsRetention, MaxOpen: DefaultAlertsMaxOpen,
		Rules: AlertRules{
			UpstreamErrors: UpstreamErrorsRule{Enabled: true, Severity: SeverityWarning, Window: DefaultUpstreamErrorsWindow,
				Ratio: DefaultUpstreamErrorsRatio, MinRequests: DefaultUpstreamErrorsMinRequests},
			ClientVolume: ClientVolumeRule{Enabled: true, Severity: SeverityWarning, Window: DefaultClientVolumeWindow,
				Factor: DefaultClientVolumeFactor, MinRequests: DefaultClientVolumeMinRequests,
				WarmUp: DefaultClientVolumeWarmUp, Smoothing: DefaultClientVolumeSmoothing,
				LongTermFactor: DefaultClientVolumeLongTermFactor, LongTermSmoothing: DefaultClientVolumeLongTermSmoothing,
				Ceiling: DefaultClientVolumeCeiling},
			QueryPattern: QueryPatternRule{Enabled: true, Severity: SeverityWarning, Window: DefaultQueryPatternWindow,
				MaxDistinct: DefaultQueryPatternMaxDistinct, FirstUse: true, FirstUseSeverity: SeverityInfo,
				WarmUp: DefaultQueryPatternWarmUp},
			UnexpectedSource: UnexpectedSourceRule{Enabled: true, Severity: SeverityCritical, NewAddresses: true,
				NewAddressSeverity: SeverityWarning, WarmUp: DefaultUnexpectedSourceWarmUp,
				IPv4Prefix: DefaultUnexpectedSourceIPv4Prefix, IPv6Prefix: DefaultUnexpectedSourceIPv6Prefix,
				MaxAddresses: DefaultUnexpectedSourceMaxAddresses},
			AuthFailures: AuthFailuresRule{Enabled: true, Severity: SeverityWarning, Window: DefaultAuthFailuresWindow,
				PerSource: DefaultAuthFailuresPerSource, Overall: DefaultAuthFailuresOverall,
				MaxSources: DefaultAuthFailuresMaxSources},
			KeyRejected:  KeyRejectedRule{Enabled: true, Severity: SeverityCritical, SuspectSeverity: SeverityWarning},
			KeyAge:       KeyAgeRule{Enabled: true, Severity: SeverityWarning, WarnSeverity: SeverityInfo, Cooldown: DefaultKeyAgeCooldown},
			Quota:        QuotaRule{Enabled: true, Cooldown: DefaultQuotaCooldown, Warn: DefaultQuotaWarn, Critical: DefaultQuotaCritical},
			BreakerOpen:  on(SeverityWarning),
			AuditDropped: on(SeverityCritical),
			SecretSource: on(SeverityWarning),
			DeadLetters: DeadLettersRule{Enabled: true, Severity: SeverityWarning, Window: DefaultDeadLettersWindow,
				MinNew: DefaultDeadLettersMinNew, CriticalTotal: DefaultDeadLettersCriticalTotal},
		},
	}
}

func (s *AlertSink) setDefaults() {
	*s = AlertSink{MinSeverity: SeverityInfo, SendResolved: true, Queue: DefaultSinkQueue,
		Timeout: DefaultSinkTimeout, MaxAttempts: DefaultSinkMaxAttempts}
}

// AlertRuleNames are the built-in rules, as sinks' rules filters and
// stored alerts name them.
func AlertRuleNames() []string {
	return []string{"upstream_errors", "client_volume", "query_pattern", "unexpected_source", "auth_failures",
		"key_rejected", "key_age", "quota", "breaker_open", "audit_dropped", "secret_source", "dead_letters"}
}

// URLRef is the sink's url as a secret reference; ok is false when it is
// a literal URL (or empty).
func (s AlertSink) URLRef() (ref secret.Ref, ok bool) {
	r, err := secret.ParseRef(s.URL)
	return r, err == nil
}

// alertSecretFields are the sinks' secret references, in sink name order,
// for secretFields. A relative file: path resolves against the config's
// directory like every other one.
func (c *Config) alertSecretFields() []secretField {
	var out []secretField
	add := func(field string, r secret.Ref) {
		out = append(out, secretField{field: field, ref: r.WithBaseDir(c.BaseDir)})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Alerts.Sinks)) {
		s, f := c.Alerts.Sinks[name], "alerts.sinks."+name
		if s == nil {
			continue
		}
		if ref, ok := s.URLRef(); ok && (s.Type == "webhook" || s.Type == "slack") {
			add(f+".url", ref)
		}
		switch s.Type {
		case "webhook":
			add(f+".secret", s.Secret)
		case "smtp":
			add(f+".username", s.Username)
			add(f+".password", s.Password)
		}
	}
	return out
}
