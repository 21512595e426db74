package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/logtest"
)

// A flood of failed handshakes (port scanners, plaintext to the TLS port)
// is one log line per minute with a count, not one line each.
func TestServerErrorLogThrottlesHandshakeFloods(t *testing.T) {
	t.Parallel()
	log, buf := logtest.JSONLogger()
	clock := clocktest.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	el := newServerErrorLog(log, clock.Now)
	l := el.logger()
	for i := range 200 {
		l.Printf("http: TLS handshake error from 192.0.2.%d:4000: client sent an HTTP request to an HTTPS server", i%250)
	}
	l.Printf("http: Accept error: too many open files; retrying in 5ms")
	l.Printf("http: panic serving 192.0.2.1:4000: boom")
	l.Printf("http: panic serving 192.0.2.2:4000: boom")
	require.Equal(t, 2, strings.Count(buf.String(), `"event":"server_panic"`), "panics are never throttled")
	require.Equal(t, 1, strings.Count(buf.String(), "TLS handshake error"), buf.String())
	require.Equal(t, 1, strings.Count(buf.String(), "Accept error"), "another kind has its own budget")

	clock.Advance(time.Minute)
	l.Printf("http: TLS handshake error from 192.0.2.1:4000: EOF")
	require.Contains(t, buf.String(), `"suppressed_since_last":199`)

	l.Printf("http: TLS handshake error from 192.0.2.2:4000: EOF")
	el.flush()
	require.Contains(t, buf.String(), `"msg":"suppressed similar server errors"`)
	require.Contains(t, buf.String(), `"suppressed_since_last":1`)
	require.Equal(t, 6, strings.Count(strings.TrimSpace(buf.String()), "\n")+1, "six lines in all:\n%s", buf.String())
}
