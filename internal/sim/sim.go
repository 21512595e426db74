// Package sim is a SocialEye simulator for tests, the demo and benchmarks.
// Only the base URL, /v1/resolve, Bearer auth and the query/type parameters
// are public facts about SocialEye; everything else here is a plausible model.
//
// The simulator is deliberately hostile on demand: it can be slow, wrong,
// oversized or rude (a TCP reset), so that the gateway's defences are tested
// against a real server over real TLS rather than against mocks.
package sim

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/webhooksig"
)

// Options configure a Simulator.
type Options struct {
	APIKeys []string // accepted Bearer keys; empty: any non-empty key
	Rate    float64  // per-key requests per second; 0: unlimited
	Burst   int      // default max(1, Rate)
	Faults  Faults
	Seed    int64 // fault RNG seed; bodies are deterministic regardless

	// Now is the clock behind rate limiting and the per-second peak; tests
	// inject one so that limits can be exercised without sleeping. Default
	// time.Now.
	Now func() time.Time

	// Logger receives server-side problems such as failed TLS handshakes
	// (a client rejecting the pin shows up here). Default: discarded, so
	// tests stay quiet.
	Logger *slog.Logger

	// WebhookSecret signs what POST /_sim/emit sends: a whsec_ secret
	// (base64 of at least 24 bytes) that is the standard scheme's v1 key
	// and, the same string as it is, the github and stripe HMAC secret.
	// Empty: only standard webhooks with a WebhookSigningKey can be sent;
	// every other emit is 409.
	WebhookSecret string
	// WebhookSigningKey, a whsk_ ed25519 key, adds a v1a signature to
	// standard webhooks (the only one when WebhookSecret is empty).
	WebhookSigningKey string
	// WebhookRootCAs are the CAs trusted for an https:// receiver of
	// /_sim/emit. Nil: the system roots.
	WebhookRootCAs *x509.CertPool
}

// Validate reports, by field, the options New cannot use as given. New
// never fails: it clamps faults, and with an unusable webhook key it
// answers every POST /_sim/emit with 409; call Validate where a bad flag
// should stop the start instead. No error holds a key.
func (o Options) Validate() error {
	var errs []error
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Faults: %w", err))
	}
	if err := o.validateWebhook(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (o Options) validateWebhook() error {
	var errs []error
	if o.WebhookSecret != "" {
		if _, err := webhooksig.ParseKey(o.WebhookSecret); err != nil {
			errs = append(errs, fmt.Errorf("WebhookSecret: %w", err))
		}
	}
	if o.WebhookSigningKey != "" {
		if _, err := webhooksig.ParseSigningKey(o.WebhookSigningKey); err != nil {
			errs = append(errs, fmt.Errorf("WebhookSigningKey: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Simulator is the http.Handler that plays SocialEye. It is safe for
// concurrent use; faults can be changed while it serves.
type Simulator struct {
	keysMu sync.RWMutex
	keys   map[string]bool // under keysMu: SetAPIKeys rotates them
	now    func() time.Time
	log    *slog.Logger
	mux    *http.ServeMux
	limits *limiter // nil when Rate is 0

	faultMu sync.Mutex
	faults  Faults
	dice    *rand.Rand // guarded by faultMu: fault dice must be reproducible per Seed

	stats stats
	emit  *emitter // POST /_sim/emit

	// beforeAnswer, when set (tests only), runs after a request has been
	// admitted and before it is answered; it lets tests hold requests in
	// flight deterministically instead of sleeping.
	beforeAnswer func()
}

// New returns a Simulator.
func New(o Options) *Simulator {
	s := &Simulator{
		keys: make(map[string]bool, len(o.APIKeys)),
		now:  o.Now,
		dice: rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed_5e_1e)),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log = o.Logger; s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, k := range o.APIKeys {
		if k != "" {
			s.keys[k] = true
		}
	}
	if o.Rate > 0 {
		s.limits = newLimiter(o.Rate, o.EffectiveBurst())
	}
	s.faults = o.Faults.clamped().withDefaults()
	s.stats.reset()
	s.emit = newEmitter(o)
	s.mux = s.routes()
	return s
}

// routes is the single place endpoints are registered. Signed webhooks are
// one more /_sim/… route and their sender (emit.go); the request path of
// /v1/resolve does not know about them.
func (s *Simulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/resolve", s.handleResolve)
	mux.HandleFunc("/_sim/faults", s.handleFaults)
	mux.HandleFunc("/_sim/stats", s.handleStats)
	mux.HandleFunc("/_sim/reset", s.handleReset)
	mux.HandleFunc("/_sim/emit", s.handleEmit)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no_route", "no such endpoint")
	})
	return mux
}

func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// SetAPIKeys replaces the accepted Bearer keys, as a vendor does when an
// account's key is rotated or revoked; empty accepts any non-empty key.
func (s *Simulator) SetAPIKeys(keys []string) {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k != "" {
			m[k] = true
		}
	}
	s.keysMu.Lock()
	s.keys = m
	s.keysMu.Unlock()
}

// SetFaults replaces the fault settings. Invalid values are clamped: rates
// into [0,1], negative latency to 0, OversizedBytes ≤ 0 to the default.
func (s *Simulator) SetFaults(f Faults) {
	f = f.clamped().withDefaults()
	s.faultMu.Lock()
	s.faults = f
	s.faultMu.Unlock()
}

// Faults returns the current fault settings.
func (s *Simulator) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// Stats returns a snapshot.
func (s *Simulator) Stats() Stats { return s.stats.snapshot() }

// ResetStats clears the counters and refills every key's rate-limit bucket,
// so a benchmark run starts from a clean slate.
func (s *Simulator) ResetStats() {
	s.stats.reset()
	if s.limits != nil {
		s.limits.reset()
	}
}

// EffectiveBurst is the bucket size the simulator uses: Burst, or one
// second's worth of Rate (at least 1) when Burst is not set.
func (o Options) EffectiveBurst() int {
	if o.Burst > 0 {
		return o.Burst
	}
	return max(1, int(o.Rate))
}
