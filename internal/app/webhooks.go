package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/monitor"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// webhookMaxBody is the gateway's outer cap on a webhook body; each
// provider's webhooks.max_body_bytes applies inside it.
const webhookMaxBody = 16 << 20

// webhooks receives and processes providers' webhooks from the running
// config and secrets: verifiers are built once per config (a reload or a
// refreshed secret builds them again), events go to the job queue.
type webhooks struct {
	a     *App
	mu    sync.Mutex
	at    *live                        // the config the verifiers were built from
	v     map[string]webhooksig.Scheme // by provider
	meter *monitor.JobsMeter
}

func (a *App) webhookReceiver() gateway.Webhooks {
	if a.jobs == nil {
		return nil
	}
	return a.hooks
}

// buildVerifiers is every provider's verifier under l; an unusable secret
// is an error naming its field.
func buildVerifiers(l *live) (map[string]webhooksig.Scheme, error) {
	out := map[string]webhooksig.Scheme{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(l.cfg.Providers)) {
		p := l.cfg.Providers[name]
		if p == nil || p.Webhooks == nil {
			continue
		}
		w := p.Webhooks
		secrets := make([]string, 0, len(w.Secrets))
		for i := range w.Secrets {
			f := "providers." + name + ".webhooks.secrets[" + strconv.Itoa(i) + "]"
			e, ok := l.secrets.Entry(f)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: the secret is not resolved", f))
				continue
			}
			secrets = append(secrets, e.Value.Reveal())
		}
		s, err := webhooksig.NewScheme(w.Scheme, secrets, w.Tolerance.Std(), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("providers.%s.webhooks.secrets: %w", name, err))
			continue
		}
		out[name] = s
	}
	return out, errors.Join(errs...)
}

func verifiersOK(l *live) error {
	_, err := buildVerifiers(l)
	return err
}

func (h *webhooks) Verifier(provider string) (webhooksig.Scheme, int64, bool) {
	l := h.a.live.Load()
	p := l.cfg.Providers[provider]
	if p == nil || p.Webhooks == nil {
		return nil, 0, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at != l {
		v, err := buildVerifiers(l)
		if err != nil {
			// Checked at start and on reload; a failure here keeps the
			// verifiers that did build.
			h.a.log.Error("building webhook verifiers", "error", err.Error())
		}
		h.at, h.v = l, v
	}
	s, ok := h.v[provider]
	return s, int64(p.Webhooks.MaxBodyBytes), ok
}

func (h *webhooks) Observe(provider, outcome string) {
	if h.meter == nil {
		return
	}
	scheme := ""
	if p := h.a.live.Load().cfg.Providers[provider]; p != nil && p.Webhooks != nil {
		scheme = p.Webhooks.Scheme
	}
	h.meter.Webhook(provider, scheme, outcome)
}

func (h *webhooks) Receive(ctx context.Context, provider, id string, body []byte) (bool, error) {
	return h.a.jobs.ReceiveWebhook(ctx, provider, id, body)
}

// Process purges the indicator a provider's event names (webhooks.
// purge_pointer) from that provider's cache, and returns its subscribers.
func (h *webhooks) Process(ctx context.Context, provider string, body []byte) (int, []string, error) {
	l := h.a.live.Load()
	p := l.cfg.Providers[provider]
	if p == nil || p.Webhooks == nil {
		return 0, nil, nil // no longer configured: nothing to do
	}
	w := p.Webhooks
	purged := 0
	if w.PurgePointer != "" && h.a.cache != nil {
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return 0, nil, fmt.Errorf("event is not JSON: %w", err)
		}
		if ind, ok := pointer(doc, w.PurgePointer).(string); ok && ind != "" {
			scope, f := lookup.PurgeScopeFor(slices.Sorted(maps.Keys(l.cfg.Providers)), lookup.PurgeRequest{Provider: provider, Indicator: ind})
			if f != nil {
				return 0, w.Subscribers, nil // not an indicator: nothing cached under it
			}
			n, err := h.a.cache.Purge(ctx, scope, "webhook:"+provider, "webhook")
			if err != nil {
				return n, nil, fmt.Errorf("purging: %w", err)
			}
			purged = n
		}
	}
	return purged, w.Subscribers, nil
}

func (h *webhooks) EventTarget(client string) (string, callback.Policy, webhooksig.Key, bool) {
	l := h.a.live.Load()
	cl := l.cfg.Clients[client]
	if cl == nil || cl.Callbacks == nil || cl.Callbacks.EventsURL == "" {
		return "", callback.Policy{}, webhooksig.Key{}, false
	}
	key, err := callbackKey(l, client)
	if err != nil {
		return "", callback.Policy{}, webhooksig.Key{}, false
	}
	return cl.Callbacks.EventsURL, cl.Callbacks.Policy(), key, true
}

// pointer resolves a JSON Pointer (RFC 6901) in doc; nil when it names
// nothing.
func pointer(doc any, p string) any {
	if p == "" {
		return doc
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := doc.(type) {
		case map[string]any:
			doc = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			doc = v[i]
		default:
			return nil
		}
	}
	return doc
}
