package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
)

// SMTPOptions configure an SMTPSink.
type SMTPOptions struct {
	Host string
	Port int // default 587
	// ImplicitTLS speaks TLS from the first byte (port 465); otherwise
	// the relay must offer STARTTLS, or nothing is sent.
	ImplicitTLS bool
	From        string
	To          []string
	// Username and Password, when set, authenticate with AUTH PLAIN —
	// over TLS only, loopback relays included.
	Username, Password SecretFunc
	RootCAs            *x509.CertPool
	// LocalName is the EHLO name (default "localhost").
	LocalName string
	Clock     clock.Clock
}

// SMTPSink mails each notification, always over TLS: implicit TLS, or
// STARTTLS, which it requires; a relay that does not offer it gets
// nothing, credentials least of all.
type SMTPSink struct {
	o    SMTPOptions
	from *mail.Address
	to   []*mail.Address
}

// NewSMTPSink checks o.
func NewSMTPSink(o SMTPOptions) (*SMTPSink, error) {
	if o.Host == "" {
		return nil, errors.New("smtp sink: host is required")
	}
	if o.Port == 0 {
		o.Port = 587
	}
	if o.LocalName == "" {
		o.LocalName = "localhost"
	}
	o.Clock = clock.Or(o.Clock)
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("smtp sink: from: %w", err)
	}
	s := &SMTPSink{o: o, from: from}
	for _, t := range o.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("smtp sink: to: %w", err)
		}
		s.to = append(s.to, a)
	}
	if len(s.to) == 0 {
		return nil, errors.New("smtp sink: at least one recipient is required")
	}
	if (o.Username == nil) != (o.Password == nil) {
		return nil, errors.New("smtp sink: username and password go together")
	}
	return s, nil
}

// ErrNoTLS: the relay offered no STARTTLS; nothing was sent.
var ErrNoTLS = errors.New("the SMTP relay does not offer STARTTLS; refusing to send (or authenticate) in plaintext")

// Send delivers n.
func (s *SMTPSink) Send(ctx context.Context, n Notification) error {
	addr := net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to the SMTP relay: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer func() { _ = conn.Close() }()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	tcfg := &tls.Config{ServerName: s.o.Host, MinVersion: tls.VersionTLS12, RootCAs: s.o.RootCAs}
	if s.o.ImplicitTLS {
		tc := tls.Client(conn, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS with the SMTP relay: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.o.Host)
	if err != nil {
		return fmt.Errorf("greeting from the SMTP relay: %w", err)
	}
	defer func() { _ = c.Close() }()
	if err := s.session(c, tcfg, n); err != nil {
		return err
	}
	return c.Quit()
}

func (s *SMTPSink) session(c *smtp.Client, tcfg *tls.Config, n Notification) error {
	if err := c.Hello(s.o.LocalName); err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if !s.o.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return Permanent(ErrNoTLS)
		}
		if err := c.StartTLS(tcfg); err != nil {
			return fmt.Errorf("smtp STARTTLS: %w", err)
		}
	}
	if s.o.Username != nil {
		user, ok1 := s.o.Username()
		pass, ok2 := s.o.Password()
		if !ok1 || !ok2 {
			return Permanent(errors.New("the SMTP credentials are not available"))
		}
		a := tlsOnlyAuth{host: s.o.Host, inner: smtp.PlainAuth("", user.Reveal(), pass.Reveal(), s.o.Host)}
		if err := c.Auth(a); err != nil {
			return Permanent(fmt.Errorf("smtp AUTH: %w", smtpErr(err)))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	for _, t := range s.to {
		if err := c.Rcpt(t.Address); err != nil {
			return fmt.Errorf("smtp RCPT TO: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(s.message(n)); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	return nil
}

// smtpErr keeps an AUTH failure's status and drops its text, which some
// relays fill with what was sent.
func smtpErr(err error) error {
	if s, _, ok := strings.Cut(err.Error(), " "); ok && len(s) == 3 {
		return errors.New("the relay answered " + s)
	}
	return err
}

// tlsOnlyAuth refuses to authenticate unless the connection is TLS.
// net/smtp's PlainAuth already refuses plaintext to remote hosts but
// allows it to localhost; a local relay that offers no TLS is just as
// likely a proxy that forwards in clear.
type tlsOnlyAuth struct {
	host  string
	inner smtp.Auth
}

func (a tlsOnlyAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errors.New("refusing AUTH over a connection without TLS")
	}
	return a.inner.Start(server)
}

func (a tlsOnlyAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}

// message is the mail: plain text, headers from fixed words, names and
// numbers only (no CR or LF can come in through a label).
func (s *SMTPSink) message(n Notification) []byte {
	a := n.Alert
	var b bytes.Buffer
	hdr := func(k, v string) {
		fmt.Fprintf(&b, "%s: %s\r\n", k, strings.NewReplacer("\r", " ", "\n", " ").Replace(v))
	}
	to := make([]string, len(s.to))
	for i, t := range s.to {
		to[i] = t.String()
	}
	hdr("From", s.from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", fmt.Sprintf("[intelgate] %s %s %s: %s", strings.ToUpper(string(a.Severity)), a.Rule, n.Event, a.DedupeKey))
	hdr("Date", s.o.Clock.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+n.ID+"@intelgate>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	// Quoted-printable: a summary may hold a non-ASCII character (×), and
	// no relay is asked to carry 8-bit data it did not offer.
	qp := quotedprintable.NewWriter(&b)
	fmt.Fprintf(qp, "%s\r\n\r\n", a.Summary)
	fmt.Fprintf(qp, "rule:       %s\r\nseverity:   %s\r\nstate:      %s\r\nevent:      %s\r\n", a.Rule, a.Severity, a.State, n.Event)
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		fmt.Fprintf(qp, "%-11s %s\r\n", k+":", a.Labels[k])
	}
	fmt.Fprintf(qp, "count:      %d\r\nfirst seen: %s\r\nlast seen:  %s\r\nalert id:   %s\r\n", a.Count,
		a.FirstSeen.UTC().Format(time.RFC3339), a.LastSeen.UTC().Format(time.RFC3339), a.ID)
	_ = qp.Close() // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}
