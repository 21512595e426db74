package alert

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/config"
)

// Rules are the engine's settings in standard types: what the alerts and
// rotation sections say (RulesFromConfig), or what a test sets.
type Rules struct {
	// EvaluateEvery is how often Run evaluates (alerts.evaluate_every).
	EvaluateEvery time.Duration
	// Cooldown is the default of every rule's (alerts.cooldown).
	Cooldown time.Duration
	// MaxOpen bounds the live alerts of each rule (alerts.max_open).
	MaxOpen int

	UpstreamErrors   UpstreamErrorsRule
	ClientVolume     ClientVolumeRule
	QueryPattern     QueryPatternRule
	UnexpectedSource UnexpectedSourceRule
	AuthFailures     AuthFailuresRule
	KeyRejected      KeyRejectedRule
	KeyAge           KeyAgeRule
	Quota            QuotaRule
	BreakerOpen      Base
	AuditDropped     Base
	SecretSource     Base
	DeadLetters      DeadLettersRule
}

// Base is what every rule has. Cooldown 0 is Rules.Cooldown.
type Base struct {
	Enabled  bool
	Severity Severity
	Cooldown time.Duration
}

// UpstreamErrorsRule: see config.UpstreamErrorsRule.
type UpstreamErrorsRule struct {
	Base
	Window      time.Duration
	Ratio       float64
	MinRequests int
}

// ClientVolumeRule: see config.ClientVolumeRule.
type ClientVolumeRule struct {
	Base
	Window      time.Duration
	Factor      float64
	MinRequests int
	WarmUp      time.Duration
	Smoothing   float64
	// LongTermFactor and LongTermSmoothing: the slow baseline (factor 0:
	// off).
	LongTermFactor    float64
	LongTermSmoothing float64
	Ceiling           int // 0: none
	// Ceilings override Ceiling for the clients they name (each above 0):
	// a client that is heavy by design gets a ceiling of its own instead
	// of an alert every window.
	Ceilings map[string]int
}

// QueryPatternRule: see config.QueryPatternRule.
type QueryPatternRule struct {
	Base
	Window           time.Duration
	MaxDistinct      int
	FirstUse         bool
	FirstUseSeverity Severity
	WarmUp           time.Duration
}

// UnexpectedSourceRule: see config.UnexpectedSourceRule.
type UnexpectedSourceRule struct {
	Base
	NewAddresses           bool
	NewAddressSeverity     Severity
	WarmUp                 time.Duration
	IPv4Prefix, IPv6Prefix int
	MaxAddresses           int
}

// AuthFailuresRule: see config.AuthFailuresRule.
type AuthFailuresRule struct {
	Base
	Window     time.Duration
	PerSource  int
	Overall    int
	MaxSources int
}

// KeyRejectedRule: see config.KeyRejectedRule.
type KeyRejectedRule struct {
	Base
	SuspectSeverity Severity
}

// KeyAgeRule: see config.KeyAgeRule; Period and WarnBefore are
// rotation.period and rotation.warn_before.
type KeyAgeRule struct {
	Base
	WarnSeverity Severity
	Period       time.Duration
	WarnBefore   time.Duration
}

// QuotaRule: see config.QuotaRule. Its severities are fixed: warning at
// Warn, critical at Critical.
type QuotaRule struct {
	Base
	Warn, Critical float64
}

// DeadLettersRule: see config.DeadLettersRule. Severity is the growth
// alert's; at CriticalTotal items (0: never) it is critical.
type DeadLettersRule struct {
	Base
	Window        time.Duration
	MinNew        int
	CriticalTotal int
}

// DefaultRules are the documented defaults.
func DefaultRules() Rules {
	c := config.Default()
	return RulesFromConfig(c.Alerts, c.Rotation)
}

// RulesFromConfig converts a validated alerts section. With
// alerts.enabled false every rule is off.
func RulesFromConfig(a config.Alerts, rot config.Rotation) Rules {
	on := a.Enabled
	base := func(enabled bool, sev string, cd config.Duration) Base {
		return Base{Enabled: on && enabled, Severity: Severity(sev), Cooldown: cd.Std()}
	}
	r := a.Rules
	u, cv, q, s, f := r.UpstreamErrors, r.ClientVolume, r.QueryPattern, r.UnexpectedSource, r.AuthFailures
	return Rules{
		EvaluateEvery: a.EvaluateEvery.Std(), Cooldown: a.Cooldown.Std(), MaxOpen: a.MaxOpen,
		UpstreamErrors: UpstreamErrorsRule{Base: base(u.Enabled, u.Severity, u.Cooldown), Window: u.Window.Std(),
			Ratio: u.Ratio, MinRequests: u.MinRequests},
		ClientVolume: ClientVolumeRule{Base: base(cv.Enabled, cv.Severity, cv.Cooldown), Window: cv.Window.Std(),
			Factor: cv.Factor, MinRequests: cv.MinRequests, WarmUp: cv.WarmUp.Std(), Smoothing: cv.Smoothing,
			LongTermFactor: cv.LongTermFactor, LongTermSmoothing: cv.LongTermSmoothing, Ceiling: cv.Ceiling,
			Ceilings: maps.Clone(cv.Ceilings)},
		QueryPattern: QueryPatternRule{Base: base(q.Enabled, q.Severity, q.Cooldown), Window: q.Window.Std(),
			MaxDistinct: q.MaxDistinct, FirstUse: q.FirstUse, FirstUseSeverity: Severity(q.FirstUseSeverity), WarmUp: q.WarmUp.Std()},
		UnexpectedSource: UnexpectedSourceRule{Base: base(s.Enabled, s.Severity, s.Cooldown), NewAddresses: s.NewAddresses,
			NewAddressSeverity: Severity(s.NewAddressSeverity), WarmUp: s.WarmUp.Std(),
			IPv4Prefix: s.IPv4Prefix, IPv6Prefix: s.IPv6Prefix, MaxAddresses: s.MaxAddresses},
		AuthFailures: AuthFailuresRule{Base: base(f.Enabled, f.Severity, f.Cooldown), Window: f.Window.Std(),
			PerSource: f.PerSource, Overall: f.Overall, MaxSources: f.MaxSources},
		KeyRejected: KeyRejectedRule{Base: base(r.KeyRejected.Enabled, r.KeyRejected.Severity, r.KeyRejected.Cooldown),
			SuspectSeverity: Severity(r.KeyRejected.SuspectSeverity)},
		KeyAge: KeyAgeRule{Base: base(r.KeyAge.Enabled, r.KeyAge.Severity, r.KeyAge.Cooldown),
			WarnSeverity: Severity(r.KeyAge.WarnSeverity), Period: rot.Period.Std(), WarnBefore: rot.WarnBefore.Std()},
		Quota: QuotaRule{Base: base(r.Quota.Enabled, string(Critical), r.Quota.Cooldown), Warn: r.Quota.Warn,
			Critical: r.Quota.Critical},
		BreakerOpen:  base(r.BreakerOpen.Enabled, r.BreakerOpen.Severity, r.BreakerOpen.Cooldown),
		AuditDropped: base(r.AuditDropped.Enabled, r.AuditDropped.Severity, r.AuditDropped.Cooldown),
		SecretSource: base(r.SecretSource.Enabled, r.SecretSource.Severity, r.SecretSource.Cooldown),
		DeadLetters: DeadLettersRule{Base: base(r.DeadLetters.Enabled, r.DeadLetters.Severity, r.DeadLetters.Cooldown),
			Window: r.DeadLetters.Window.Std(), MinNew: r.DeadLetters.MinNew, CriticalTotal: r.DeadLetters.CriticalTotal},
	}
}

// cooldown is rule's cooldown.
func (r *Rules) cooldown(rule string) time.Duration {
	if b := r.base(rule); b != nil && b.Cooldown > 0 {
		return b.Cooldown
	}
	return r.Cooldown
}

func (r *Rules) base(rule string) *Base {
	switch rule {
	case RuleUpstreamErrors:
		return &r.UpstreamErrors.Base
	case RuleClientVolume:
		return &r.ClientVolume.Base
	case RuleQueryPattern:
		return &r.QueryPattern.Base
	case RuleUnexpectedSource:
		return &r.UnexpectedSource.Base
	case RuleAuthFailures:
		return &r.AuthFailures.Base
	case RuleKeyRejected:
		return &r.KeyRejected.Base
	case RuleKeyAge:
		return &r.KeyAge.Base
	case RuleQuota:
		return &r.Quota.Base
	case RuleBreakerOpen:
		return &r.BreakerOpen
	case RuleAuditDropped:
		return &r.AuditDropped
	case RuleSecretSource:
		return &r.SecretSource
	case RuleDeadLetters:
		return &r.DeadLetters.Base
	}
	return nil
}

// check refuses settings the detectors cannot work with. The config's
// validation is stricter and names the YAML fields; this guards Rules
// built in code, naming the Go fields.
func (r *Rules) check() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, fmt.Errorf("alert: Rules.%s %s", field, msg)) }
	if r.EvaluateEvery <= 0 {
		bad("EvaluateEvery", "must be positive")
	}
	if r.Cooldown <= 0 {
		bad("Cooldown", "must be positive")
	}
	if r.MaxOpen < 1 {
		bad("MaxOpen", "must be at least 1")
	}
	for _, name := range RuleNames() {
		if b := r.base(name); b.Enabled && name != RuleQuota && b.Severity.rank() == 0 {
			bad(name+".Severity", "must be info, warning or critical")
		}
	}
	windows := map[string]time.Duration{"UpstreamErrors.Window": r.UpstreamErrors.Window, "ClientVolume.Window": r.ClientVolume.Window,
		"QueryPattern.Window": r.QueryPattern.Window, "AuthFailures.Window": r.AuthFailures.Window,
		"DeadLetters.Window": r.DeadLetters.Window}
	for f, w := range windows {
		if w <= 0 {
			bad(f, "must be positive")
		}
	}
	if r.AuthFailures.MaxSources < 1 || r.UnexpectedSource.MaxAddresses < 1 {
		bad("AuthFailures.MaxSources and UnexpectedSource.MaxAddresses", "must be at least 1 (they bound memory)")
	}
	if cv := r.ClientVolume; cv.Smoothing <= 0 || cv.Smoothing > 1 || cv.LongTermSmoothing <= 0 || cv.LongTermSmoothing > 1 {
		bad("ClientVolume.Smoothing and LongTermSmoothing", "must be in (0, 1]")
	}
	if f := r.ClientVolume.LongTermFactor; f != 0 && f <= 1 {
		bad("ClientVolume.LongTermFactor", "must be 0 (off) or above 1")
	}
	for _, name := range slices.Sorted(maps.Keys(r.ClientVolume.Ceilings)) {
		if r.ClientVolume.Ceilings[name] < 1 {
			bad("ClientVolume.Ceilings["+name+"]", "must be at least 1")
		}
	}
	if r.DeadLetters.MinNew < 1 {
		bad("DeadLetters.MinNew", "must be at least 1")
	}
	if r.DeadLetters.CriticalTotal < 0 {
		bad("DeadLetters.CriticalTotal", "must not be negative (0: never critical)")
	}
	if r.UnexpectedSource.IPv4Prefix < 0 || r.UnexpectedSource.IPv4Prefix > 32 ||
		r.UnexpectedSource.IPv6Prefix < 0 || r.UnexpectedSource.IPv6Prefix > 128 {
		bad("UnexpectedSource.IPv4Prefix/IPv6Prefix", "must be valid prefix lengths")
	}
	return errors.Join(errs...)
}
