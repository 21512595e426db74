package callback_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// testHost is the allow-listed name the fake DNS answers for.
const testHost = "hooks.example.test"

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T) (webhooksig.Key, string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(b)
	k, err := webhooksig.ParseKey(secret)
	require.NoError(t, err)
	return k, secret
}

// request is what the receiver saw of one callback.
type request struct {
	host   string // the Host header
	header http.Header
	body   []byte
	verify error // webhooksig.Verifier's verdict
}

// receiver is a real TLS server on loopback with a certificate for
// testHost, 127.0.0.1 and ::1 (httptest's own names only example.com), and
// the pool that trusts it. respond answers request number n (1-based);
// every request is verified and kept, for the test's goroutine to assert.
type receiver struct {
	srv  *httptest.Server
	pool *x509.CertPool
	port string

	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, v webhooksig.Verifier, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := v.Verify(body, r.Header)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{host: r.Host, header: r.Header.Clone(), body: body, verify: err})
		n := len(rc.reqs)
		rc.mu.Unlock()
		respond(n, w, r)
	}))
	cert, pool := selfSigned(t)
	rc.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	rc.pool = pool
	_, rc.port, _ = net.SplitHostPort(rc.srv.Listener.Addr().String())
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// url is the receiver's URL under host.
func (rc *receiver) url(host, path string) string {
	return "https://" + net.JoinHostPort(host, rc.port) + path
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "callback test receiver"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		DNSNames:              []string{testHost},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// fakeDNS is a DNS server on loopback UDP answering A and AAAA queries
// from names (lower case, no trailing dot), and a resolver that asks only
// it.
func fakeDNS(t *testing.T, names map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	go serveDNS(pc, names)
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func serveDNS(pc net.PacketConn, names map[string][]netip.Addr) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return // closed at cleanup
		}
		if resp, err := answerDNS(buf[:n], names); err == nil {
			_, _ = pc.WriteTo(resp, from)
		}
	}
}

func answerDNS(query []byte, names map[string][]netip.Addr) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	addrs, known := names[strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rrh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rrh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rrh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// newDeliverer has test-sized timeouts, the receiver's roots, no jitter
// randomness (jitter is a fixed fraction of each ceiling) and clk.
func newDeliverer(t *testing.T, o callback.Options) *callback.Deliverer {
	t.Helper()
	if o.Rand == nil {
		o.Rand = func() float64 { return 0.5 }
	}
	o.DialTimeout, o.TLSHandshakeTimeout, o.ResponseHeaderTimeout = 5*time.Second, 5*time.Second, 5*time.Second
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	d := callback.New(o)
	t.Cleanup(d.Close)
	return d
}

func verifier(k webhooksig.Key, clk *clocktest.Clock) webhooksig.Verifier {
	return webhooksig.Verifier{Keys: []webhooksig.Key{k}, Clock: clk}
}

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// attemptErr is err as an *AttemptError.
func attemptErr(t *testing.T, err error) *callback.AttemptError {
	t.Helper()
	var ae *callback.AttemptError
	require.True(t, errors.As(err, &ae), "%v is not an *AttemptError", err)
	return ae
}
