package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/observe"
)

// Indicators says how audit records keep an indicator.
type Indicators string

// The indicator policies (audit.indicators).
const (
	// IndicatorsHMAC keeps a keyed HMAC: matchable by whoever holds the
	// key, meaningless to whoever reads the database. The default.
	IndicatorsHMAC Indicators = "hmac"
	// IndicatorsPlaintext keeps the indicator itself, sealed like cache
	// bodies: readable with the key (GET /admin/v1/audit opens it).
	IndicatorsPlaintext Indicators = "plaintext"
)

// Recorder turns what happens into audit records on a Log. It is the
// lookup service's Auditor, the gateway's authentication-failure and
// admin-action hook, and an observe.Observer for key and purge events.
// Every method only builds a record and queues it.
type Recorder struct {
	log        *Log
	keys       Keys
	indicators Indicators

	// Authentication failures are recorded up to authFailureBudget a
	// second across every source: anyone can send bad tokens, from as
	// many addresses as they hold, and must not be able to fill the
	// queue that lookups' records share. The rest are counted and
	// reported in one record, with the next second's first failure or the
	// writer's next flush, whichever comes first.
	authMu         sync.Mutex
	authWindow     int64 // unix second of the current window
	authInWindow   int
	authSuppressed int64
}

// authFailureBudget is how many authentication failures a second are
// recorded one by one.
const authFailureBudget = 50

var (
	_ lookup.Auditor   = (*Recorder)(nil)
	_ observe.Observer = (*Recorder)(nil)
)

// NewRecorder returns a Recorder queueing on log; keys protect
// indicators as policy says ("" is IndicatorsHMAC).
func NewRecorder(log *Log, keys Keys, policy Indicators) (*Recorder, error) {
	switch policy {
	case "":
		policy = IndicatorsHMAC
	case IndicatorsHMAC, IndicatorsPlaintext:
	default:
		return nil, fmt.Errorf("audit: indicators must be hmac or plaintext, not %q", policy)
	}
	if log == nil || keys == nil {
		return nil, errors.New("audit: a Log and Keys are required")
	}
	r := &Recorder{log: log, keys: keys, indicators: policy}
	log.SetPending(r.takeSuppressed)
	return r, nil
}

// takeSuppressed is the record of authentication failures suppressed
// since it was last taken, for the log writer's next flush: a flood that
// stops is still reported.
func (r *Recorder) takeSuppressed(now time.Time) []Record {
	r.authMu.Lock()
	n := r.authSuppressed
	r.authSuppressed = 0
	r.authMu.Unlock()
	if n == 0 {
		return nil
	}
	return []Record{suppressedRecord(now, n)}
}

func suppressedRecord(now time.Time, n int64) Record {
	return Record{Time: now, Kind: KindAuthFailure, Reason: "suppressed", Count: n,
		Detail: "authentication failures beyond the per-second budget, not recorded one by one"}
}

// Audit records one lookup or resolve: a lookup record for the request,
// then one provider_result record per provider outcome.
func (r *Recorder) Audit(_ context.Context, id lookup.Identity, op string, res lookup.Result, err error) {
	req := Record{Kind: KindLookup, RequestID: id.RequestID, Client: id.Client, Environment: id.Environment,
		Source: source(id.Source), Operation: op, Providers: res.Providers, Outcome: "ok"}
	if id.Markings.TLP != 0 {
		req.TLP = id.Markings.TLP.String()
	}
	if id.Markings.PAP != 0 {
		req.PAP = id.Markings.PAP.String()
	}
	ind := res.Judged
	if ind.Value == "" {
		ind = res.Indicator
	}
	if ind.Value != "" {
		req.IndicatorType = string(ind.Type)
		r.protect(&req, ind.Type, ind.Value)
	}
	if err != nil {
		req.Outcome = "refused"
		var f *lookup.Failure
		if errors.As(err, &f) {
			req.Problem = string(f.Kind)
		} else {
			req.Problem = "internal"
		}
	}
	r.log.Add(req)
	for _, o := range res.Outcomes {
		if o.Provider == "" {
			continue // not decided (a refused request's placeholder)
		}
		rec := Record{Kind: KindProviderResult, RequestID: id.RequestID, Client: id.Client, Environment: id.Environment,
			Operation: op, Provider: o.Provider, KeyID: o.KeyID, Outcome: string(o.Status), Cache: string(o.Cache),
			Rule: o.Rule, UpstreamStatus: o.UpstreamStatus, LatencyMicros: o.Latency.Microseconds(),
			Attempts: o.Attempts, Shared: o.Shared, Units: o.Units}
		if o.Failure != nil {
			rec.Problem = string(o.Failure.Kind)
		}
		r.log.Add(rec)
	}
}

// protect stores the indicator as the policy says.
func (r *Recorder) protect(rec *Record, typ indicator.Type, value string) {
	if r.indicators == IndicatorsPlaintext {
		sealed, err := r.keys.Seal(indicatorAD, []byte(value))
		if err == nil {
			rec.IndicatorSealed = sealed
			return
		}
		// Sealing cannot fail with a valid keyring; if it ever did, the
		// HMAC still identifies the indicator without exposing it.
	}
	rec.IndicatorHMAC = IndicatorHMAC(r.keys, typ, value)
}

// OpenIndicator reads a sealed indicator of a record (export).
func OpenIndicator(keys Keys, sealed []byte) (string, error) {
	pt, _, err := keys.Open(indicatorAD, sealed)
	if err != nil {
		return "", fmt.Errorf("opening audit indicator: %w", err)
	}
	return string(pt), nil
}

func source(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// The authentication failure reason classes. None says anything about
// the token beyond its class.
const (
	AuthNoToken          = "no_token"
	AuthUnknownToken     = "unknown_token"
	AuthSourceNotAllowed = "source_not_allowed"
	AuthClientDisabled   = "client_disabled"
	// AuthBadSignature: an inbound provider webhook whose signature did
	// not verify.
	AuthBadSignature = "bad_signature"
	// AuthSourceBlocked: the failure that blocked its source for the rest
	// of server.auth_failures.window (its failing requests answered 429).
	AuthSourceBlocked = "source_blocked"
)

// AuthFailed records a refused authentication: the source, the reason
// class, and for a valid token used from outside its networks, the client.
func (r *Recorder) AuthFailed(src netip.Addr, reason, client, requestID string) {
	now := r.log.o.Clock.Now()
	r.authMu.Lock()
	if sec := now.Unix(); sec != r.authWindow {
		r.authWindow, r.authInWindow = sec, 0
	}
	r.authInWindow++
	if r.authInWindow > authFailureBudget {
		r.authSuppressed++
		r.authMu.Unlock()
		return
	}
	suppressed := r.authSuppressed
	r.authSuppressed = 0
	r.authMu.Unlock()
	if suppressed > 0 {
		r.log.Add(suppressedRecord(now, suppressed))
	}
	r.log.Add(Record{Time: now, Kind: KindAuthFailure, Source: source(src), Reason: reason, Client: client, RequestID: requestID})
}

// Refused records a lookup or resolve the gateway refused before the
// lookup service saw it (the service records its own refusals).
func (r *Recorder) Refused(id lookup.Identity, op, problem string) {
	rec := Record{Kind: KindLookup, RequestID: id.RequestID, Client: id.Client, Environment: id.Environment,
		Source: source(id.Source), Operation: op, Outcome: "refused", Problem: problem}
	r.log.Add(rec)
}

// Admin records an administrative action by the admin client by (or
// "cli", "gateway").
func (r *Recorder) Admin(by, action, detail, requestID string) {
	r.log.Add(Record{Kind: KindAdmin, By: by, Action: action, Detail: detail, RequestID: requestID})
}

// KeyRotated records that provider's key keyID has a new secret.
func (r *Recorder) KeyRotated(provider, keyID, by string) {
	r.log.Add(Record{Kind: KindKeyRotated, Provider: provider, KeyID: keyID, By: by})
}

// KeyRotatedFrom records a rotation found while serving, with the keyed
// fingerprints of the secret before and after: who reads the log can tell
// which secret was replaced by which, and nobody can test a guess against
// them without the data-at-rest key.
func (r *Recorder) KeyRotatedFrom(provider, keyID, by, previousFingerprint, fingerprint string) {
	r.log.Add(Record{Kind: KindKeyRotated, Provider: provider, KeyID: keyID, By: by,
		Detail: "previous_fingerprint=" + previousFingerprint + " fingerprint=" + fingerprint})
}

// Observe records key revocations and restorations and cache purges from
// the request path's events; it ignores every other event.
func (r *Recorder) Observe(_ context.Context, e observe.Event) {
	switch e := e.(type) {
	case observe.KeyRevoked:
		reason, by := "auth_check_refused", "gateway"
		switch {
		case e.By != "":
			reason, by = "operator", e.By
		case e.Renewed:
			reason = "recheck_refused"
		}
		r.log.Add(Record{Kind: KindKeyRevoked, Provider: e.Provider, KeyID: e.KeyID, Reason: reason, By: by})
	case observe.KeyRestored:
		r.log.Add(Record{Kind: KindKeyRestored, Provider: e.Provider, KeyID: e.KeyID, Reason: "recheck_passed", By: "gateway"})
	case observe.CachePurged:
		detail := "scope=all"
		switch {
		case e.Provider != "" && e.Indicator:
			detail = "scope=indicator"
		case e.Provider != "":
			detail = "scope=provider"
		}
		r.log.Add(Record{Kind: KindAdmin, Action: "cache_purge", Provider: e.Provider, By: e.By, Reason: e.Reason,
			Detail: detail, Count: int64(e.Count)})
	}
}
