package alert_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/observe"
)

// planted are values that must never reach an alert, a notification, a
// log line or a meter label, whatever a caller passes where a name
// belongs: a gateway token, an upstream key, a secret and an indicator.
var planted = []string{
	"igt_7f3a9c0b1d2e4f5a6b7c8d9e", // a gateway token
	"sk_live_4f9a8b7c6d5e4f3a2b1c", // an upstream key
	"s3cr3t-vault-value",           // a secret a source's error quoted
	"evil-c2.example.net",          // an indicator
	"kv/data/intelgate",            // a secret reference's path
}

// spellings are the encodings a secret could travel in.
func spellings(s string) []string {
	return []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s)),
		strings.Trim(mustJSON(s), `"`)}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNoSecretsInAlertsLogsOrMeter(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, withSink(rec), withStore(backends["sqlite"](t)), func(o *alert.Options) {
		o.Quotas = alert.QuotaFunc(func(context.Context) ([]alert.QuotaUsage, error) {
			return []alert.QuotaUsage{{Provider: planted[1], KeyID: planted[1], Period: "day", Used: 99, Limit: 100}}, nil
		})
		o.KeyAges = alert.KeyAgeFunc(func(context.Context) ([]alert.KeyAge, error) {
			return []alert.KeyAge{{Provider: "vt", KeyID: planted[1], ChangedAt: t0.Add(-100 * 24 * time.Hour), Source: planted[2]}}, nil
		})
	})
	runEngine(t, h.e)
	ctx := context.Background()
	// A key (or a token) passed where a provider or key id belongs.
	for _, v := range planted {
		h.e.Observe(ctx, observe.Attempted{Provider: "socialeye", KeyID: v, UpstreamStatus: 401, Kind: "auth"})
		h.e.Observe(ctx, observe.KeyRevoked{Provider: v, KeyID: "prod-1"})
		h.e.Observe(ctx, observe.BreakerChanged{Provider: v, From: "closed", To: "open"})
		h.e.AuthFailed(addr("203.0.113.7"), alert.AuthSourceNotAllowed, v) // not a client: ignored
		h.e.Request(v, addr("198.51.100.1"), 1, "ipv4", nil)
	}
	// An indicator passed where its type belongs, a token as a provider,
	// after the warm-up: first uses.
	h.e.Request("siem", addr("10.0.0.1"), 8, "ipv4", []string{"socialeye"})
	h.clock.Advance(25 * time.Hour)
	h.e.Request("siem", addr("10.0.0.1"), 7, planted[3], []string{planted[0]})
	// A secret source whose error quotes the value, with a reference path.
	h.e.SecretFailed("providers.vt.keys[0].secret", "vault:"+planted[4]+"#vt", errors.New("permission denied reading "+planted[2]))
	h.e.SecretFailed("providers."+planted[0]+".keys[0].secret", "awssm:"+planted[2]+"#x", errors.New(planted[2]))
	h.evaluate()

	require.NotEmpty(t, h.e.Live())
	var everything strings.Builder
	page, err := h.e.List(ctx, alert.Filter{Limit: alert.MaxPageSize})
	require.NoError(t, err)
	require.NotEmpty(t, page.Alerts)
	everything.WriteString(mustJSON(page))
	everything.WriteString(mustJSON(h.e.Live()))
	waitFor(t, func() bool { return len(rec.all()) >= len(page.Alerts) })
	everything.WriteString(mustJSON(rec.all()))
	everything.WriteString(h.logs.String())
	h.meter.mu.Lock()
	everything.WriteString(strings.Join(h.meter.labels, " "))
	h.meter.mu.Unlock()
	for _, v := range planted {
		for _, s := range spellings(v) {
			require.NotContains(t, everything.String(), s)
		}
	}
	// What the labels do say.
	require.Contains(t, everything.String(), `"provider":"unknown"`)
	require.Contains(t, everything.String(), `"type":"other"`)
	require.Contains(t, everything.String(), `"field":"providers.vt.keys[0].secret"`)
	require.Contains(t, everything.String(), `"scheme":"vault"`)
}
