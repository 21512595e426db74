// Package sim is a SocialEye simulator for tests, the demo and benchmarks.
// Only the base URL, /v1/resolve, Bearer auth and the query/type parameters
// are public facts about SocialEye; everything else here is a plausible model.
package sim

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"
)

// Faults are injected failures; rates are probabilities in [0,1].
type Faults struct {
	ErrorRate        float64       `json:"error_rate"`         // 500 with JSON error body
	Latency          time.Duration `json:"latency"`            // added before answering
	MalformedRate    float64       `json:"malformed_rate"`     // truncated JSON
	NonObjectRate    float64       `json:"non_object_rate"`    // a JSON array
	WrongTypeRate    float64       `json:"wrong_type_rate"`    // text/html content type
	OversizedRate    float64       `json:"oversized_rate"`     // body larger than OversizedBytes
	OversizedBytes   int64         `json:"oversized_bytes"`    // default 8 MiB
	ResetRate        float64       `json:"reset_rate"`         // connection reset mid-response
}

// Options configure a Simulator.
type Options struct {
	APIKeys []string // accepted Bearer keys; empty: any non-empty key
	Rate    float64  // per-key requests per second; 0: unlimited
	Burst   int      // default max(1, Rate)
	Faults  Faults
	Seed    int64 // fault RNG seed; bodies are deterministic regardless
}

// Stats are counters for tests and benchmarks.
type Stats struct {
	Requests        int            `json:"requests"`
	ByQuery         map[string]int `json:"by_query"`
	ByStatus        map[int]int    `json:"by_status"`
	RateLimited     int            `json:"rate_limited"`
	PeakConcurrency int            `json:"peak_concurrency"`
	PeakPerSecond   int            `json:"peak_per_second"` // most requests accepted in any wall-clock second
}

// Simulator is the http.Handler. TODO(sim helper).
type Simulator struct{}

// New returns a Simulator.
func New(o Options) *Simulator { panic("unimplemented") }

func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { panic("unimplemented") }

// SetFaults replaces the fault settings.
func (s *Simulator) SetFaults(f Faults) { panic("unimplemented") }

// Stats returns a snapshot.
func (s *Simulator) Stats() Stats { panic("unimplemented") }

// Server is a running simulator.
type Server struct {
	URL      string         // https://127.0.0.1:PORT or http://…
	Pin      string         // sha256/… of the certificate's SPKI (TLS only)
	CAPEM    []byte         // the self-signed certificate, PEM (TLS only)
	CertPool *x509.CertPool // pool holding it (TLS only)
	Sim      *Simulator
}

// Start serves s on addr ("127.0.0.1:0" for a free port), over TLS with a
// fresh self-signed certificate for 127.0.0.1, ::1 and localhost when useTLS.
func Start(addr string, useTLS bool, s *Simulator) (*Server, error) { panic("unimplemented") }

// Close stops the server.
func (s *Server) Close() error { panic("unimplemented") }

// GenerateCert makes a self-signed ECDSA P-256 certificate for hosts, valid
// from now-1h to now+validFor, and returns it with its PEM and SPKI pin.
func GenerateCert(hosts []string, validFor time.Duration) (cert tls.Certificate, certPEM []byte, pin string, err error) {
	panic("unimplemented")
}
