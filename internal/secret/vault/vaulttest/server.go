// Package vaulttest is a HashiCorp Vault for tests: an HTTPS server on
// 127.0.0.1, with a certificate from a throwaway CA, that speaks the parts
// of the documented Vault HTTP API the gateway uses — KV version 2 reads
// and writes, AppRole and Kubernetes logins, and the token endpoints that
// look a token up, renew it and revoke it — with TTLs and max TTLs enforced on an
// injectable clock. CI cannot reach a real Vault; this is what every test
// of internal/secret/vault talks to.
//
// It models the API, not Vault's internals: there are no policies (every
// valid token may read and write every KV mount), one namespace at most,
// no response wrapping, and only the current version of a secret is read.
// Every answer has the shape the API documentation gives for it, so the
// real github.com/hashicorp/vault/api client parses it.
//
// Documentation the handlers follow:
//
//   - overview (authentication, namespaces, errors, status codes):
//     https://developer.hashicorp.com/vault/api-docs
//   - KV version 2: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2
//   - AppRole: https://developer.hashicorp.com/vault/api-docs/auth/approle
//   - Kubernetes: https://developer.hashicorp.com/vault/api-docs/auth/kubernetes
//   - token: https://developer.hashicorp.com/vault/api-docs/auth/token
package vaulttest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/secret/secrettest"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// DefaultMount is the KV version 2 mount a Server has when Options.Mounts
// is empty, and the one Put, Delete and Ref use: Vault's dev server mounts
// KV v2 at secret/ too.
const DefaultMount = "secret"

// FailMode is how a failing server fails (see Fail).
type FailMode int

const (
	// FailUnavailable answers 503 with Vault's "Vault is sealed" error, as
	// a sealed or standby-without-leader Vault does.
	FailUnavailable FailMode = iota
	// FailClose drops the connection without an answer, as a crashed
	// server or a load balancer with no healthy backend does.
	FailClose
)

// Options configure a Server. The zero value is a server with the one KV
// mount secret/, no namespace, and the wall clock.
type Options struct {
	// Namespace, when set, is required: every request must carry it in
	// X-Vault-Namespace (leading and trailing slashes are ignored, as
	// Vault ignores them). When empty, a request that names any namespace
	// is refused, so a test can see a namespace that should not be there.
	// A wrong namespace is answered 403 permission denied.
	Namespace string
	// Mounts are the KV version 2 mounts; default [DefaultMount]. The
	// first is the one Put, Delete and Ref use.
	Mounts []string
	// Clock decides token expiry and every created_time; nil is the wall
	// clock. A clocktest.Clock lets a test expire a token by advancing it.
	Clock clock.Clock
	// FailMode is what Fail(t, true) does; default FailUnavailable.
	FailMode FailMode
	// DeleteVersionAfter, when set, gives every new version a
	// deletion_time that far after its creation, as the mount setting
	// delete_version_after does; a version past it reads as deleted.
	DeleteVersionAfter time.Duration
	// OnRequest, when set, is called with every request before it is
	// answered (from the server's goroutines): tests use it to see headers.
	// It must not read the body.
	OnRequest func(*http.Request)
	// CA issues the server's certificate; nil: a CA of the server's own.
	CA *upstreamtest.CA
}

// Counts are what the server has answered, for tests that assert how
// often the source under test called it.
type Counts struct {
	Requests     int // every request, failed or not
	Reads        int // KV v2 data reads answered (found or not)
	Writes       int // KV v2 versions written
	Logins       int // successful logins (approle, kubernetes)
	FailedLogins int // logins refused for their credentials
	Renewals     int // successful renew-self calls
	Lookups      int // successful lookup-self calls
	Revocations  int // successful revoke-self calls
}

// Server is a loopback Vault. Its methods are safe for concurrent use.
type Server struct {
	srv    *httptest.Server
	ca     *upstreamtest.CA
	o      Options
	mounts map[string]bool

	mu             sync.Mutex
	failing        bool
	refuseRenewals bool
	counts         Counts
	kv             map[string]*kvSecret // "MOUNT/PATH" → secret
	tokens         map[string]*token
	issued         []string
	selfRevoked    []string // by revoke-self, in order
	root           string
	approles       map[string]AppRole        // "mount\x00role_id" → role
	k8sRoles       map[string]KubernetesRole // "mount\x00role" → role
	authMounts     map[string]string         // auth mount → "approle" | "kubernetes"
}

var (
	_ secrettest.Backend = (*Server)(nil)
	_ secrettest.Failer  = (*Server)(nil)
)

// NewServer starts a Server; it is closed when the test ends.
func NewServer(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if len(o.Mounts) == 0 {
		o.Mounts = []string{DefaultMount}
	}
	if o.CA == nil {
		o.CA = upstreamtest.NewCA(tb, "vaulttest CA")
	}
	o.Namespace = strings.Trim(o.Namespace, "/")
	s := &Server{
		ca: o.CA, o: o, mounts: map[string]bool{},
		kv: map[string]*kvSecret{}, tokens: map[string]*token{},
		approles: map[string]AppRole{}, k8sRoles: map[string]KubernetesRole{}, authMounts: map[string]string{},
	}
	for _, m := range o.Mounts {
		s.mounts[m] = true
	}
	s.root = s.issueLocked(TokenOptions{Policies: []string{"root"}, NotRenewable: true}, "auth/token/root")
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{o.CA.Leaf(tb, upstreamtest.LeafOptions{})},
		MinVersion:   tls.VersionTLS12,
	}
	// Handshakes that the client under test refuses (the wrong-CA tests)
	// are expected; they are not news on the test's output.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the server's https:// address, as Vault's api_addr would be.
func (s *Server) URL() string { return s.srv.URL }

// CA is the authority the server's certificate chains to.
func (s *Server) CA() *upstreamtest.CA { return s.ca }

// CAFile writes the server's CA as a PEM file and returns its path: what a
// gateway's secrets.vault.ca_file names.
func (s *Server) CAFile(tb testing.TB) string {
	tb.Helper()
	return s.ca.WriteFile(tb)
}

// Close stops the server now, for tests of a Vault that has gone away.
func (s *Server) Close() { s.srv.Close() }

// Fail makes every request fail (as Options.FailMode says) until called
// with false: Vault sealed, or unreachable.
func (s *Server) Fail(_ *testing.T, failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = failing
}

// Counts returns what the server has answered so far.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

func (s *Server) now() time.Time { return s.o.Clock.Now() }

// serveHTTP applies what every Vault endpoint shares — fault injection,
// the X-Vault-Namespace header
// (https://developer.hashicorp.com/vault/api-docs#namespaces), the
// X-Vault-Token header every endpoint but a login requires
// (https://developer.hashicorp.com/vault/api-docs#authentication; 403
// "permission denied" without a live one), the refusal of response
// wrapping — then routes. Errors have the documented {"errors": [...]}
// shape and statuses (https://developer.hashicorp.com/vault/api-docs#http-status-codes).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.o.OnRequest != nil {
		s.o.OnRequest(r)
	}
	s.mu.Lock()
	s.counts.Requests++
	failing := s.failing
	s.mu.Unlock()
	if failing {
		if s.o.FailMode == FailClose {
			panic(http.ErrAbortHandler) // closes the connection, unlogged
		}
		writeErrors(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	if ns := strings.Trim(r.Header.Get("X-Vault-Namespace"), "/"); ns != s.o.Namespace {
		// Tokens live in their namespace: in another one they are unknown.
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	if r.Header.Get("X-Vault-Wrap-TTL") != "" {
		writeErrors(w, http.StatusBadRequest, "vaulttest does not implement response wrapping")
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErrors(w, http.StatusNotFound)
		return
	}
	if rest, ok := strings.CutPrefix(p, "auth/"); ok {
		if mount, ok := strings.CutSuffix(rest, "/login"); ok {
			s.login(w, r, mount)
			return
		}
	}
	// Everything but a login needs a valid token: "permission denied"
	// is Vault's answer to a missing, unknown, expired or revoked one.
	tok, ok := s.authenticate(r)
	if !ok {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	switch p {
	case "auth/token/lookup-self":
		s.lookupSelf(w, r, tok)
	case "auth/token/renew-self":
		s.renewSelf(w, r, tok)
	case "auth/token/revoke-self":
		s.revokeSelf(w, r, tok)
	default:
		s.serveKV(w, r, p)
	}
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErrors answers Vault's error shape, {"errors": [...]}: an empty
// list is what a plain 404 carries.
func writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": msgs})
}

// decodeBody reads a JSON request body of at most 1 MiB into v; an empty
// body leaves v alone.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// envelope is the top level of every documented Vault answer.
func envelope(data, auth any, warnings []string) map[string]any {
	return map[string]any{
		"request_id": randomID(16), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": data, "auth": auth, "wrap_info": nil, "warnings": warnings,
	}
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
