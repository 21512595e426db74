// Package awssmtest is a fake AWS Secrets Manager on loopback, with real
// TLS, that speaks the documented wire protocol for what intelgate uses
// and verifies every request's Signature Version 4 signature. CI cannot
// reach AWS; this server lets the real SDK, unmodified, be tested end to
// end: signing, credentials, retries, clock-skew correction, TLS and error
// decoding.
//
// What it implements, from the documentation:
//
//   - The AWS JSON 1.1 protocol: POST / with X-Amz-Target:
//     secretsmanager.<Operation> and Content-Type application/x-amz-json-1.1;
//     errors as {"__type": code, "message": …} with the documented status
//     codes (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html).
//   - GetSecretValue (by VersionStage or VersionId),
//     https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
//   - PutSecretValue (staging labels, ClientRequestToken idempotency),
//     https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
//   - DescribeSecret (LastChangedDate, VersionIdsToStages),
//     https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html
//   - Signature Version 4 verification (sigv4.go, which cites its pages):
//     header authentication only; presigned (query) requests are refused.
//
// What it does not: CreateSecret, rotation, replication, KMS, resource
// policies, pagination, version expiry past 100 versions, and DeleteSecret's
// recovery window (Delete removes a secret at once, as
// ForceDeleteWithoutRecovery does).
package awssmtest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// Staging labels Secrets Manager manages itself.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// Account is the account id in the fake's ARNs.
const Account = "123456789012"

// maxBody bounds a request body. A SecretString is at most 65,536 bytes
// (Secrets Manager quotas); a request is that plus a little JSON.
const maxBody = 256 << 10

// Credential is an access key the server accepts. A SessionToken makes it
// temporary credentials (as STS issues): requests must then carry that
// token in X-Amz-Security-Token, signed.
type Credential struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Provider returns c as the SDK's static credentials provider.
func (c Credential) Provider() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// Options configure a Server; the zero value is a us-east-1 server with
// one random long-term access key, the real clock and a fresh CA.
type Options struct {
	Region      string
	Credentials []Credential
	// Clock is the server's time: it stamps CreatedDate and
	// LastChangedDate, judges X-Amz-Date skew and is sent as the Date
	// header (which the SDK uses to correct its own skew).
	Clock func() time.Time
	// CA issues the server's certificate; tests share one to prove a
	// client trusts exactly that CA.
	CA *upstreamtest.CA
	// TLS, when set, adjusts the server's TLS configuration (to offer
	// only an old protocol version, say).
	TLS func(*tls.Config)
}

// Server is a fake Secrets Manager. All methods are safe for concurrent
// use; state lives behind one mutex, so requests see a consistent store.
type Server struct {
	srv    *httptest.Server
	ca     *upstreamtest.CA
	region string
	clock  func() time.Time
	creds  map[string]Credential // by access key id
	keys   []Credential          // in the order given
	closed chan struct{}

	mu                         sync.Mutex
	secrets                    map[string]*storedSecret // by name
	denied                     map[string]bool          // secret names whose reads are denied
	failing, dropping, stalled bool
	requests                   map[string]int // authenticated requests by operation
	errs                       map[string]int // error answers by code
}

type storedSecret struct {
	name, arn   string
	created     time.Time
	lastChanged time.Time
	versions    map[string]*version // by VersionId
}

type version struct {
	id      string
	str     *string
	bin     []byte
	stages  map[string]bool
	created time.Time
}

// New starts a server on 127.0.0.1 and stops it when t ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if len(o.Credentials) == 0 {
		o.Credentials = []Credential{NewCredential()}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.CA == nil {
		o.CA = upstreamtest.NewCA(t, "awssmtest CA")
	}
	s := &Server{
		ca: o.CA, region: o.Region, clock: o.Clock, keys: o.Credentials,
		creds: map[string]Credential{}, closed: make(chan struct{}),
		secrets: map[string]*storedSecret{}, denied: map[string]bool{},
		requests: map[string]int{}, errs: map[string]int{},
	}
	for _, c := range o.Credentials {
		s.creds[c.AccessKeyID] = c
	}
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{o.CA.Leaf(t, upstreamtest.LeafOptions{})},
	}
	if o.TLS != nil {
		o.TLS(s.srv.TLS)
	}
	// Handshake failures are what some tests provoke; they are not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(func() {
		close(s.closed)
		s.srv.Close()
	})
	return s
}

// NewCredential returns a random long-term access key pair in AWS's
// shape (AKIA…, 40-character secret).
func NewCredential() Credential {
	return Credential{AccessKeyID: "AKIA" + randomHex(8), SecretAccessKey: randomHex(20)}
}

// NewTemporaryCredential returns a random temporary credential (ASIA…,
// with a session token), as STS or a role would issue.
func NewTemporaryCredential() Credential {
	return Credential{AccessKeyID: "ASIA" + randomHex(8), SecretAccessKey: randomHex(20), SessionToken: "IQoJ" + randomHex(48)}
}

// URL is the server's https:// base endpoint.
func (s *Server) URL() string { return s.srv.URL }

// Region is the only region the server accepts in a credential scope.
func (s *Server) Region() string { return s.region }

// Credential is the i-th access key the server accepts.
func (s *Server) Credential(i int) Credential { return s.keys[i] }

// CA is the authority that issued the server's certificate.
func (s *Server) CA() *upstreamtest.CA { return s.ca }

// CAFile writes the server's CA as a PEM file and returns its path.
func (s *Server) CAFile(t testing.TB) string {
	t.Helper()
	return s.ca.WriteFile(t)
}

// ClientTLS is a client TLS configuration that trusts only the server's CA.
func (s *Server) ClientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
}

// ARN is the full ARN of the secret called name ("" if there is none).
func (s *Server) ARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		return sec.arn
	}
	return ""
}

// Ref is the awssm: reference to field of the secret called name (a
// secrettest.Backend method).
func (s *Server) Ref(name, field string) secret.Ref {
	r, err := secret.ParseRef("awssm:" + name + "#" + field)
	if err != nil {
		panic(fmt.Sprintf("awssmtest: bad reference for %q/%q: %v", name, field, err))
	}
	return r
}

// Put writes fields, as a JSON object, as the new AWSCURRENT version of
// the secret called name, creating it if needed (a secrettest.Backend
// method).
func (s *Server) Put(t *testing.T, name string, fields map[string]string) {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatalf("awssmtest: encoding fields: %v", err)
	}
	s.PutString(t, name, string(b))
}

// PutString stores secretString as a new version of the secret called
// name (created if needed) and returns its VersionId. With no stages it
// becomes AWSCURRENT and the version it replaces AWSPREVIOUS, as
// PutSecretValue documents; with stages it gets exactly those labels.
func (s *Server) PutString(t testing.TB, name, secretString string, stages ...string) string {
	t.Helper()
	return s.putLocal(name, &secretString, nil, stages)
}

// PutBinary stores b as a SecretBinary version of the secret called name.
func (s *Server) PutBinary(t testing.TB, name string, b []byte, stages ...string) string {
	t.Helper()
	return s.putLocal(name, nil, b, stages)
}

func (s *Server) putLocal(name string, str *string, bin []byte, stages []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		now := s.now()
		sec = &storedSecret{name: name, arn: s.arnFor(name), created: now, lastChanged: now, versions: map[string]*version{}}
		s.secrets[name] = sec
	}
	return s.addVersion(sec, newVersionID(), str, bin, stages).id
}

// Label attaches stage to the version versionID of the secret called
// name, moving it off whichever version had it (UpdateSecretVersionStage).
func (s *Server) Label(t testing.TB, name, versionID, stage string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil || sec.versions[versionID] == nil {
		t.Fatalf("awssmtest: no version %s of secret %q", versionID, name)
	}
	s.attach(sec, sec.versions[versionID], stage)
	sec.lastChanged = s.now()
}

// Delete removes the secret called name at once (DeleteSecret with
// ForceDeleteWithoutRecovery); reads then answer ResourceNotFoundException.
func (s *Server) Delete(t *testing.T, name string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
}

// Touch edits the secret's metadata as TagResource or UpdateSecret with a
// new description would: LastChangedDate moves, no version is created,
// every version's CreatedDate stays.
func (s *Server) Touch(t testing.TB, name string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		sec.lastChanged = s.now()
	}
}

// Deny makes every request naming the secret called name answer
// AccessDeniedException, as a missing IAM permission would.
func (s *Server) Deny(t testing.TB, name string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[name] = true
}

// Fail makes every request answer 500 InternalServiceError until called
// with false (a secrettest.Failer method).
func (s *Server) Fail(t *testing.T, failing bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = failing
}

// Drop makes every request's connection close without an answer until
// called with false.
func (s *Server) Drop(t testing.TB, dropping bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropping = dropping
}

// Stall makes every request hang, unanswered, until the client gives up
// or the server stops; for timeout tests.
func (s *Server) Stall(t testing.TB, stalled bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = stalled
}

// Requests is how many requests for operation (GetSecretValue, …) passed
// authentication; "" counts every operation.
func (s *Server) Requests(operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if operation != "" {
		return s.requests[operation]
	}
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

// Errors is how many requests were answered with the error code
// (InvalidSignatureException, ResourceNotFoundException, …).
func (s *Server) Errors(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs[code]
}

// ServeHTTP answers one request: fault injection first (an outage comes
// before anything else), then authentication, then the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	w.Header().Set("X-Amzn-Requestid", newVersionID())
	s.mu.Lock()
	failing, dropping, stalled := s.failing, s.dropping, s.stalled
	s.mu.Unlock()
	switch {
	case dropping:
		panic(http.ErrAbortHandler) // closes the connection, unanswered
	case stalled:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case failing:
		s.fail(w, &apiError{http.StatusInternalServerError, "InternalServiceError", "An error occurred on the server side."})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.fail(w, &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "Request body too large or unreadable."})
		return
	}
	if aerr := s.verify(r, body); aerr != nil {
		s.fail(w, aerr)
		return
	}
	out, aerr := s.dispatch(r, body)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.fail(w, &apiError{http.StatusInternalServerError, "InternalFailure", "encoding the response failed"})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// apiError is an error answer: HTTP status, __type and message.
type apiError struct {
	status        int
	code, message string
}

func (s *Server) fail(w http.ResponseWriter, e *apiError) {
	s.mu.Lock()
	s.errs[e.code]++
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func (s *Server) now() time.Time { return s.clock().UTC() }

func (s *Server) arnFor(name string) string {
	// Secrets Manager appends a hyphen and six random characters.
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, Account, name, randomHex(3))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newVersionID is a random UUID (version 4), the shape of the VersionIds
// Secrets Manager and the SDKs generate.
func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
