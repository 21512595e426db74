package upstream

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSessionResumptionStillPins: a Client resumes TLS sessions (a new
// connection skips the full handshake), and resumption skips no check. The
// pin check lives in tls.Config.VerifyConnection, which crypto/tls calls on
// resumed connections too (unlike VerifyPeerCertificate), with the chains
// verified when the session was made: a client with the wrong pin, handed
// a cache holding a good session for the same server, resumes it and is
// still refused.
func TestSessionResumptionStillPins(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			t.Parallel()
			srv := startTLS(t, p.leaf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"resumed":%t,"version":%d}`, r.TLS.DidResume, r.TLS.Version)
			}), func(c *tls.Config) { c.MaxVersion = version })

			good := newClient(t, Options{CAFile: p.caFile, Pins: []string{Pin(p.leaf.Leaf)}})
			resp, err := get(t.Context(), t, good, srv.URL, Validation{})
			require.NoError(t, err)
			require.JSONEq(t, fmt.Sprintf(`{"resumed":false,"version":%d}`, version), string(resp.Body))
			good.CloseIdleConnections() // the next call must open a new connection
			resp, err = get(t.Context(), t, good, srv.URL, Validation{})
			require.NoError(t, err)
			require.JSONEq(t, fmt.Sprintf(`{"resumed":true,"version":%d}`, version), string(resp.Body),
				"a second connection resumes the session")

			bad := newClient(t, Options{CAFile: p.caFile, Pins: []string{randomPin(t)}})
			cfg := bad.transport.TLSClientConfig // the transport clones it per dial; none has happened yet
			cfg.ClientSessionCache = good.transport.TLSClientConfig.ClientSessionCache
			pinCheck := cfg.VerifyConnection
			require.NotNil(t, pinCheck)
			var checkedResumed atomic.Bool
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				checkedResumed.Store(cs.DidResume)
				return pinCheck(cs)
			}
			_, err = get(t.Context(), t, bad, srv.URL, Validation{})
			ue := requireKind(t, err, KindTLS)
			require.Equal(t, errPinMismatch.Error(), ue.Detail)
			require.True(t, ue.NotSent, "refused in the handshake: the request was never written")
			require.True(t, checkedResumed.Load(), "the pin check ran on a resumed session, and refused it")
		})
	}
}

// TestSessionCacheIsPerClient: two Clients never share sessions, so a
// session is only resumed under the policy (roots, pins) that verified it.
func TestSessionCacheIsPerClient(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	a := newClient(t, Options{CAFile: p.caFile})
	b := newClient(t, Options{CAFile: p.caFile})
	ca, cb := a.transport.TLSClientConfig.ClientSessionCache, b.transport.TLSClientConfig.ClientSessionCache
	require.NotNil(t, ca)
	require.NotSame(t, ca, cb)
}
