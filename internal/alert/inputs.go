package alert

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/observe"
)

// The classes of AuthFailed.
const (
	AuthNoToken          = "no_token"
	AuthUnknownToken     = "unknown_token"
	AuthSourceNotAllowed = "source_not_allowed"
)

// Observe hears the request path's events (observe.Observer): upstream
// calls (error ratio per provider; a 401/403 makes the key suspect),
// refused auth checks and revocations, restored keys, breaker changes
// and dropped audit records. Other events are ignored. It never blocks.
func (e *Engine) Observe(_ context.Context, ev observe.Event) {
	switch ev := ev.(type) {
	case observe.Attempted:
		e.attempted(ev)
	case observe.KeyChecked:
		if ev.Verdict == "refused" {
			e.keyRejected(ev.Provider, ev.KeyID, true, fmt.Sprintf("its auth check was refused (%s)", statusText(ev.UpstreamStatus)))
		}
	case observe.KeyRevoked:
		e.revoked.add(e.providerName(ev.Provider), e.keyName(ev.Provider, ev.KeyID), e.clock.Now())
		e.keyRejected(ev.Provider, ev.KeyID, true, "it is revoked: out of rotation on every replica until a re-check passes")
	case observe.KeyRestored:
		p, k := e.providerName(ev.Provider), e.keyName(ev.Provider, ev.KeyID)
		e.revoked.remove(p, k)
		e.clear(RuleKeyRejected, labels{{"provider", p}, {"key_id", k}}, e.clock.Now())
	case observe.BreakerChanged:
		e.breaker(ev)
	case observe.AuditDropped:
		if r := e.o.Rules.AuditDropped; r.Enabled && ev.Records > 0 {
			total := e.auditDropped.Add(int64(ev.Records))
			e.raise(signal{rule: RuleAuditDropped, severity: r.Severity, labels: labels{{"scope", "audit"}},
				summary: fmt.Sprintf("%d audit records dropped since the gateway started (the audit queue was full: the store is slow or down)", total)},
				e.clock.Now())
		}
	}
}

func (e *Engine) attempted(ev observe.Attempted) {
	if ev.NotSent {
		return
	}
	now := e.clock.Now()
	if e.o.Rules.UpstreamErrors.Enabled {
		e.up.add(e.providerName(ev.Provider), ev.Kind != "" && ev.Kind != "not_found", now)
	}
	if ev.UpstreamStatus == 401 || ev.UpstreamStatus == 403 || ev.Kind == "auth" {
		e.keyRejected(ev.Provider, ev.KeyID, false, fmt.Sprintf("a lookup was answered %s", statusText(ev.UpstreamStatus)))
	}
}

func statusText(s int) string {
	if s == 0 {
		return "without an HTTP status"
	}
	return fmt.Sprintf("HTTP %d", s)
}

// keyRejected raises key_rejected: suspect (a lookup's 401/403, which a
// client's choice of indicator can cause) or confirmed (the fixed check).
func (e *Engine) keyRejected(provider, keyID string, confirmed bool, why string) {
	r := e.o.Rules.KeyRejected
	if !r.Enabled {
		return
	}
	sev := r.SuspectSeverity
	if confirmed {
		sev = r.Severity
	}
	p, k := e.providerName(provider), e.keyName(provider, keyID)
	e.raise(signal{rule: RuleKeyRejected, severity: sev, labels: labels{{"provider", p}, {"key_id", k}},
		summary: fmt.Sprintf("provider %s rejected key %s: %s", p, k, why)}, e.clock.Now())
}

func (e *Engine) breaker(ev observe.BreakerChanged) {
	r := e.o.Rules.BreakerOpen
	if !r.Enabled {
		return
	}
	p := e.providerName(ev.Provider)
	l := labels{{"provider", p}}
	now := e.clock.Now()
	switch ev.To {
	case "open":
		e.breakers.add(p, "", now)
		e.raise(signal{rule: RuleBreakerOpen, severity: r.Severity, labels: l,
			summary: fmt.Sprintf("provider %s: circuit breaker open; lookups fail fast until a probe succeeds", p)}, now)
	case "closed":
		// Resolved once it has stayed closed for its cooldown (Evaluate),
		// counted from now: the last moment it was open.
		e.breakers.remove(p, "")
		e.touch(func(a *Alert) bool { return a.Rule == RuleBreakerOpen && a.Labels["provider"] == p }, now)
	}
}

// AuthFailed hears one refused authentication from source: class is
// no_token, unknown_token or source_not_allowed; client is the token's
// client for source_not_allowed (a valid token presented from outside
// the client's source_cidrs), "" otherwise. It never blocks.
func (e *Engine) AuthFailed(source netip.Addr, class, client string) {
	now := e.clock.Now()
	if u := e.o.Rules.UnexpectedSource; u.Enabled && class == AuthSourceNotAllowed {
		if cs := (*e.clients.Load())[client]; cs != nil {
			n := network(source, u.IPv4Prefix, u.IPv6Prefix)
			e.raise(signal{rule: RuleUnexpectedSource, severity: u.Severity,
				labels: labels{{"client", cs.name}, {"source", prefixLabel(n)}},
				summary: fmt.Sprintf("client %s's token was presented from %s, outside its source_cidrs",
					cs.name, addrLabel(source))}, now)
		}
	}
	r := e.o.Rules.AuthFailures
	if !r.Enabled {
		return
	}
	src := sourceKey(source)
	out := e.auth.fail(src, now)
	if out.source {
		e.raise(signal{rule: RuleAuthFailures, severity: r.Severity, labels: labels{{"scope", "source"}, {"source", sourceLabel(src)}},
			summary: fmt.Sprintf("%d authentication failures from %s within %s", out.sourceCount, sourceLabel(src),
				fmtDuration(r.Window))}, now)
	}
	if out.overall {
		e.raise(signal{rule: RuleAuthFailures, severity: r.Severity, labels: labels{{"scope", "overall"}},
			summary: fmt.Sprintf("%d authentication failures within %s, from about %d sources", out.overallCount,
				fmtDuration(r.Window), out.sources)}, now)
	}
}

// Request learns from one admitted lookup of client from source:
// indicatorDigest is a keyed hash of the normalised indicator (the engine
// never sees the indicator), indicatorType its type, providers those it
// goes to. It feeds client_volume, query_pattern and, for clients
// without source_cidrs, unexpected_source. It never blocks.
func (e *Engine) Request(client string, source netip.Addr, indicatorDigest uint64, indicatorType string, providers []string) {
	cs := (*e.clients.Load())[client]
	if cs == nil {
		return
	}
	now := e.clock.Now()
	ps := make([]string, 0, len(providers))
	for _, p := range providers {
		ps = append(ps, e.providerName(p))
	}
	var buf [4]signal
	for _, s := range cs.request(&e.o.Rules, now, source, indicatorDigest, typeName(indicatorType), ps, buf[:0]) {
		e.raise(s, now)
	}
}

// SecretFailed hears that the secret of field (its config path, such as
// providers.socialeye.keys[0].secret) could not be read from ref's
// source; its last good value is in use. err is not kept: a source's
// error may quote more than an alert should show. It never blocks.
func (e *Engine) SecretFailed(field, ref string, err error) {
	r := e.o.Rules.SecretSource
	if !r.Enabled {
		return
	}
	f, scheme := e.fieldName(field), schemeName(ref)
	now := e.clock.Now()
	e.secrets.add(f, "", now)
	e.raise(signal{rule: RuleSecretSource, severity: r.Severity, labels: labels{{"field", f}, {"scheme", scheme}},
		summary: fmt.Sprintf("the secret of %s could not be read from its %s source; the last good value is in use", f, scheme)},
		now)
}

// SecretRecovered hears that field's secret was read again. Its
// secret_source alert does not resolve at once: Evaluate resolves it once
// the field has stayed readable for the rule's cooldown, so a source that
// flaps (a Vault token whose renewal fails, logs in again and fails
// again) is one alert and one notification, not one per cycle.
func (e *Engine) SecretRecovered(field string) {
	f := e.fieldName(field)
	e.secrets.remove(f, "")
	e.touch(func(a *Alert) bool { return a.Rule == RuleSecretSource && a.Labels["field"] == f }, e.clock.Now())
}

// Label values are names the config defines or fixed vocabularies;
// anything else becomes "unknown", so a caller's mistake cannot put an
// indicator or a token into an alert.

// names are the configured providers and their key ids (nil: any plain
// name).
type names struct {
	providers map[string]bool
	keys      map[string]bool // provider NUL key id
}

// SetProviders replaces the configured provider names and each one's
// key ids (a reload); nil accepts any plain name.
func (e *Engine) SetProviders(providers []string, keys map[string][]string) {
	n := &names{}
	if providers != nil {
		n.providers = map[string]bool{}
		for _, p := range providers {
			n.providers[p] = true
		}
	}
	if keys != nil {
		n.keys = map[string]bool{}
		for p, ids := range keys {
			for _, k := range ids {
				n.keys[p+"\x00"+k] = true
			}
		}
	}
	e.names.Store(n)
}

func (e *Engine) providerName(p string) string {
	if n := e.names.Load(); n.providers != nil {
		if n.providers[p] {
			return p
		}
		return "unknown"
	}
	return plainName(p)
}

func (e *Engine) keyName(provider, k string) string {
	if n := e.names.Load(); n.keys != nil {
		if n.keys[provider+"\x00"+k] {
			return k
		}
		return "unknown"
	}
	return plainName(k)
}

func plainName(s string) string {
	if config.ValidName(s) {
		return s
	}
	return "unknown"
}

var indicatorTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range indicator.Types() {
		m[string(t)] = true
	}
	return m
}()

func typeName(t string) string {
	if t == "" || indicatorTypes[t] {
		return t
	}
	return "other"
}

// secretFieldShapes are the config paths a secret reference can have;
// submatches 1 and 2, where present, are a provider and key id or a sink
// name, which must be configured ones.
var secretFieldShapes = []*regexp.Regexp{
	regexp.MustCompile(`^providers\.([A-Za-z0-9_-]{1,64})\.keys\[[0-9]{1,4}\]\.secret$`),
	regexp.MustCompile(`^providers\.([A-Za-z0-9_-]{1,64})\.keys#([A-Za-z0-9_-]{1,64})$`),
	regexp.MustCompile(`^alerts\.sinks\.([A-Za-z0-9_-]{1,64})\.(?:url|secret|username|password)$`),
	regexp.MustCompile(`^(?:encryption\.keys\[[0-9]{1,4}\]\.secret|shared\.url|storage\.dsn|secrets\.vault\.auth(?:\.(?:token|role_id|secret_id))?)$`),
}

// fieldName is f when it is the path of a configured secret reference.
func (e *Engine) fieldName(f string) string {
	for i, re := range secretFieldShapes {
		m := re.FindStringSubmatch(f)
		switch {
		case m == nil:
			continue
		case i == 0 && e.providerName(m[1]) == "unknown",
			i == 1 && e.keyName(m[1], m[2]) == "unknown",
			i == 2 && !e.sinkNames[m[1]]:
			return "unknown"
		}
		return f
	}
	return "unknown"
}

func schemeName(ref string) string {
	s, _, _ := strings.Cut(ref, ":")
	switch s {
	case "env", "file", "vault", "awssm":
		return s
	}
	return "unknown"
}

func addrLabel(a netip.Addr) string {
	if !a.IsValid() {
		return "an unknown address"
	}
	return a.Unmap().WithZone("").String()
}

func prefixLabel(p netip.Prefix) string {
	if !p.IsValid() {
		return "unknown"
	}
	return p.String()
}

// keySet is a set of configured names the engine holds a state for: the
// revoked keys (a revoked key's key_rejected alert does not resolve by
// going quiet, since nothing is sent with it, only when the key is
// restored), the open breakers and the failing secret fields. Each entry
// keeps when it was last added, so a poll that began before a revocation
// was heard cannot lift it. Bounded by the config, and by 4096 entries
// whatever a caller passes.
type keySet struct {
	mu sync.Mutex
	m  map[[2]string]time.Time
}

func (s *keySet) add(p, k string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[2]string]time.Time{}
	}
	if _, ok := s.m[[2]string{p, k}]; ok || len(s.m) < 4096 {
		s.m[[2]string{p, k}] = at
	}
}

func (s *keySet) remove(p, k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, [2]string{p, k})
}

// removeBefore removes the entry if it was added before t, and reports
// whether it did.
func (s *keySet) removeBefore(p, k string, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.m[[2]string{p, k}]
	if !ok || !at.Before(t) {
		return false
	}
	delete(s.m, [2]string{p, k})
	return true
}

func (s *keySet) has(p, k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[[2]string{p, k}]
	return ok
}
