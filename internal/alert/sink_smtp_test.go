package alert_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// smtpServer is a tiny loopback SMTP relay: EHLO, STARTTLS (when
// offered), AUTH PLAIN, MAIL, RCPT, DATA, QUIT. It records the verbs it
// was sent, the credentials and the message.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	offerTLS bool
	implicit bool

	mu    sync.Mutex
	verbs []string
	auth  string // "user\x00pass"
	data  string
	wg    sync.WaitGroup
}

func newSMTPServer(t *testing.T, offerTLS, implicit bool) (*smtpServer, *x509.CertPool) {
	t.Helper()
	ca := upstreamtest.NewCA(t, "smtp test CA")
	s := &smtpServer{offerTLS: offerTLS, implicit: implicit,
		tls: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, upstreamtest.LeafOptions{})}, MinVersion: tls.VersionTLS12}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if implicit {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	s.wg.Go(s.serve)
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return s, pool
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.session(c) })
	}
}

func (s *smtpServer) record(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verbs = append(s.verbs, verb)
}

func (s *smtpServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.verbs...)
}

func (s *smtpServer) session(c net.Conn) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	secure := s.implicit
	_ = tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.record(verb)
		switch verb {
		case "EHLO":
			ext := []string{"250-test"}
			if s.offerTLS && !secure {
				ext = append(ext, "250-STARTTLS")
			}
			ext = append(ext, "250 AUTH PLAIN") // offered even in plaintext: the client must still refuse
			_ = tp.PrintfLine("%s", strings.Join(ext, "\r\n"))
		case "STARTTLS":
			_ = tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, tp, secure = tc, textproto.NewConn(tc), true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			s.mu.Lock()
			s.auth = mech + ":" + strings.TrimPrefix(string(b), "\x00")
			s.mu.Unlock()
			_ = tp.PrintfLine("235 2.7.0 ok")
		case "MAIL", "RCPT":
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go on")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.data = string(b)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 unknown")
		}
	}
}

func smtpSink(t *testing.T, port int, pool *x509.CertPool, implicit bool) *alert.SMTPSink {
	t.Helper()
	s, err := alert.NewSMTPSink(alert.SMTPOptions{Host: "127.0.0.1", Port: port, ImplicitTLS: implicit,
		From: "intelgate@example.com", To: []string{"soc@example.com", "On Call <oncall@example.com>"},
		Username: alert.StaticSecret(secret.NewValue("intelgate")), Password: alert.StaticSecret(secret.NewValue("smtp-pass-value")),
		RootCAs: pool})
	require.NoError(t, err)
	return s
}

func TestSMTPStartTLS(t *testing.T) {
	t.Parallel()
	srv, pool := newSMTPServer(t, true, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, smtpSink(t, srv.port(), pool, false).Send(ctx, sampleNotification()))
	require.Equal(t, []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}, srv.seen())
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Equal(t, "PLAIN:intelgate\x00smtp-pass-value", srv.auth)
	msg, err := textproto.NewReader(bufio.NewReader(strings.NewReader(srv.data))).ReadMIMEHeader()
	require.NoError(t, err)
	require.Equal(t, "[intelgate] CRITICAL key_rejected fired: provider=socialeye,key_id=prod-1", msg.Get("Subject"))
	require.Equal(t, "quoted-printable", msg.Get("Content-Transfer-Encoding"))
	require.Equal(t, "<msg_0123456789abcdef@intelgate>", msg.Get("Message-Id"))
	require.Contains(t, srv.data, "rejected key prod-1")
}

func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	srv, pool := newSMTPServer(t, false, true)
	require.NoError(t, smtpSink(t, srv.port(), pool, true).Send(context.Background(), sampleNotification()))
	require.Equal(t, []string{"EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}, srv.seen())
}

// A relay that offers no STARTTLS gets nothing: no AUTH (even though it
// offers AUTH, and is on loopback, where net/smtp's PlainAuth alone
// would send the password), no message.
func TestSMTPRefusesPlaintext(t *testing.T) {
	t.Parallel()
	srv, pool := newSMTPServer(t, false, false)
	err := smtpSink(t, srv.port(), pool, false).Send(context.Background(), sampleNotification())
	require.ErrorIs(t, err, alert.ErrNoTLS)
	require.NotContains(t, srv.seen(), "AUTH")
	require.NotContains(t, srv.seen(), "MAIL")
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Empty(t, srv.auth)
}

// A certificate the pool does not trust fails the handshake: nothing is
// sent.
func TestSMTPUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv, _ := newSMTPServer(t, true, false)
	other := x509.NewCertPool()
	other.AddCert(upstreamtest.NewCA(t, "someone else").Cert)
	err := smtpSink(t, srv.port(), other, false).Send(context.Background(), sampleNotification())
	var uerr x509.UnknownAuthorityError
	require.True(t, errors.As(err, &uerr), "%v", err)
	require.NotContains(t, srv.seen(), "AUTH")
}

func TestSMTPOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]alert.SMTPOptions{
		"no host":      {From: "a@example.com", To: []string{"b@example.com"}},
		"bad from":     {Host: "smtp.example.com", From: "nope", To: []string{"b@example.com"}},
		"no recipient": {Host: "smtp.example.com", From: "a@example.com"},
		"half creds":   {Host: "smtp.example.com", From: "a@example.com", To: []string{"b@example.com"}, Username: alert.StaticSecret(secret.NewValue("u"))},
	} {
		_, err := alert.NewSMTPSink(o)
		require.Error(t, err, name)
	}
	s, err := alert.NewSMTPSink(alert.SMTPOptions{Host: "127.0.0.1", Port: closedPort(t), From: "a@example.com", To: []string{"b@example.com"}})
	require.NoError(t, err)
	require.Error(t, s.Send(context.Background(), sampleNotification()))
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	p, _ := strconv.Atoi(port)
	return p
}
