package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/intelgate/intelgate/internal/tlspolicy"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// emitTimeout bounds one delivery, connection to answer: the Standard
// Webhooks recommendation for a receiver is 15 to 30 s.
const emitTimeout = 15 * time.Second

// maxReceiverBody is how much of a receiver's answer is read (and
// discarded) before the connection is closed.
const maxReceiverBody = 64 << 10

// emitter sends the signed webhooks of POST /_sim/emit. It holds what it
// signs with, parsed once in New.
type emitter struct {
	secret string                 // WebhookSecret as given: github's and stripe's HMAC secret
	key    *webhooksig.Key        // WebhookSecret as a whsec_ key: standard v1
	signer *webhooksig.SigningKey // WebhookSigningKey: standard v1a
	keyErr error                  // why a configured key is unusable (never holds it)
	client *http.Client
}

func newEmitter(o Options) *emitter {
	e := &emitter{keyErr: o.validateWebhook()}
	if e.keyErr == nil {
		if o.WebhookSecret != "" {
			k, _ := webhooksig.ParseKey(o.WebhookSecret) // validated above
			e.secret, e.key = o.WebhookSecret, &k
		}
		if o.WebhookSigningKey != "" {
			sk, _ := webhooksig.ParseSigningKey(o.WebhookSigningKey) // validated above
			e.signer = &sk
		}
	}
	dialer := &net.Dialer{Timeout: emitTimeout, Control: loopbackOnly}
	e.client = &http.Client{
		Timeout: emitTimeout,
		Transport: &http.Transport{
			Proxy:       nil, // a proxy would carry the webhook off this host
			DialContext: dialer.DialContext,
			TLSClientConfig: &tls.Config{
				RootCAs:      o.WebhookRootCAs,
				MinVersion:   tlspolicy.MinVersion,
				CipherSuites: tlspolicy.CipherSuites(),
			},
			TLSHandshakeTimeout:    emitTimeout,
			ResponseHeaderTimeout:  emitTimeout,
			MaxResponseHeaderBytes: 64 << 10,
			DisableKeepAlives:      true, // nothing idles after a test
		},
		// A receiver's redirect is its answer, not somewhere to go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// loopbackOnly refuses, at connect time, any address that is not a
// loopback IP: the URL check's second line, whatever a name resolved to.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: the simulator sends webhooks to loopback only", address)
	}
	return nil
}

// emitRequest is the body of POST /_sim/emit.
type emitRequest struct {
	URL    string          `json:"url"`
	Scheme string          `json:"scheme"`
	Event  json.RawMessage `json:"event"`
	ID     string          `json:"id,omitempty"`
}

// emitResult is its answer.
type emitResult struct {
	ID     string `json:"id"`
	Status int    `json:"status"`
}

// handleEmit is POST /_sim/emit: sign one webhook and deliver it.
func (s *Simulator) handleEmit(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	req, err := decodeEmit(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_emit", err.Error())
		return
	}
	if err := s.emit.canSign(req.Scheme); err != nil {
		writeError(w, http.StatusConflict, "no_webhook_secret", err.Error())
		return
	}
	target, err := loopbackURL(req.URL)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_target", err.Error())
		return
	}
	id, body, err := eventBody(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_emit", err.Error())
		return
	}
	h, err := s.emit.sign(req.Scheme, id, s.now(), body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_emit", err.Error())
		return
	}
	status, err := s.emit.deliver(r.Context(), target, h, body)
	if err != nil {
		writeError(w, http.StatusBadGateway, "delivery_failed", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, emitResult{ID: id, Status: status})
}

// decodeEmit reads one emitRequest, strictly: unknown fields, trailing
// data, an unknown scheme or an event that is not an object are errors.
func decodeEmit(w http.ResponseWriter, r *http.Request) (emitRequest, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		return emitRequest{}, fmt.Errorf("reading body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req emitRequest
	if err := dec.Decode(&req); err != nil {
		return emitRequest{}, fmt.Errorf("decoding emit request: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return emitRequest{}, errors.New("decoding emit request: trailing data after the JSON object")
	}
	if !slices.Contains(webhooksig.SchemeNames(), req.Scheme) {
		return emitRequest{}, fmt.Errorf("scheme must be one of %s", strings.Join(webhooksig.SchemeNames(), ", "))
	}
	if t := bytes.TrimSpace(req.Event); len(t) == 0 || t[0] != '{' {
		return emitRequest{}, errors.New("event must be a JSON object")
	}
	if req.ID != "" {
		if err := webhooksig.CheckID(req.ID); err != nil {
			return emitRequest{}, fmt.Errorf("id: %w", err)
		}
	}
	return req, nil
}

// loopbackURL accepts an http or https URL whose host is a literal
// loopback IP (127.0.0.0/8, ::1). A name, localhost included, is refused:
// what it resolves to is the resolver's choice, not the caller's.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return nil, errors.New("url must be an http:// or https:// URL without user info")
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || a.Zone() != "" || !a.Unmap().IsLoopback() {
		return nil, errors.New("url must name a loopback IP address such as 127.0.0.1 or [::1]: the simulator sends webhooks to this host only")
	}
	return u, nil
}

// eventBody returns the message id and the body to send: the event as
// given (compacted), except for stripe, whose id lives in the event's
// top-level "id" — set from the request's id, or taken from the event,
// or generated. Other schemes generate an id when none is given.
func eventBody(req emitRequest) (id string, body []byte, err error) {
	if req.Scheme != webhooksig.SchemeStripe {
		var buf bytes.Buffer
		if err := json.Compact(&buf, req.Event); err != nil {
			return "", nil, fmt.Errorf("event: %w", err)
		}
		if id = req.ID; id == "" {
			id = newID(req.Scheme)
		}
		return id, buf.Bytes(), nil
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(req.Event, &ev); err != nil {
		return "", nil, fmt.Errorf("event: %w", err)
	}
	var own string
	if raw, ok := ev["id"]; ok && json.Unmarshal(raw, &own) != nil {
		return "", nil, errors.New("event: a stripe event's \"id\" must be a string")
	}
	switch {
	case req.ID != "" && own != "" && own != req.ID:
		return "", nil, errors.New("id and the event's \"id\" differ; give one")
	case req.ID != "":
		id = req.ID
	case own != "":
		if err := webhooksig.CheckID(own); err != nil {
			return "", nil, fmt.Errorf("event id: %w", err)
		}
		id = own
	default:
		id = newID(req.Scheme)
	}
	ev["id"], _ = json.Marshal(id) // a string: cannot fail
	body, err = json.Marshal(ev)
	if err != nil {
		return "", nil, fmt.Errorf("encoding event: %w", err)
	}
	return id, body, nil
}

// newID is a fresh id in the scheme's usual shape: msg_… (Standard
// Webhooks), a GUID (GitHub's deliveries), evt_… (Stripe's events).
func newID(scheme string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	switch scheme {
	case webhooksig.SchemeGitHub:
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // version 4, RFC 4122 variant
		x := hex.EncodeToString(b)
		return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
	case webhooksig.SchemeStripe:
		return "evt_" + hex.EncodeToString(b)
	default:
		return "msg_" + hex.EncodeToString(b)
	}
}

// canSign says why scheme cannot be signed, if it cannot.
func (e *emitter) canSign(scheme string) error {
	if e.keyErr != nil {
		return fmt.Errorf("the configured webhook key is not usable: %w", e.keyErr)
	}
	if e.key == nil && (scheme != webhooksig.SchemeStandard || e.signer == nil) {
		return fmt.Errorf("no webhook secret is configured for the %s scheme (sim.Options.WebhookSecret)", scheme)
	}
	return nil
}

// sign returns the headers that authenticate body as id at ts. A standard
// webhook carries a v1 signature, a v1a, or both, space-separated.
func (e *emitter) sign(scheme, id string, ts time.Time, body []byte) (http.Header, error) {
	switch scheme {
	case webhooksig.SchemeGitHub:
		return webhooksig.SignGitHub(e.secret, id, body)
	case webhooksig.SchemeStripe:
		return webhooksig.SignStripe(e.secret, ts, body)
	}
	var h http.Header
	var sigs []string
	if e.key != nil {
		v1, err := e.key.Sign(id, ts, body)
		if err != nil {
			return nil, err
		}
		h, sigs = v1, append(sigs, v1.Get(webhooksig.HeaderSignature))
	}
	if e.signer != nil {
		v1a, err := e.signer.Sign(id, ts, body)
		if err != nil {
			return nil, err
		}
		h, sigs = v1a, append(sigs, v1a.Get(webhooksig.HeaderSignature))
	}
	h.Set(webhooksig.HeaderSignature, strings.Join(sigs, " "))
	return h, nil
}

// deliver POSTs body with h to target and returns the receiver's status.
func (e *emitter) deliver(ctx context.Context, target *url.URL, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("building webhook request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "intelgate-socialeye-simulator")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("delivering webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReceiverBody))
	return resp.StatusCode, nil
}
