// Package tlspolicy is the one TLS policy the gateway applies on both
// sides: the listener its clients connect to and the transport it calls
// upstreams with. One place, so the two can never drift apart.
package tlspolicy

import "crypto/tls"

// MinVersion is the lowest TLS version either side speaks.
const MinVersion = tls.VersionTLS12

// CipherSuites are the TLS 1.2 suites offered and accepted: forward
// secrecy (ECDHE) and AEAD only. No CBC (padding oracles, Lucky13), no
// static RSA key exchange. TLS 1.3 suites are not configurable and are all
// AEAD already. A fresh slice each call: a tls.Config may keep it.
func CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}
