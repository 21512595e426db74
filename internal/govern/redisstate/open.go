package redisstate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis at rawURL (redis:// or rediss://, with
// go-redis's query options). rediss uses TLS 1.2 or later with the
// system's roots; skip_verify is refused.
//
// Open does not fail when Redis is down: the gateway must start anyway,
// report the outage on /readyz (Ping) and apply its fail mode per request
// until Redis returns. When Redis is reachable, Open loads the scripts
// (bounded by ctx and OpTimeout) so first requests skip a NOSCRIPT round
// trip. Errors never contain the URL, which may hold a password.
func Open(ctx context.Context, rawURL string, opts Options) (*State, error) {
	ro, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	// Deadlines come from each operation's context (OpTimeout), not from
	// go-redis's multi-second defaults.
	ro.ContextTimeoutEnabled = true
	if ro.DialTimeout <= 0 {
		ro.DialTimeout = max(opts.OpTimeout, minDialTimeout)
	}
	if ro.TLSConfig != nil {
		// go-redis dials TLS without the context; this dialer honours it.
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: ro.DialTimeout}, Config: ro.TLSConfig}
		ro.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	s := New(redis.NewClient(ro), opts)
	s.owned = true
	_ = s.do(ctx, "load scripts", s.loadScripts) // best effort: see above
	return s, nil
}

// minDialTimeout keeps a tiny OpTimeout from making connection set-up (a
// TLS handshake across a network) impossible; the operation itself still
// returns after OpTimeout and later operations reuse the connection.
const minDialTimeout = 500 * time.Millisecond

// errBadURL is every URL error: the parser's own messages can quote the
// URL, password included, so they are never passed on.
var errBadURL = errors.New("redisstate: invalid Redis URL (want redis://[user:password@]host:port/db or rediss://…)")

// parseURL turns rawURL into go-redis options, with errors that never
// quote it.
func parseURL(rawURL string) (*redis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errBadURL
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redisstate: Redis URL scheme must be redis or rediss, not %q", redactedScheme(u.Scheme))
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis names the offending option or path, which is useful and
		// holds no credential; anything that might quote them is dropped.
		if msg := err.Error(); !leaks(msg, u) {
			return nil, fmt.Errorf("redisstate: invalid Redis URL: %s", msg)
		}
		return nil, errBadURL
	}
	if ro.TLSConfig != nil {
		if ro.TLSConfig.InsecureSkipVerify {
			return nil, errors.New("redisstate: invalid Redis URL: skip_verify is not allowed (it accepts any certificate)")
		}
		ro.TLSConfig.MinVersion = max(ro.TLSConfig.MinVersion, tls.VersionTLS12)
	}
	return ro, nil
}

// leaks reports whether msg quotes u's credentials or u itself.
func leaks(msg string, u *url.URL) bool {
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" && strings.Contains(msg, p) {
			return true
		}
		if name := u.User.Username(); name != "" && strings.Contains(msg, name) {
			return true
		}
	}
	return strings.Contains(msg, "://") || strings.Contains(msg, "@")
}

// redactedScheme keeps a mistyped scheme readable while refusing anything
// long enough to be something else pasted into the field.
func redactedScheme(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
