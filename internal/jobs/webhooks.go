package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// WebhookHandler processes a verified provider event off the request
// path: purges the cached answers it says changed, and names the clients
// to forward it to (internal/app, from the provider's webhooks config).
type WebhookHandler interface {
	Process(ctx context.Context, provider string, body []byte) (purged int, subscribers []string, err error)
}

// EventTargets gives where a client receives forwarded provider events
// (callbacks.events_url), under its callback policy and secret.
type EventTargets interface {
	EventTarget(client string) (target string, policy callback.Policy, key webhooksig.Key, ok bool)
}

// webhookArgs: process one received event.
type webhookArgs struct {
	Provider string `json:"provider"`
	IDMAC    string `json:"id_mac"`
}

func (webhookArgs) Kind() string { return "intelgate_webhook" }

// forwardArgs: deliver one event to one subscriber.
type forwardArgs struct {
	Provider  string `json:"provider"`
	IDMAC     string `json:"id_mac"`
	Client    string `json:"client"`
	WebhookID string `json:"webhook_id"`
}

func (forwardArgs) Kind() string { return "intelgate_forward" }

const queueWebhooks = "intelgate_webhooks"

func webhookAD(provider, mac string) []byte {
	return []byte("jobs/webhook\x00" + provider + "\x00" + mac)
}

// ForwardPayload is what a subscriber receives for a provider event,
// signed per Standard Webhooks with its callbacks.secret.
type ForwardPayload struct {
	Type       string          `json:"type"` // "provider.event"
	Provider   string          `json:"provider"`
	ReceivedAt time.Time       `json:"received_at"`
	Event      json.RawMessage `json:"event"`
}

// ReceiveWebhook stores a verified event of provider with the provider's
// event id and queues its processing, in one transaction, unless an event
// with that id was received before: then duplicate is true and nothing is
// stored or processed again.
func (q *Queue) ReceiveWebhook(ctx context.Context, provider, eventID string, body []byte) (duplicate bool, err error) {
	if q.o.Webhooks == nil {
		return false, errors.New("webhooks are not configured")
	}
	macs := q.o.Keyring.Index("jobs/webhook-id\x00" + provider + "\x00" + eventID)
	seen, err := q.webhookSeen(ctx, provider, macs)
	if err != nil || seen {
		return seen, err
	}
	sealed, err := q.o.Keyring.Seal(webhookAD(provider, macs[0]), body)
	if err != nil {
		return false, fmt.Errorf("sealing webhook: %w", err)
	}
	inserted := false
	err = q.eng.write(ctx, func(ctx context.Context, tx execer, insert inserter) error {
		n, err := tx.exec(ctx, `INSERT INTO webhook_events (provider, id_mac, received_at, body, state) VALUES (?, ?, ?, ?, 'queued')
			ON CONFLICT (provider, id_mac) DO NOTHING`, provider, macs[0], q.d.TimeArg(q.now()), sealed)
		if err != nil {
			return fmt.Errorf("storing webhook: %w", err)
		}
		if n == 0 {
			return nil // the same event, received concurrently
		}
		inserted = true
		_, err = insert(ctx, []river.InsertManyParams{{Args: webhookArgs{Provider: provider, IDMAC: macs[0]},
			InsertOpts: &river.InsertOpts{Queue: queueWebhooks, MaxAttempts: riverMax(q.o.MaxAttempts)}}})
		return err
	})
	if err != nil {
		return false, err
	}
	return !inserted, nil
}

func (q *Queue) webhookSeen(ctx context.Context, provider string, macs []string) (bool, error) {
	var n int
	args := []any{provider}
	for _, m := range macs {
		args = append(args, m)
	}
	err := q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.QueryRowContext(ctx, q.d.Rebind(`SELECT count(*) FROM webhook_events WHERE provider = ? AND id_mac IN (`+
			placeholders(len(macs))+`)`), args...).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("reading webhook ids: %w", err)
	}
	return n > 0, nil
}

func (q *Queue) loadWebhook(ctx context.Context, provider, mac string) (body []byte, received time.Time, state string, err error) {
	var sealed []byte
	var at any
	err = q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.QueryRowContext(ctx, q.d.Rebind(`SELECT body, received_at, state FROM webhook_events WHERE provider = ? AND id_mac = ?`),
			provider, mac).Scan(&sealed, &at, &state)
	})
	if err != nil {
		return nil, time.Time{}, "", err
	}
	body, _, err = q.o.Keyring.Open(webhookAD(provider, mac), sealed)
	return body, store.TimeOf(at), state, err
}

// processWebhook runs the handler on a stored event and queues its
// forwards, in the transaction that completes the River job.
func (q *Queue) processWebhook(ctx context.Context, a webhookArgs, attempt, maxAttempts int, finish completeFunc) error {
	body, _, state, err := q.loadWebhook(ctx, a.Provider, a.IDMAC)
	if errors.Is(err, errNoRows) {
		return river.JobCancel(errors.New("event no longer exists"))
	}
	if err != nil {
		return errors.New(errorKind(err))
	}
	if state != "queued" {
		return finish(ctx, true, func(context.Context, execer, inserter) error { return nil })
	}
	if attempt > maxAttempts {
		// The last attempt ended without a result: settle it as failed.
		return finish(ctx, true, func(ctx context.Context, tx execer, _ inserter) error {
			_, err := tx.exec(ctx, `UPDATE webhook_events SET state = 'failed' WHERE provider = ? AND id_mac = ?`, a.Provider, a.IDMAC)
			return err
		})
	}
	purged, subs, perr := q.o.Webhooks.Process(ctx, a.Provider, body)
	if perr != nil && attempt < maxAttempts {
		return errors.New("processing failed")
	}
	subs = slices.Compact(slices.Sorted(slices.Values(subs)))
	final := "processed"
	if perr != nil {
		final = "failed"
	}
	return finish(ctx, true, func(ctx context.Context, tx execer, insert inserter) error {
		if _, err := tx.exec(ctx, `UPDATE webhook_events SET state = ?, purged = ?, forwarded = ? WHERE provider = ? AND id_mac = ?`,
			final, purged, len(subs), a.Provider, a.IDMAC); err != nil {
			return err
		}
		if len(subs) == 0 || perr != nil {
			return nil
		}
		params := make([]river.InsertManyParams, len(subs))
		for i, c := range subs {
			params[i] = river.InsertManyParams{Args: forwardArgs{Provider: a.Provider, IDMAC: a.IDMAC, Client: c,
				WebhookID: "ev_" + a.IDMAC[:min(len(a.IDMAC), 32)] + "_" + c},
				InsertOpts: &river.InsertOpts{Queue: queueCallbacks, MaxAttempts: riverMax(q.o.CallbackAttempts)}}
		}
		_, err := insert(ctx, params)
		return err
	})
}

// forward delivers one event to one subscriber; River retries it.
func (q *Queue) forward(ctx context.Context, a forwardArgs, attempt, maxAttempts int, finish completeFunc) error {
	body, received, _, err := q.loadWebhook(ctx, a.Provider, a.IDMAC)
	if errors.Is(err, errNoRows) {
		return river.JobCancel(errors.New("event no longer exists"))
	}
	if err != nil {
		return errors.New(errorKind(err))
	}
	if q.o.EventTargets == nil || q.o.Deliverer == nil {
		return river.JobCancel(errors.New("event forwarding is not configured"))
	}
	if attempt > maxAttempts {
		q.o.Meter.Delivered("event", "failed")
		return river.JobCancel(errors.New("timeout"))
	}
	target, policy, key, ok := q.o.EventTargets.EventTarget(a.Client)
	if !ok {
		return river.JobCancel(errors.New("the subscriber has no events_url now"))
	}
	if !json.Valid(body) {
		return river.JobCancel(errors.New("the event is not JSON"))
	}
	payload, err := json.Marshal(ForwardPayload{Type: "provider.event", Provider: a.Provider, ReceivedAt: received, Event: body})
	if err != nil {
		return river.JobCancel(err)
	}
	rec, derr := q.o.Deliverer.Deliver(ctx, target, policy, key, a.WebhookID, payload)
	switch {
	case derr == nil:
		q.o.Meter.Delivered("event", "delivered")
		return finish(ctx, true, func(context.Context, execer, inserter) error { return nil })
	case rec.Class == callback.ClassCanceled:
		return river.JobSnooze(0)
	case rec.Outcome == callback.Permanent || attempt >= maxAttempts:
		q.o.Meter.Delivered("event", "failed")
		if rec.Outcome == callback.Permanent {
			return river.JobCancel(errors.New(string(rec.Class)))
		}
		return errors.New(string(rec.Class))
	}
	q.o.Meter.Delivered("event", "retry")
	return errors.New(string(rec.Class))
}

// SweepWebhooks deletes at most limit received events older than before
// (retention.webhook_ids): a replay older than that is new again.
func (q *Queue) SweepWebhooks(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := q.eng.write(ctx, func(ctx context.Context, tx execer, _ inserter) error {
		var err error
		n, err = tx.exec(ctx, `DELETE FROM webhook_events WHERE (provider, id_mac) IN (
			SELECT provider, id_mac FROM webhook_events WHERE received_at < ? AND state <> 'queued' ORDER BY received_at LIMIT ?)`,
			q.d.TimeArg(before), limit)
		return err
	})
	return n, err
}
