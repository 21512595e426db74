package alert

import (
	"net/smtp"
	"testing"

	"github.com/stretchr/testify/require"
)

// net/smtp's PlainAuth sends the password in clear to a server named
// localhost or a loopback address; the sink's wrapper does not, whatever
// the server's name.
func TestTLSOnlyAuthRefusesPlaintext(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"localhost", "127.0.0.1", "smtp.example.com"} {
		inner := smtp.PlainAuth("", "user", "pass", host)
		if host != "smtp.example.com" {
			_, _, err := inner.Start(&smtp.ServerInfo{Name: host, TLS: false, Auth: []string{"PLAIN"}})
			require.NoError(t, err, "the standard library allows %s in plaintext", host)
		}
		a := tlsOnlyAuth{host: host, inner: inner}
		_, resp, err := a.Start(&smtp.ServerInfo{Name: host, TLS: false, Auth: []string{"PLAIN"}})
		require.ErrorContains(t, err, "refusing AUTH over a connection without TLS")
		require.Nil(t, resp)
		_, resp, err = a.Start(&smtp.ServerInfo{Name: host, TLS: true, Auth: []string{"PLAIN"}})
		require.NoError(t, err)
		require.Equal(t, "\x00user\x00pass", string(resp))
	}
}
