// Package callback delivers job callbacks: one signed Standard Webhooks
// POST (internal/webhooksig) of a job's summary to the URL a client gave,
// retried with the shared backoff law (internal/backoff), every attempt
// returned as a Record for the job's history.
//
// Why a package of its own rather than the alert sinks' poster: the alert
// URLs come from the operator's config, but a callback URL comes from a
// client's request, and a client that can make the gateway POST anywhere
// can make it reach what only the gateway can reach — the cloud metadata
// endpoint, an admin port on loopback, a database on the private network.
// So a target passes two checks:
//
//   - Policy.ValidateURL, at submit time: https (http:// only with
//     AllowPlaintext), a host in the client's callback_hosts, no
//     credentials, no fragment, a valid port, and a literal IP address
//     outside the refused ranges. Its errors say what is wrong, for the
//     client's 400.
//   - The dialer, at connect time: every address the connection is about
//     to be made to — after DNS, on every attempt — is checked against the
//     refused ranges (loopback, RFC 1918, link-local, unique local, CGNAT,
//     reserved, documentation and benchmarking ranges, and IPv6 forms that
//     embed any of them). A host name the client may use but that resolves
//     (or re-resolves, DNS rebinding) to a private address is refused
//     here, where the answer that counts is known. ValidateURL alone could
//     never decide that.
//
// AllowPrivate lifts the second check for loopback and private ranges (an
// on-premises SOAR, tests); link-local (the metadata endpoints),
// unspecified, multicast and broadcast addresses stay refused even then.
//
// No proxy from the environment is used (it would connect for us, past the
// dialer's check), no redirect is followed (a 3xx could point anywhere: it
// is a failed delivery), and response bodies are read up to a cap and
// thrown away: they never reach an error or a Record, and neither does the
// signing secret.
package callback
