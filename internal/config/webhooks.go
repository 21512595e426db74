package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// ProviderWebhooks is providers.X.webhooks: the provider's own webhooks,
// received at POST /v1/webhooks/X, verified, deduplicated and processed
// in the background.
type ProviderWebhooks struct {
	// Scheme is how the provider signs: standard (Standard Webhooks, v1
	// HMAC with whsec_ secrets and v1a ed25519 with whpk_ public keys),
	// github (X-Hub-Signature-256) or stripe (Stripe-Signature).
	Scheme string `yaml:"scheme"`
	// Secrets verify the signatures; several at once while the provider
	// rotates its secret.
	Secrets []secret.Ref `yaml:"secrets"`
	// Tolerance is how far a signed timestamp may be from now, either way
	// (default 5m; github signs none).
	Tolerance Duration `yaml:"tolerance"`
	// MaxBodyBytes caps a webhook's body (default 256KiB); larger is 413,
	// unread beyond the cap.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// PurgePointer is the JSON Pointer (RFC 6901) of the indicator an event
	// says changed (e.g. /data/indicator): its cached answers from this
	// provider are purged. Empty: events purge nothing.
	PurgePointer string `yaml:"purge_pointer"`
	// Subscribers are the clients each event is forwarded to, at their
	// callbacks.events_url, signed with their callbacks.secret.
	Subscribers []string `yaml:"subscribers"`
}

// Defaults of providers.*.webhooks.
const (
	DefaultWebhookTolerance    = Duration(webhooksig.DefaultTolerance)
	DefaultWebhookMaxBodyBytes = ByteSize(256 << 10)
	maxWebhookBodyBytes        = ByteSize(16 << 20)
)

func (w *ProviderWebhooks) setDefaults() {
	if w.Tolerance == 0 {
		w.Tolerance = DefaultWebhookTolerance
	}
	if w.MaxBodyBytes == 0 {
		w.MaxBodyBytes = DefaultWebhookMaxBodyBytes
	}
}

// webhooks checks providers.<name>.webhooks.
func (v *validator) webhooks(name string, w *ProviderWebhooks) {
	f := "providers." + name + ".webhooks"
	if !slices.Contains(webhooksig.SchemeNames(), w.Scheme) {
		v.add(f+".scheme", "must be one of %s, not %s", strings.Join(webhooksig.SchemeNames(), ", "), quote(w.Scheme))
	}
	if len(w.Secrets) == 0 {
		v.add(f+".secrets", "at least one secret is required (several while the provider rotates)")
	}
	for i, s := range w.Secrets {
		v.secretRef(fmt.Sprintf("%s.secrets[%d]", f, i), s)
	}
	if w.Tolerance < Duration(time.Second) || w.Tolerance > Duration(time.Hour) {
		v.add(f+".tolerance", "must be between 1s and 1h")
	} else if r := v.cfg.Retention.WebhookIDs; r > 0 && r < 2*w.Tolerance {
		// A replay signed within the tolerance must still find its id.
		v.add(f+".tolerance", "must be at most half of retention.webhook_ids (%s): a replay within the tolerance would no longer be recognised", r)
	}
	if w.MaxBodyBytes < 1<<10 || w.MaxBodyBytes > maxWebhookBodyBytes {
		v.add(f+".max_body_bytes", "must be between 1KiB and 16MiB")
	}
	if p := w.PurgePointer; p != "" && !strings.HasPrefix(p, "/") {
		v.add(f+".purge_pointer", "must be a JSON Pointer (RFC 6901) such as /data/indicator")
	}
	for i, c := range w.Subscribers {
		cf := fmt.Sprintf("%s.subscribers[%d]", f, i)
		cl, ok := v.cfg.Clients[c]
		switch {
		case !ok:
			v.add(cf, "undefined client %s (defined: %s)", quote(c), quotedList(slices.Sorted(maps.Keys(v.cfg.Clients))))
		case cl == nil || cl.Callbacks == nil || cl.Callbacks.EventsURL == "":
			v.add(cf, "client %s has no callbacks.events_url to forward events to", quote(c))
		case !slices.Contains(cl.Providers, name):
			v.add(cf, "client %s may not use provider %s (its providers)", quote(c), quote(name))
		}
	}
}

// webhookSecretFields are the providers' webhook secrets, for
// secretFields.
func (c *Config) webhookSecretFields() []secretField {
	var out []secretField
	for _, name := range slices.Sorted(maps.Keys(c.Providers)) {
		p := c.Providers[name]
		if p == nil || p.Webhooks == nil {
			continue
		}
		for i, r := range p.Webhooks.Secrets {
			out = append(out, secretField{field: fmt.Sprintf("providers.%s.webhooks.secrets[%d]", name, i), ref: r.WithBaseDir(c.BaseDir)})
		}
	}
	return out
}
