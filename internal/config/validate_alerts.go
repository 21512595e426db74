package config

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/secret"
)

// Bounds of the alert settings (the messages spell them out). Each keeps
// a typo from turning alerting into noise (a 1s cooldown) or silence (a
// 30d window nobody waits for).
const (
	minAlertCooldown = time.Minute
	minAlertWindow   = 10 * time.Second
	maxAlertWindow   = 24 * time.Hour
	maxAlertQueue    = 1 << 20
	maxAlertAttempts = 20
)

// alerts checks the alerts section.
func (v *validator) alerts() {
	a := v.cfg.Alerts
	if a.EvaluateEvery.Std() < time.Second || a.EvaluateEvery.Std() > 10*time.Minute {
		v.add("alerts.evaluate_every", "must be between 1s and 10m")
	}
	if a.Cooldown.Std() < minAlertCooldown {
		v.add("alerts.cooldown", "must be at least 1m (a shorter cooldown turns a flood into a notification storm)")
	}
	if a.Retention <= 0 {
		v.add("alerts.retention", "must be greater than 0")
	}
	if a.MaxOpen < 1 || a.MaxOpen > 1_000_000 {
		v.add("alerts.max_open", "must be between 1 and 1000000 (it bounds the alert table's memory)")
	}
	v.alertRules(a.Rules)
	for _, name := range slices.Sorted(maps.Keys(a.Sinks)) {
		v.alertSink("alerts.sinks."+name, name, a.Sinks[name])
	}
}

const rulesField = "alerts.rules."

// alertRules checks each rule's thresholds; every field is named.
func (v *validator) alertRules(r AlertRules) {
	v.windowedRules(r)
	v.sourceAndKeyRules(r)
}

// windowedRules are the rules that count in windows of their own.
func (v *validator) windowedRules(r AlertRules) {
	const p = rulesField
	u := r.UpstreamErrors
	v.ruleBase(p+"upstream_errors", u.Severity, u.Cooldown)
	v.alertWindow(p+"upstream_errors.window", u.Window)
	v.fraction(p+"upstream_errors.ratio", u.Ratio)
	v.atLeast(p+"upstream_errors.min_requests", u.MinRequests, 1)

	v.clientVolumeRule(p+"client_volume", r.ClientVolume)

	q := r.QueryPattern
	v.ruleBase(p+"query_pattern", q.Severity, q.Cooldown)
	v.severity(p+"query_pattern.first_use_severity", q.FirstUseSeverity)
	v.alertWindow(p+"query_pattern.window", q.Window)
	v.atLeast(p+"query_pattern.max_distinct", q.MaxDistinct, 10)
	v.warmUp(p+"query_pattern.warm_up", q.WarmUp)
}

// clientVolumeRule checks the volume baselines: a factor at or below 1
// would alert on a client's normal volume, a long-term baseline that
// learns faster than the short-term one would be no memory at all.
func (v *validator) clientVolumeRule(p string, c ClientVolumeRule) {
	v.ruleBase(p, c.Severity, c.Cooldown)
	v.alertWindow(p+".window", c.Window)
	if !(c.Factor > 1) || c.Factor > 1000 {
		v.add(p+".factor", "must be greater than 1 and at most 1000 (how many times its baseline a client's volume may reach)")
	}
	v.atLeast(p+".min_requests", c.MinRequests, 1)
	if c.WarmUp < c.Window {
		v.add(p+".warm_up", "must be at least client_volume.window (%s): a baseline needs one window", c.Window)
	}
	smoothingOK := c.Smoothing > 0 && c.Smoothing <= 1
	if !smoothingOK {
		v.add(p+".smoothing", "must be greater than 0 and at most 1")
	}
	if c.LongTermFactor != 0 && (!(c.LongTermFactor > 1) || c.LongTermFactor > 1000) {
		v.add(p+".long_term_factor", "must be 0 (off) or greater than 1 and at most 1000 "+
			"(how many times its long-term baseline a client's volume may reach)")
	}
	// With long_term_factor 0 the long-term baseline judges nothing, so
	// its weight need not be the slower one; it must still be a weight.
	longOn, ls := c.LongTermFactor != 0, c.LongTermSmoothing
	switch weight := ls > 0 && ls <= 1; {
	case longOn && (!weight || (smoothingOK && ls > c.Smoothing)):
		v.add(p+".long_term_smoothing", "must be greater than 0 and at most client_volume.smoothing (%g): "+
			"the long-term baseline is the slow one", c.Smoothing)
	case !longOn && !weight:
		v.add(p+".long_term_smoothing", "must be greater than 0 and at most 1")
	}
	if c.Ceiling < 0 {
		v.add(p+".ceiling", "must not be negative (0: no ceiling)")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Ceilings)) {
		f := p + ".ceilings." + name
		if _, ok := v.cfg.Clients[name]; !ok {
			v.add(f, "no client is named %s (clients lists them)", quote(name))
		}
		if c.Ceilings[name] < 1 {
			v.add(f, "must be at least 1 (a client's own ceiling; the rule's ceiling: 0 turns it off for every client)")
		}
	}
}

// sourceAndKeyRules are the rules about sources, keys and the gateway's
// own state.
func (v *validator) sourceAndKeyRules(r AlertRules) {
	const p = rulesField
	s := r.UnexpectedSource
	v.ruleBase(p+"unexpected_source", s.Severity, s.Cooldown)
	v.severity(p+"unexpected_source.new_address_severity", s.NewAddressSeverity)
	v.warmUp(p+"unexpected_source.warm_up", s.WarmUp)
	if s.IPv4Prefix < 8 || s.IPv4Prefix > 32 {
		v.add(p+"unexpected_source.ipv4_prefix", "must be between 8 and 32")
	}
	if s.IPv6Prefix < 16 || s.IPv6Prefix > 128 {
		v.add(p+"unexpected_source.ipv6_prefix", "must be between 16 and 128")
	}
	if s.MaxAddresses < 1 || s.MaxAddresses > 65536 {
		v.add(p+"unexpected_source.max_addresses", "must be between 1 and 65536 (networks remembered per client)")
	}

	f := r.AuthFailures
	v.ruleBase(p+"auth_failures", f.Severity, f.Cooldown)
	v.alertWindow(p+"auth_failures.window", f.Window)
	v.atLeast(p+"auth_failures.per_source", f.PerSource, 1)
	if f.Overall < max(1, f.PerSource) {
		v.add(p+"auth_failures.overall", "must be at least auth_failures.per_source (%d)", f.PerSource)
	}
	if f.MaxSources < 1 || f.MaxSources > 1_000_000 {
		v.add(p+"auth_failures.max_sources", "must be between 1 and 1000000 (it bounds the tracker's memory)")
	}

	k := r.KeyRejected
	v.ruleBase(p+"key_rejected", k.Severity, k.Cooldown)
	v.severity(p+"key_rejected.suspect_severity", k.SuspectSeverity)
	ka := r.KeyAge
	v.ruleBase(p+"key_age", ka.Severity, ka.Cooldown)
	v.severity(p+"key_age.warn_severity", ka.WarnSeverity)

	qu := r.Quota
	v.cooldown(p+"quota.cooldown", qu.Cooldown)
	v.fraction(p+"quota.warn", qu.Warn)
	if !(qu.Critical > qu.Warn) || qu.Critical > 1 {
		v.add(p+"quota.critical", "must be greater than quota.warn (%g) and at most 1", qu.Warn)
	}
	for name, b := range map[string]AlertRule{"breaker_open": r.BreakerOpen, "audit_dropped": r.AuditDropped, "secret_source": r.SecretSource} {
		v.ruleBase(p+name, b.Severity, b.Cooldown)
	}
	v.deadLettersRule(p+"dead_letters", r.DeadLetters)
}

// deadLettersRule: min_new 0 would fire on a queue that did not grow, and
// a negative critical_total at every evaluation.
func (v *validator) deadLettersRule(p string, d DeadLettersRule) {
	v.ruleBase(p, d.Severity, d.Cooldown)
	v.alertWindow(p+".window", d.Window)
	if d.MinNew < 1 {
		v.add(p+".min_new", "must be at least 1 (how many new dead items within window fire the rule)")
	}
	if d.CriticalTotal < 0 {
		v.add(p+".critical_total", "must not be negative (0: never critical)")
	}
}

func (v *validator) ruleBase(field, severity string, cooldown Duration) {
	v.severity(field+".severity", severity)
	v.cooldown(field+".cooldown", cooldown)
}

func (v *validator) severity(field, s string) {
	if s != SeverityInfo && s != SeverityWarning && s != SeverityCritical {
		v.add(field, "must be info, warning or critical, not %s", quote(s))
	}
}

// cooldown: 0 means alerts.cooldown.
func (v *validator) cooldown(field string, d Duration) {
	if d != 0 && d.Std() < minAlertCooldown {
		v.add(field, "must be 0 (alerts.cooldown) or at least 1m")
	}
}

func (v *validator) alertWindow(field string, d Duration) {
	if d.Std() < minAlertWindow || d.Std() > maxAlertWindow {
		v.add(field, "must be between 10s and 24h")
	}
}

func (v *validator) warmUp(field string, d Duration) {
	if d <= 0 || d.Std() > 90*24*time.Hour {
		v.add(field, "must be greater than 0 and at most 90d")
	}
}

func (v *validator) fraction(field string, f float64) {
	if !(f > 0) || f > 1 {
		v.add(field, "must be greater than 0 and at most 1")
	}
}

func (v *validator) atLeast(field string, n, least int) {
	if n < least {
		v.add(field, "must be at least %d", least)
	}
}

// sinkFields lists which optional fields each sink type uses; any other
// set is an error, so a setting that would do nothing is not silently kept.
var sinkFields = map[string][]string{
	"webhook": {"url", "secret", "allow_http", "ca_file"},
	"slack":   {"url", "ca_file"},
	"smtp":    {"host", "port", "from", "to", "username", "password", "ca_file"},
	"log":     {},
}

func (v *validator) alertSink(field, name string, s *AlertSink) {
	v.name(field, name)
	if s == nil {
		v.add(field+".type", "required: webhook, slack, smtp or log")
		return
	}
	uses, ok := sinkFields[s.Type]
	if !ok {
		v.add(field+".type", "must be webhook, slack, smtp or log, not %s", quote(s.Type))
		return
	}
	if name == "log" && s.Type != "log" {
		v.add(field+".type", "the name log is the built-in log sink's: give this sink another name")
	}
	set := map[string]bool{"url": s.URL != "", "secret": !s.Secret.IsZero(), "allow_http": s.AllowHTTP, "ca_file": s.CAFile != "",
		"host": s.Host != "", "port": s.Port != 0, "from": s.From != "", "to": s.To != nil,
		"username": !s.Username.IsZero(), "password": !s.Password.IsZero()}
	for _, f := range slices.Sorted(maps.Keys(set)) {
		if set[f] && !slices.Contains(uses, f) {
			v.add(field+"."+f, "not used with type %s", s.Type)
		}
	}
	switch s.Type {
	case "webhook":
		v.webhookSink(field, s)
	case "slack":
		v.slackSink(field, s)
	case "smtp":
		v.smtpSink(field, s)
	}
	v.severity(field+".min_severity", s.MinSeverity)
	known := AlertRuleNames()
	for i, r := range s.Rules {
		if !slices.Contains(known, r) {
			v.add(fmt.Sprintf("%s.rules[%d]", field, i), "unknown rule %s (known: %s)", quote(r), strings.Join(known, ", "))
		}
	}
	if s.Queue < 1 || s.Queue > maxAlertQueue {
		v.add(field+".queue", "must be between 1 and %d", maxAlertQueue)
	}
	if s.Timeout <= 0 || s.Timeout.Std() > 5*time.Minute {
		v.add(field+".timeout", "must be greater than 0 and at most 5m")
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > maxAlertAttempts {
		v.add(field+".max_attempts", "must be between 1 and %d", maxAlertAttempts)
	}
}

// webhookSink: the payload is signed, but a plaintext hop would still
// show every alert to the network, so http:// is for loopback receivers
// only, and said so twice (allow_http and a loopback host).
func (v *validator) webhookSink(field string, s *AlertSink) {
	switch _, err := secret.ParseRef(s.URL); {
	case s.URL == "":
		v.add(field+".url", "required: the receiver's https:// URL (or a secret reference holding it)")
	case err == nil:
		// A reference: checked when it is resolved.
	case !errors.Is(err, secret.ErrLiteral):
		v.add(field+".url", "%v", err)
	default:
		v.webhookURL(field, s)
	}
	if s.Secret.IsZero() {
		v.add(field+".secret", "required: a whsec_ signing secret reference such as env:ALERT_WEBHOOK_SECRET")
	}
}

func (v *validator) webhookURL(field string, s *AlertSink) {
	u, err := url.Parse(s.URL)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		v.add(field+".url", "must be an absolute https:// URL")
	case u.User != nil:
		v.add(field+".url", "must not carry credentials; put a URL that needs them in a secret reference")
	case u.RawQuery != "" || u.Fragment != "":
		v.add(field+".url", "must not carry a query or fragment (it often holds a token); put such a URL in a secret reference")
	case u.Scheme == "https":
		if s.AllowHTTP {
			v.add(field+".allow_http", "only for an http:// url")
		}
	case u.Scheme != "http":
		v.add(field+".url", "must be https://")
	case !s.AllowHTTP:
		v.add(field+".url", "must be https://; http:// needs allow_http: true and a loopback IP address (127.0.0.1 or [::1])")
	case !loopbackIP(u.Hostname()):
		v.add(field+".url", "http:// is allowed to a loopback IP address only (write 127.0.0.1 or [::1]), not %s", quote(u.Hostname()))
	}
}

// loopbackIP reports whether host is a literal loopback IP address
// (127.0.0.0/8, ::1). Unlike isLoopback (a listen address, which this
// process binds itself), a sink's host is dialled: a name, localhost
// included, goes wherever /etc/hosts and the resolver send it, and
// plaintext alerts with it. The webhook sink applies the same rule at
// start, so what validation accepts the sink accepts too.
func loopbackIP(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// slackSink: whoever holds an incoming-webhook URL can post to the
// channel, so the URL is a secret and never written in the file.
func (v *validator) slackSink(field string, s *AlertSink) {
	switch _, err := secret.ParseRef(s.URL); {
	case s.URL == "":
		v.add(field+".url", "required: a secret reference holding the incoming-webhook URL, such as env:SLACK_WEBHOOK_URL")
	case errors.Is(err, secret.ErrLiteral):
		v.add(field+".url", "must be a secret reference such as env:SLACK_WEBHOOK_URL: the incoming-webhook URL is a credential")
	case err != nil:
		v.add(field+".url", "%v", err)
	}
}

func (v *validator) smtpSink(field string, s *AlertSink) {
	if s.Host == "" || strings.ContainsAny(s.Host, " /:@\r\n") {
		v.add(field+".host", "required: the relay's host name")
	}
	if p := s.SMTPPort(); p < 1 || p > 65535 {
		v.add(field+".port", "must be a port from 1 to 65535 (465 is implicit TLS; on any other the relay must offer STARTTLS)")
	}
	if s.From == "" {
		v.add(field+".from", "required: the sender address")
	} else if _, err := mail.ParseAddress(s.From); err != nil || hasControl(s.From) {
		v.add(field+".from", "must be one email address")
	}
	if len(s.To) == 0 {
		v.add(field+".to", "at least one recipient is required")
	}
	for i, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil || hasControl(to) {
			v.add(fmt.Sprintf("%s.to[%d]", field, i), "must be one email address")
		}
	}
	if s.Username.IsZero() != s.Password.IsZero() {
		v.add(field+".password", "username and password go together: set both or neither")
	}
}
