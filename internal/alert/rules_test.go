package alert_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/observe"
)

func attempt(h *harness, provider, key string, status int, kind string) {
	h.e.Observe(context.Background(), observe.Attempted{Provider: provider, KeyID: key, Attempt: 1, UpstreamStatus: status, Kind: kind})
}

// requests sends n admitted lookups of client from src, indicator
// digests first, first+1, …
func requests(h *harness, client string, src netip.Addr, n int, first uint64, typ string, providers ...string) {
	if providers == nil {
		providers = []string{"socialeye"}
	}
	for i := range n {
		h.e.Request(client, src, first+uint64(i), typ, providers)
	}
}

// windows sends perWindow requests of client in each of n volume windows.
func windows(h *harness, client string, n, perWindow int) {
	for range n {
		requests(h, client, addr("10.0.0.5"), perWindow, 1, "ipv4")
		h.clock.Advance(5 * time.Minute)
	}
}

type quotaStub struct{ used int64 }

func (q *quotaStub) QuotaUsage(context.Context) ([]alert.QuotaUsage, error) {
	return []alert.QuotaUsage{
		{Provider: "socialeye", KeyID: "prod-1", Period: "day", Used: q.used, Limit: 1000},
		{Provider: "socialeye", KeyID: "prod-1", Period: "month", Used: q.used, Limit: 100000},
	}, nil
}

type ageStub struct{ changed time.Time }

func (a *ageStub) KeyAges(context.Context) ([]alert.KeyAge, error) {
	return []alert.KeyAge{{Provider: "vt", KeyID: "k1", ChangedAt: a.changed, Source: "vault"}}, nil
}

// ruleCase is one rule's script: normal traffic that must not fire, the
// scenario that must, and (for rules whose condition can clear) what
// clears it.
type ruleCase struct {
	rule     string
	opts     []option
	quiet    func(h *harness)
	fire     func(h *harness)
	severity alert.Severity
	labels   string
	clear    func(h *harness)
}

func ruleCases() map[string]ruleCase {
	q, age, dl := &quotaStub{}, &ageStub{}, &deadStub{}
	return map[string]ruleCase{
		"upstream error ratio": {rule: alert.RuleUpstreamErrors,
			quiet: func(h *harness) {
				for i := range 100 {
					kind := ""
					if i%20 == 0 {
						kind = "upstream" // 5%
					}
					attempt(h, "socialeye", "prod-1", 200, kind)
				}
				attempt(h, "vt", "k1", 0, "timeout") // one failure of few calls: under min_requests
			},
			fire: func(h *harness) {
				h.clock.Advance(6 * time.Minute) // the quiet calls leave the window
				for i := range 30 {
					kind := ""
					if i%3 == 0 {
						kind = "timeout" // 33%
					}
					attempt(h, "socialeye", "prod-1", 0, kind)
				}
			},
			severity: alert.Warning, labels: "provider=socialeye",
			clear: func(h *harness) {
				h.clock.Advance(6 * time.Minute)
				for range 30 {
					attempt(h, "socialeye", "prod-1", 200, "")
				}
			}},
		"client volume over its baseline": {rule: alert.RuleClientVolume,
			quiet: func(h *harness) {
				windows(h, "soar", 14, 100)    // 70m of steady traffic: warm
				h.clock.Advance(8 * time.Hour) // a night without requests does not lower the baseline
				windows(h, "soar", 2, 120)
			},
			fire:     func(h *harness) { requests(h, "soar", addr("10.0.0.5"), 350, 1, "ipv4") }, // > 3× ~100
			severity: alert.Warning, labels: "client=soar"},
		"client volume over the ceiling during warm-up": {rule: alert.RuleClientVolume,
			opts: []option{withRules(func(r *alert.Rules) {
				r.ClientVolume.Ceiling = 500
				r.QueryPattern.MaxDistinct = 100000 // every request here is a new indicator
			})},
			quiet:    func(h *harness) { requests(h, "soar", addr("10.0.0.5"), 500, 1, "ipv4") },
			fire:     func(h *harness) { requests(h, "soar", addr("10.0.0.5"), 1, 1, "ipv4") },
			severity: alert.Warning, labels: "client=soar"},
		"distinct indicators (enumeration)": {rule: alert.RuleQueryPattern,
			quiet: func(h *harness) {
				for range 40 {
					requests(h, "siem", addr("10.0.0.5"), 50, 1, "ipv4") // 2000 lookups of 50 indicators
				}
			},
			fire:     func(h *harness) { requests(h, "siem", addr("10.0.0.5"), 700, 1000, "ipv4") },
			severity: alert.Warning, labels: "client=siem"},
		"first use of an indicator type": {rule: alert.RuleQueryPattern,
			quiet: func(h *harness) {
				requests(h, "siem", addr("10.0.0.5"), 5, 1, "ipv4")
				requests(h, "siem", addr("10.0.0.5"), 5, 1, "domain")
				h.clock.Advance(25 * time.Hour)
				requests(h, "siem", addr("10.0.0.5"), 5, 1, "domain")
			},
			fire:     func(h *harness) { requests(h, "siem", addr("10.0.0.5"), 1, 1, "sha256") },
			severity: alert.Info, labels: "client=siem type=sha256"},
		"first use of a provider": {rule: alert.RuleQueryPattern,
			quiet: func(h *harness) {
				requests(h, "siem", addr("10.0.0.5"), 5, 1, "ipv4", "socialeye")
				h.clock.Advance(25 * time.Hour)
				requests(h, "siem", addr("10.0.0.5"), 5, 1, "ipv4", "socialeye")
			},
			fire:     func(h *harness) { requests(h, "siem", addr("10.0.0.5"), 1, 1, "ipv4", "socialeye", "vt") },
			severity: alert.Info, labels: "client=siem provider=vt"},
		"token used outside the client's source_cidrs": {rule: alert.RuleUnexpectedSource,
			quiet: func(h *harness) {
				requests(h, "siem", addr("10.0.0.5"), 10, 1, "ipv4")
				h.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "no-such-client")
				h.e.AuthFailed(addr("203.0.113.9"), alert.AuthUnknownToken, "")
			},
			fire:     func(h *harness) { h.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "siem") },
			severity: alert.Critical, labels: "client=siem source=203.0.113.0/24"},
		"new network for a client without source_cidrs": {rule: alert.RuleUnexpectedSource,
			quiet: func(h *harness) {
				requests(h, "soar", addr("10.0.0.5"), 5, 1, "ipv4")
				requests(h, "soar", addr("192.0.2.1"), 5, 1, "ipv4") // learnt during warm-up
				h.clock.Advance(25 * time.Hour)
				requests(h, "soar", addr("10.0.0.77"), 5, 1, "ipv4")    // same /24
				requests(h, "siem", addr("198.51.100.7"), 5, 1, "ipv4") // siem has source_cidrs
			},
			fire:     func(h *harness) { requests(h, "soar", addr("198.51.100.7"), 1, 1, "ipv4") },
			severity: alert.Warning, labels: "client=soar source=198.51.100.0/24"},
		"auth failure burst from one source": {rule: alert.RuleAuthFailures,
			quiet: func(h *harness) {
				for i := range 10 {
					for range 5 {
						h.e.AuthFailed(ipv4(i), alert.AuthUnknownToken, "")
					}
				}
				for range config.DefaultAuthFailuresPerSource - 1 {
					h.e.AuthFailed(addr("192.0.2.1"), alert.AuthNoToken, "")
				}
			},
			fire:     func(h *harness) { h.e.AuthFailed(addr("192.0.2.1"), alert.AuthNoToken, "") },
			severity: alert.Warning, labels: "scope=source source=192.0.2.1"},
		"auth failures over all sources": {rule: alert.RuleAuthFailures,
			quiet: func(h *harness) {
				for i := range 199 {
					h.e.AuthFailed(ipv4(i), alert.AuthUnknownToken, "")
				}
			},
			fire:     func(h *harness) { h.e.AuthFailed(addr("2001:db8::1"), alert.AuthUnknownToken, "") },
			severity: alert.Warning, labels: "scope=overall"},
		"key rejected by a lookup": {rule: alert.RuleKeyRejected,
			quiet: func(h *harness) {
				attempt(h, "socialeye", "prod-1", 200, "")
				attempt(h, "socialeye", "prod-1", 404, "")
				attempt(h, "socialeye", "prod-1", 429, "rate_limited")
				h.e.Observe(context.Background(), observe.KeyChecked{Provider: "socialeye", KeyID: "prod-1", Verdict: "passed"})
			},
			fire:     func(h *harness) { attempt(h, "socialeye", "prod-1", 401, "auth") },
			severity: alert.Warning, labels: "key_id=prod-1 provider=socialeye"},
		"key revoked": {rule: alert.RuleKeyRejected,
			quiet: func(h *harness) {
				h.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
			},
			fire: func(h *harness) {
				h.e.Observe(context.Background(), observe.KeyRevoked{Provider: "socialeye", KeyID: "prod-1"})
			},
			severity: alert.Critical, labels: "key_id=prod-1 provider=socialeye",
			clear: func(h *harness) {
				h.clock.Advance(time.Hour) // quiet, but revoked: stays
				h.evaluate()
				require.Len(h.t, h.live(alert.RuleKeyRejected), 1)
				h.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
			}},
		"key age": {rule: alert.RuleKeyAge,
			opts:     []option{func(o *alert.Options) { o.KeyAges = age }},
			quiet:    func(h *harness) { age.changed = t0.Add(-70 * 24 * time.Hour) },
			fire:     func(h *harness) { age.changed = t0.Add(-80 * 24 * time.Hour) }, // within warn_before (14d) of 90d
			severity: alert.Info, labels: "key_id=k1 provider=vt",
			clear: func(h *harness) { age.changed = h.clock.Now() }},
		"quota": {rule: alert.RuleQuota,
			opts:     []option{func(o *alert.Options) { o.Quotas = q }},
			quiet:    func(h *harness) { q.used = 700 },
			fire:     func(h *harness) { q.used = 960 },
			severity: alert.Critical, labels: "key_id=prod-1 period=day provider=socialeye",
			clear: func(h *harness) { q.used = 0 }},
		"dead letters": {rule: alert.RuleDeadLetters,
			opts: []option{withDead(dl)},
			quiet: func(h *harness) {
				dl.set(40)
				h.evaluate() // the baseline: dead before the engine started, not news
				h.clock.Advance(time.Minute)
				dl.set(30) // retried
			},
			fire:     func(h *harness) { h.clock.Advance(time.Minute); dl.set(31) },
			severity: alert.Warning, labels: "",
			clear: func(h *harness) { dl.set(0) }}, // emptied
		"breaker open": {rule: alert.RuleBreakerOpen,
			quiet: func(h *harness) {
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "open", To: "half-open"})
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "half-open", To: "closed"})
			},
			fire: func(h *harness) {
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "closed", To: "open"})
			},
			severity: alert.Warning, labels: "provider=vt",
			clear: func(h *harness) {
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "open", To: "half-open"})
				h.evaluate()
				require.Len(h.t, h.live(alert.RuleBreakerOpen), 1, "half-open is not closed")
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "half-open", To: "closed"})
				h.evaluate()
				require.Len(h.t, h.live(alert.RuleBreakerOpen), 1, "closed, but not yet for its cooldown: a flapping breaker is one alert")
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "closed", To: "open"})
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "open", To: "closed"})
				h.evaluate()
				require.Len(h.t, h.live(alert.RuleBreakerOpen), 1)
				require.Equal(h.t, 1, h.meter.get(func(m *meter) int { return m.fired[alert.RuleBreakerOpen+"/"+string(alert.Warning)] }),
					"re-opening within the cooldown notifies nobody again")
				h.clock.Advance(16 * time.Minute) // the default cooldown, closed all along
			}},
		"audit records dropped": {rule: alert.RuleAuditDropped,
			quiet:    func(h *harness) { h.e.Observe(context.Background(), observe.AuditWritten{Records: 10}) },
			fire:     func(h *harness) { h.e.Observe(context.Background(), observe.AuditDropped{Records: 3}) },
			severity: alert.Critical, labels: "scope=audit",
			clear: func(h *harness) { h.clock.Advance(16 * time.Minute) }}, // quiet for the cooldown
		"secret source failing": {rule: alert.RuleSecretSource,
			quiet: func(h *harness) { h.e.SecretRecovered("providers.vt.keys[0].secret") },
			fire: func(h *harness) {
				h.e.SecretFailed("providers.vt.keys[0].secret", "vault:kv/intelgate#vt", fmt.Errorf("403"))
			},
			severity: alert.Warning, labels: "field=providers.vt.keys[0].secret scheme=vault",
			clear: func(h *harness) {
				const field = "providers.vt.keys[0].secret"
				h.e.SecretRecovered(field)
				h.evaluate()
				require.Len(h.t, h.live(alert.RuleSecretSource), 1, "read again, but not yet for its cooldown: a flapping source is one alert")
				h.e.SecretFailed(field, "vault:kv/intelgate#vt", fmt.Errorf("403"))
				h.clock.Advance(time.Minute)
				h.e.SecretRecovered(field)
				h.evaluate()
				require.Len(h.t, h.live(alert.RuleSecretSource), 1)
				require.Equal(h.t, 1, h.meter.get(func(m *meter) int { return m.fired[alert.RuleSecretSource+"/"+string(alert.Warning)] }),
					"failing again within the cooldown notifies nobody again")
				h.clock.Advance(16 * time.Minute) // the default cooldown, readable all along
			}},
	}
}

// A Vault token that flaps — its renewal fails, it logs in again, the
// renewal fails again — is one secret_source alert and one notification
// while it flaps within the cooldown; a failure reported while the field
// is failing keeps it open however long ago it was reported (a reminder
// after the cooldown, as for any alert); once the field has read again
// and nothing failed for the cooldown, the alert resolves.
func TestSecretSourceFlapIsOneAlert(t *testing.T) {
	t.Parallel()
	const field = "secrets.vault.auth" // what internal/app reports for Vault logins and renewals
	rec := newRecorder()
	h := newHarness(t, withSink(rec))
	runEngine(t, h.e)
	for range 5 { // RenewFailed, then LoggedIn, a minute apart
		h.e.SecretFailed(field, "vault:", fmt.Errorf("permission denied"))
		h.clock.Advance(time.Minute)
		h.evaluate()
		h.e.SecretRecovered(field)
		h.clock.Advance(time.Minute)
		h.evaluate()
	}
	n := rec.next(t)
	require.Equal(t, alert.EventFired, n.Event)
	live := h.live(alert.RuleSecretSource)
	require.Len(t, live, 1, "one alert for the whole flap")
	require.Equal(t, int64(5), live[0].Count)
	require.Equal(t, n.Alert.ID, live[0].ID)

	// Failing for longer than the cooldown without a new report: still
	// failing, still open.
	h.e.SecretFailed(field, "vault:", fmt.Errorf("permission denied"))
	h.clock.Advance(time.Hour)
	h.evaluate()
	require.Len(t, h.live(alert.RuleSecretSource), 1, "a field still failing does not resolve by going quiet")

	h.e.SecretFailed(field, "vault:", fmt.Errorf("permission denied")) // the last failed renewal
	require.Equal(t, alert.EventRepeated, rec.next(t).Event, "a reminder, a cooldown after the notification")
	h.e.SecretRecovered(field)
	h.clock.Advance(14 * time.Minute)
	h.evaluate()
	require.Len(t, h.live(alert.RuleSecretSource), 1, "readable, not yet for the cooldown")
	h.clock.Advance(2 * time.Minute)
	h.evaluate()
	require.Empty(t, h.live(alert.RuleSecretSource))
	n = rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event)
	require.Equal(t, live[0].ID, n.Alert.ID)
	require.Len(t, rec.all(), 3, "fired, one reminder and resolved: nothing for the flap")
}

// Each rule stays quiet on normal traffic, fires on its scenario with
// the documented severity and labels, and (where it can) resolves when
// its condition clears.
func TestRules(t *testing.T) {
	t.Parallel()
	for name, tc := range ruleCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.opts...)
			tc.quiet(h)
			h.evaluate()
			require.Empty(t, h.e.Live(), "normal traffic fired")

			tc.fire(h)
			h.evaluate()
			got := h.live(tc.rule)
			require.Len(t, got, 1, "%v", h.e.Live())
			require.Equal(t, tc.severity, got[0].Severity)
			require.Equal(t, tc.labels, labelsOf(got[0]))
			require.Equal(t, alert.StateOpen, got[0].State)
			require.NotEmpty(t, got[0].Summary)
			require.Len(t, h.e.Live(), 1, "only this rule fired")
			require.Equal(t, 1, h.meter.get(func(m *meter) int { return m.fired[tc.rule+"/"+string(tc.severity)] }))

			if tc.clear != nil {
				tc.clear(h)
				h.evaluate()
				require.Empty(t, h.live(tc.rule), "the condition cleared")
			}
		})
	}
}

// A rule that is off hears nothing.
func TestDisabledRulesStayQuiet(t *testing.T) {
	t.Parallel()
	for name, tc := range ruleCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := append(tc.opts, withRules(func(r *alert.Rules) {
				for _, b := range []*alert.Base{&r.UpstreamErrors.Base, &r.ClientVolume.Base, &r.QueryPattern.Base,
					&r.UnexpectedSource.Base, &r.AuthFailures.Base, &r.KeyRejected.Base, &r.KeyAge.Base, &r.Quota.Base,
					&r.BreakerOpen, &r.AuditDropped, &r.SecretSource, &r.DeadLetters.Base} {
					b.Enabled = false
				}
			}))
			h := newHarness(t, opts...)
			tc.quiet(h)
			tc.fire(h)
			h.evaluate()
			require.Empty(t, h.e.Live())
		})
	}
}

// Quota escalates from 80% to 95% on the same alert; key age from its
// warning to past the period.
func TestPolledRulesEscalate(t *testing.T) {
	t.Parallel()
	q, age := &quotaStub{used: 850}, &ageStub{changed: t0.Add(-80 * 24 * time.Hour)}
	h := newHarness(t, func(o *alert.Options) { o.Quotas, o.KeyAges = q, age })
	h.evaluate()
	require.Equal(t, alert.Warning, h.live(alert.RuleQuota)[0].Severity)
	require.Equal(t, alert.Info, h.live(alert.RuleKeyAge)[0].Severity)
	first := h.live(alert.RuleQuota)[0].ID

	q.used, age.changed = 990, t0.Add(-91*24*time.Hour)
	h.clock.Advance(time.Minute)
	h.evaluate()
	qa := h.live(alert.RuleQuota)
	require.Len(t, qa, 1)
	require.Equal(t, first, qa[0].ID, "the same alert, escalated")
	require.Equal(t, alert.Critical, qa[0].Severity)
	require.Equal(t, int64(2), qa[0].Count)
	require.Equal(t, alert.Warning, h.live(alert.RuleKeyAge)[0].Severity)
	require.Contains(t, h.live(alert.RuleKeyAge)[0].Summary, "is past the rotation period of 90 days")
}

// A failed poll keeps what the rule had: an outage of the quota state is
// not an all-clear.
func TestFailedPollKeepsAlerts(t *testing.T) {
	t.Parallel()
	fail := false
	src := alert.QuotaFunc(func(context.Context) ([]alert.QuotaUsage, error) {
		if fail {
			return nil, fmt.Errorf("shared state unreachable")
		}
		return []alert.QuotaUsage{{Provider: "socialeye", KeyID: "prod-1", Period: "month", Used: 99, Limit: 100}}, nil
	})
	h := newHarness(t, func(o *alert.Options) { o.Quotas = src })
	h.evaluate()
	require.Len(t, h.live(alert.RuleQuota), 1)
	fail = true
	h.evaluate()
	require.Len(t, h.live(alert.RuleQuota), 1)
	require.Contains(t, h.logs.String(), "reading quota usage failed")
}
