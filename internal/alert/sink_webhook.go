package alert

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// WebhookOptions configure a WebhookSink.
type WebhookOptions struct {
	// URL is the receiver's URL; URLSecret, when set instead, reads it
	// from a secret (a URL that carries a token).
	URL       string
	URLSecret SecretFunc
	// Secret is the whsec_ signing secret (Standard Webhooks), read at
	// each delivery so a refreshed secret is used at once.
	Secret SecretFunc
	// AllowHTTP permits http:// to a loopback host.
	AllowHTTP bool
	RootCAs   *x509.CertPool // nil: the system roots
	Clock     clock.Clock
}

// WebhookSink POSTs each notification as JSON, signed the Standard
// Webhooks way: webhook-id (the notification id, for the receiver's
// deduplication), webhook-timestamp and webhook-signature. The body is
// {"type": "alert.<event>", "timestamp": …, "data": <Notification>}.
type WebhookSink struct {
	o WebhookOptions
	p *poster
}

// NewWebhookSink checks o. A literal URL is checked now; a URL read from
// a secret, and the signing secret, at each delivery (and by FromConfig
// at start).
func NewWebhookSink(o WebhookOptions) (*WebhookSink, error) {
	if o.Secret == nil {
		return nil, errors.New("webhook sink: a signing secret is required")
	}
	if o.URLSecret == nil {
		if _, err := checkURL(o.URL, o.AllowHTTP); err != nil {
			return nil, fmt.Errorf("webhook sink: %w", err)
		}
	}
	o.Clock = clock.Or(o.Clock)
	return &WebhookSink{o: o, p: newPoster(o.RootCAs)}, nil
}

// webhookPayload is the Standard Webhooks payload envelope.
type webhookPayload struct {
	Type      string       `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      Notification `json:"data"`
}

// Send delivers n.
func (s *WebhookSink) Send(ctx context.Context, n Notification) error {
	u, err := s.url()
	if err != nil {
		return err
	}
	v, ok := s.o.Secret()
	if !ok {
		return Permanent(errors.New("the signing secret is not available"))
	}
	key, err := webhooksig.ParseKey(v.Reveal())
	if err != nil {
		return Permanent(err) // ErrWeakSecret names no part of it
	}
	now := s.o.Clock.Now()
	body, err := json.Marshal(webhookPayload{Type: "alert." + string(n.Event), Timestamp: now.UTC(), Data: n})
	if err != nil {
		return Permanent(fmt.Errorf("encoding the notification: %w", err))
	}
	h, err := key.Sign(n.ID, now, body)
	if err != nil {
		return Permanent(err)
	}
	return s.p.post(ctx, u, body, h)
}

func (s *WebhookSink) url() (*url.URL, error) {
	raw := s.o.URL
	if s.o.URLSecret != nil {
		v, ok := s.o.URLSecret()
		if !ok {
			return nil, Permanent(errors.New("the URL secret is not available"))
		}
		raw = v.Reveal()
	}
	u, err := checkURL(raw, s.o.AllowHTTP)
	if err != nil {
		return nil, Permanent(err)
	}
	return u, nil
}

// Close drops idle connections.
func (s *WebhookSink) Close() { s.p.Close() }
