package config

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/intelgate/intelgate/internal/secret"
)

// validator collects semantic problems, each naming its field. Decoding
// problems come first; a field that already failed to decode is not
// reported again (a refused literal secret should not also read "required").
type validator struct {
	cfg    *Config
	errs   ErrorList
	failed []string
}

func newValidator(c *Config, decodeErrs ErrorList) *validator {
	v := &validator{cfg: c}
	for _, e := range decodeErrs {
		v.failed = append(v.failed, e.Field)
	}
	return v
}

func (v *validator) add(field, format string, args ...any) {
	for _, f := range v.failed {
		if f != "" && (field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[")) {
			return
		}
	}
	v.errs = append(v.errs, &FieldError{Field: field, Line: v.cfg.lineOf(field), Msg: fmt.Sprintf(format, args...)})
}

// Names of providers, clients, environments and keys appear in URLs, logs,
// metrics labels and field paths, so they are kept plain.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

const nameRule = "must be 1–64 letters, digits, '-' or '_', starting with a letter or digit"

// ValidName reports whether s may name a provider, client, environment or
// key; tools that write config (intelgate token new) check with it.
func ValidName(s string) bool { return namePattern.MatchString(s) }

func (v *validator) name(field, s string) {
	if !ValidName(s) {
		v.add(field, "%s", nameRule)
	}
}

func (v *validator) config() {
	c := v.cfg
	v.name("environment", c.Environment)
	v.server()
	v.storage()
	v.shared()
	v.encryption()
	v.minimise()
	v.cacheSettings()
	v.auditSettings()
	v.jobsSettings()
	v.secretSettings()
	v.alerts()
	if len(c.Providers) == 0 {
		v.add("providers", "at least one provider is required")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Providers)) {
		v.provider(name, c.Providers[name])
	}
	if len(c.Clients) == 0 {
		v.add("clients", "at least one client is required")
	}
	tokens := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Clients)) {
		v.client(name, c.Clients[name], tokens)
	}
}

func (v *validator) server() {
	s := v.cfg.Server
	v.listen(s)
	if t := s.TLS; t != nil {
		if t.CertFile == "" {
			v.add("server.tls.cert_file", "required when server.tls is set")
		}
		if t.KeyFile == "" {
			v.add("server.tls.key_file", "required when server.tls is set")
		}
		v.minTLS("server.tls.min_version", t.MinVersion)
	}
	v.prefixes("server.trusted_proxies", s.TrustedProxies)
	for field, d := range map[string]Duration{
		"server.read_header_timeout": s.ReadHeaderTimeout,
		"server.read_timeout":        s.ReadTimeout,
		"server.write_timeout":       s.WriteTimeout,
		"server.idle_timeout":        s.IdleTimeout,
		"server.shutdown_timeout":    s.ShutdownTimeout,
	} {
		if d <= 0 {
			v.add(field, "must be greater than 0 (a zero timeout would mean none, which lets slow clients hold connections)")
		}
	}
	v.positiveSize("server.max_header_bytes", s.MaxHeaderBytes)
	v.positiveSize("server.max_body_bytes", s.MaxBodyBytes)
	v.connectionLimits(s)
	v.authFailures(s.AuthFailures)
}

// connectionLimits refuses limits that would leave the listener unusable
// or make the per-source cap meaningless.
func (v *validator) connectionLimits(s Server) {
	if s.MaxConnections < 1 {
		v.add("server.max_connections", "must be at least 1")
	}
	switch {
	case s.MaxConnectionsPerSource < 1:
		v.add("server.max_connections_per_source", "must be at least 1")
	case s.MaxConnections >= 1 && s.MaxConnectionsPerSource > s.MaxConnections:
		v.add("server.max_connections_per_source", "must not exceed server.max_connections (%d)", s.MaxConnections)
	}
}

// authFailures has no "off" value: a gateway that answers unlimited token
// guesses from one address is the flood this limit exists for.
func (v *validator) authFailures(a AuthFailures) {
	if a.Max < 1 {
		v.add("server.auth_failures.max", "must be at least 1")
	}
	if a.Window <= 0 {
		v.add("server.auth_failures.window", "must be greater than 0")
	}
	if a.MaxSources < 1 {
		v.add("server.auth_failures.max_sources", "must be at least 1 (it bounds the tracker's memory)")
	}
	if a.LogInterval <= 0 {
		v.add("server.auth_failures.log_interval", "must be greater than 0")
	}
}

// listen checks host:port and refuses plaintext beyond loopback unless the
// operator says a TLS-terminating proxy is in front.
func (v *validator) listen(s Server) {
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		v.add("server.listen", "must be host:port, e.g. 127.0.0.1:8080")
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add("server.listen", "port must be a number from 0 to 65535")
		return
	}
	if s.TLS == nil && !s.AllowPlaintext && !isLoopback(host) {
		v.add("server.listen", "%s is not a loopback address and server.tls is not set: gateway tokens would cross "+
			"the network in clear text; configure server.tls, or set server.allow_plaintext: true only when "+
			"intelgate runs behind a TLS-terminating proxy", strconv.Quote(s.Listen))
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (v *validator) minTLS(field string, t TLSVersion) {
	if t < tls.VersionTLS12 {
		v.add(field, "must be at least 1.2")
	}
}

func (v *validator) positiveSize(field string, b ByteSize) {
	if b <= 0 {
		v.add(field, "must be greater than 0")
	}
}

// prefixes refuses CIDRs with host bits set: "10.0.0.1/8" is almost always a
// typo, and silently widening or narrowing an allow-list is a security bug.
func (v *validator) prefixes(field string, ps []netip.Prefix) {
	for i, p := range ps {
		if m := p.Masked(); m != p {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%s has host bits set; write %s", p, m)
		}
	}
}

func (v *validator) storage() {
	s := v.cfg.Storage
	switch s.Driver {
	case "sqlite":
		if s.DSN == "" {
			v.add("storage.dsn", "required: the SQLite database file")
		}
	case "postgres":
		switch _, ok := s.DSNRef(); {
		case s.DSN == "" || s.DSN == DefaultSQLiteDSN:
			v.add("storage.dsn", "required with driver postgres: a secret reference such as env:INTELGATE_POSTGRES_DSN")
		case !ok:
			v.add("storage.dsn", "with driver postgres, must be a secret reference (env:NAME, file:PATH, vault:…, awssm:…), not a literal: a connection string can carry a password")
		}
		// One connection is held for LISTEN (purges), one by the audit
		// writer in a batch, and requests need the rest.
		if s.MaxConnections < 3 {
			v.add("storage.max_connections", "must be at least 3 (one is held for purge notifications, one by the audit writer)")
		}
		if s.Timeout <= 0 {
			v.add("storage.timeout", "must be greater than 0")
		}
	default:
		v.add("storage.driver", "must be sqlite or postgres, not %s", quote(s.Driver))
	}
}

func (v *validator) shared() {
	s := v.cfg.Shared
	switch s.Driver {
	case "memory":
		if !s.URL.IsZero() {
			v.add("shared.url", "only used with driver redis")
		}
	case "redis":
		if s.URL.IsZero() {
			v.add("shared.url", "required with driver redis; a secret reference such as env:REDIS_URL")
		}
	default:
		v.add("shared.driver", "must be memory or redis, not %s", quote(s.Driver))
	}
	if s.Fail != "closed" && s.Fail != "open" {
		v.add("shared.fail", "must be closed (refuse with 503 when Redis is unreachable) or open (call upstream unpaced), not %s", quote(s.Fail))
	}
	if s.Timeout <= 0 {
		v.add("shared.timeout", "must be greater than 0")
	}
}

func (v *validator) encryption() {
	seen := map[string]int{}
	for i, k := range v.cfg.Encryption.Keys {
		field := fmt.Sprintf("encryption.keys[%d]", i)
		v.keyID(field+".id", k.ID, seen, i)
		v.secretRef(field+".secret", k.Secret)
	}
}

// keyID checks a key id's form and uniqueness within its list.
func (v *validator) keyID(field, id string, seen map[string]int, i int) {
	if id == "" {
		v.add(field, "required")
		return
	}
	v.name(field, id)
	if first, dup := seen[id]; dup {
		v.add(field, "duplicate key id %s (also keys[%d])", quote(id), first)
		return
	}
	seen[id] = i
}

func (v *validator) secretRef(field string, r secret.Ref) {
	if r.IsZero() {
		v.add(field, "required; use %s", secret.Syntax)
	}
}
