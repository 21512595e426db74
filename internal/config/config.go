// Package config loads, defaults and strictly validates intelgate's YAML
// configuration. Unknown fields are errors; every problem is reported at once,
// each naming its field (and line, where the parser gives one).
package config

import (
	"net/netip"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// Config is the whole configuration file.
type Config struct {
	Server      Server        `yaml:"server"`
	Environment string        `yaml:"environment"`
	Storage     Storage       `yaml:"storage"`
	Shared      Shared        `yaml:"shared"`
	Encryption  Encryption    `yaml:"encryption"`
	Cache       CacheSettings `yaml:"cache"`
	Retention   Retention     `yaml:"retention"`
	Audit       Audit         `yaml:"audit"`
	// Secrets are the remote secret sources and how often every secret
	// is re-read (internal/config/secretsources.go).
	Secrets SecretSettings `yaml:"secrets"`
	// Rotation is how old an upstream key may get and how long a replaced
	// one is still used (internal/config/secretsources.go).
	Rotation Rotation `yaml:"rotation"`
	// Alerts are the built-in alert rules, their sinks and the actions
	// they take (internal/config/alerts.go).
	Alerts Alerts `yaml:"alerts"`
	// Jobs is the bulk lookup queue (internal/config/jobs.go).
	Jobs Jobs `yaml:"jobs"`
	// NeverSend is the global rule set: what no provider is ever asked.
	NeverSend NeverSend            `yaml:"never_send"`
	Providers map[string]*Provider `yaml:"providers"`
	Clients   map[string]*Client   `yaml:"clients"`

	// BaseDir is the directory of the loaded file; relative paths in the
	// config (ca_file, schema_file, storage dsn, file: secrets) resolve
	// against it and are stored absolute after Load.
	BaseDir string `yaml:"-"`

	// lines maps a field path ("providers.socialeye.timeout") to the line
	// it was written on, so checks made after decoding can still point at
	// the right line.
	lines map[string]int
}

// Server is the inbound listener.
type Server struct {
	Listen            string         `yaml:"listen"` // default 127.0.0.1:8080
	TLS               *ServerTLS     `yaml:"tls"`
	AllowPlaintext    bool           `yaml:"allow_plaintext"`
	TrustedProxies    []netip.Prefix `yaml:"trusted_proxies"`
	LogIndicators     bool           `yaml:"log_indicators"`
	ReadHeaderTimeout Duration       `yaml:"read_header_timeout"` // default 5s
	ReadTimeout       Duration       `yaml:"read_timeout"`        // default 15s
	WriteTimeout      Duration       `yaml:"write_timeout"`       // default 60s
	IdleTimeout       Duration       `yaml:"idle_timeout"`        // default 120s
	ShutdownTimeout   Duration       `yaml:"shutdown_timeout"`    // default 30s
	MaxHeaderBytes    ByteSize       `yaml:"max_header_bytes"`    // default 16KiB
	MaxBodyBytes      ByteSize       `yaml:"max_body_bytes"`      // default 1MiB
	// MaxConnections caps open inbound connections (default 4096). When
	// full, idle keep-alive connections are closed, oldest first, so a new
	// client is still served; only when none is idle is it refused.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerSource caps the connections of one source address
	// (IPv6: one /64) so one host cannot hold them all (default 256).
	// Connections from trusted_proxies are exempt: behind a proxy every
	// connection carries the proxy's address.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
	// AuthFailures bounds token guessing and the log volume it causes.
	AuthFailures AuthFailures `yaml:"auth_failures"`
	// MetricsListen is the address of a separate plaintext listener for
	// /metrics (loopback only unless MetricsAllowRemote). Unset: /metrics
	// is served on the main listener, to admin clients only.
	MetricsListen      string `yaml:"metrics_listen"`
	MetricsAllowRemote bool   `yaml:"metrics_allow_remote"`
}

// AuthFailures is the per-source authentication failure limit. A source
// (the client address after trusted_proxies; IPv6 grouped by /64) with Max
// failures within Window is answered 429 for every authenticated request
// until that window ends. At most MaxSources sources are tracked (least
// recently failing forgotten first), so a flood of distinct addresses
// cannot grow memory. Failures are logged as one line per source per
// LogInterval, with counts.
type AuthFailures struct {
	Max         int      `yaml:"max"`          // default 10
	Window      Duration `yaml:"window"`       // default 1m
	MaxSources  int      `yaml:"max_sources"`  // default 10000
	LogInterval Duration `yaml:"log_interval"` // default 1m
}

// ServerTLS is the listener's certificate.
type ServerTLS struct {
	CertFile   string     `yaml:"cert_file"`
	KeyFile    string     `yaml:"key_file"`
	MinVersion TLSVersion `yaml:"min_version"` // default 1.2; below 1.2 is an error
}

// Storage is durable state. Driver sqlite (default; DSN is a file path,
// default intelgate.db beside the config) or postgres (DSN is a secret
// reference — env:, file:, … — since a connection string can carry a
// password; the reference is resolved with the other secrets).
type Storage struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	// Timeout bounds each PostgreSQL operation (default 5s).
	Timeout Duration `yaml:"timeout"`
	// MaxConnections is the PostgreSQL pool size (default 10).
	MaxConnections int `yaml:"max_connections"`
}

// DSNRef is storage.dsn as the secret reference the postgres driver
// requires; ok is false when it is not one.
func (s Storage) DSNRef() (ref secret.Ref, ok bool) {
	r, err := secret.ParseRef(s.DSN)
	return r, err == nil
}

// Audit configures the audit log.
type Audit struct {
	// Indicators: hmac (default) keeps a keyed HMAC of each indicator;
	// plaintext keeps it sealed with the data-at-rest key.
	Indicators string `yaml:"indicators"`
	// QueueSize bounds the records waiting to be written (default 8192);
	// beyond it records are dropped, counted and logged.
	QueueSize int `yaml:"queue_size"`
	// CheckpointEvery and CheckpointInterval: a checkpoint after this many
	// records (default 10000), or after this long (default 5m) when any
	// were written.
	CheckpointEvery    int      `yaml:"checkpoint_every"`
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
}

// Shared is hot state shared between replicas: memory (default) or redis.
type Shared struct {
	Driver string     `yaml:"driver"`
	URL    secret.Ref `yaml:"url"` // a redis URL can carry a password: a reference
	// Fail decides what happens when Redis is unreachable: closed (default)
	// refuses upstream calls with 503, open lets them through unpaced.
	Fail string `yaml:"fail"`
	// Timeout bounds every Redis operation (default 250ms).
	Timeout Duration `yaml:"timeout"`
	// Prefix namespaces intelgate's Redis keys (default "intelgate:").
	Prefix string `yaml:"prefix"`
}

// Encryption holds data-at-rest keys; the first writes, all read.
type Encryption struct {
	Keys []EncryptionKey `yaml:"keys"`
}

// EncryptionKey is one data-at-rest key.
type EncryptionKey struct {
	ID     string     `yaml:"id"`
	Secret secret.Ref `yaml:"secret"`
}

// Provider is one upstream API.
type Provider struct {
	Kind string `yaml:"kind"` // socialeye | http
	// Preset names a built-in description of a vendor's API (internal/preset)
	// that this block is merged over; Tier picks its free (default) or
	// paid plan's limits.
	Preset string `yaml:"preset"`
	Tier   string `yaml:"tier"`
	// PresetSchema is the preset's embedded response schema, used when the
	// block names no schema_file of its own; PresetSchemaName is its file
	// name, for messages. Set by loading, never by YAML.
	PresetSchema     []byte `yaml:"-"`
	PresetSchemaName string `yaml:"-"`
	// Compat describes the vendor-compatible routes, /{provider}/…, that
	// mirror the vendor's own lookup API (presets set it; nil: none).
	Compat *Compat `yaml:"compat"`
	// Webhooks are the provider's inbound webhooks (nil: none accepted).
	Webhooks         *ProviderWebhooks `yaml:"webhooks"`
	BaseURL          string            `yaml:"base_url"`
	Keys             []Key             `yaml:"keys"`
	TLS              ProviderTLS       `yaml:"tls"`
	Timeout          Duration          `yaml:"timeout"`            // default 30s
	MaxResponseBytes ByteSize          `yaml:"max_response_bytes"` // default 5MiB
	// MaxConnections bounds the connections open to the upstream at once
	// (default 64), and as many are kept idle for reuse: a call beyond the
	// idle pool would otherwise dial and handshake TLS anew.
	MaxConnections int     `yaml:"max_connections"`
	Limits         Limits  `yaml:"limits"`
	Retry          Retry   `yaml:"retry"`
	Breaker        Breaker `yaml:"breaker"`
	Cache          Cache   `yaml:"cache"`
	// MaxTLP and MaxPAP are the highest TLP 2.0 / PAP markings a request
	// may carry and still be sent to this provider (default amber).
	MaxTLP string `yaml:"max_tlp"`
	MaxPAP string `yaml:"max_pap"`
	// NeverSend adds rules of this provider's own to the global ones.
	NeverSend *NeverSend `yaml:"never_send"`
	// Types the provider answers for; socialeye defaults to all types.
	Types []indicator.Type `yaml:"types"`
	// Request describes a kind: http provider's call (required for http,
	// an error for socialeye).
	Request *HTTPRequest `yaml:"request"`
	// SchemaFile is an optional JSON Schema every 2xx body must match.
	SchemaFile string `yaml:"schema_file"`
	// RevokeOn lists the statuses that, answered to a lookup, make the key
	// used suspect (default [401]). A suspect key is only taken out of
	// rotation when AuthCheck confirms it: a lookup's indicator is chosen
	// by a client, and a 403 is often about the resource, not the key.
	RevokeOn []int `yaml:"revoke_on"`
	// AuthCheck is the fixed request that confirms or clears a suspect key
	// and re-checks a revoked one. socialeye has a default; without one an
	// http provider never revokes a key, it only reports it.
	AuthCheck *AuthCheck `yaml:"auth_check"`
}

// AuthCheck is a request known to succeed with a valid key: a vendor's
// account or quota endpoint (Path, kind http only), or a fixed neutral
// indicator looked up through the provider's own request (Indicator).
type AuthCheck struct {
	Indicator string `yaml:"indicator"`
	// Type is the indicator's type (default: detected), for {type}.
	Type indicator.Type `yaml:"type"`
	// Path is appended to base_url and sent with GET, the provider's
	// headers and its key placement; it takes no placeholders.
	Path string `yaml:"path"`
	// RevokeOn lists the statuses that, answered to the check, revoke the
	// key (default [401, 403]): the check's target is fixed and ours, so
	// a refusal there is about the key.
	RevokeOn []int `yaml:"revoke_on"`
}

// HTTPRequest is the declarative description of a kind: http call.
type HTTPRequest struct {
	Method string `yaml:"method"` // default GET
	// Path is appended to base_url; {indicator} is replaced by the
	// path-escaped normalised indicator, {type} by its type.
	Path string `yaml:"path"`
	// Query parameters; values may use {indicator} and {type}.
	Query   map[string]string `yaml:"query"`
	Headers map[string]string `yaml:"headers"`
	Auth    Auth              `yaml:"auth"`
	// NotFoundStatus lists upstream statuses meaning "no data" (default [404]).
	NotFoundStatus []int `yaml:"not_found_status"`
	// NotFoundWhen lists 2xx answers that mean "no data" all the same:
	// APIs such as abuse.ch's answer 200 with {"query_status":"no_results"}.
	NotFoundWhen []BodyMatch `yaml:"not_found_when"`
	// OKStatus lists other 2xx statuses the vendor documents as a success
	// with a full JSON body (GreyNoise answers 206 Partial Content when the
	// plan hides some fields), beside 200, 201 and 203.
	OKStatus []int `yaml:"ok_status"`
	// Response is the JSON shape a 2xx answer must have: object (default)
	// or array (Have I Been Pwned answers a list of breaches).
	Response string `yaml:"response"`
	// RateLimitHeaders names the vendor's own rate-limit headers when they
	// are not one of the common spellings the gateway reads anyway.
	RateLimitHeaders *RateLimitHeaders `yaml:"rate_limit_headers"`
	// Endpoints gives each indicator type its own call (method, path,
	// query, body), for APIs with one endpoint per type; the fields above
	// (auth, headers, not-found rules) apply to all of them. With
	// endpoints, method, path and query above must be left out.
	Endpoints map[indicator.Type]*Endpoint `yaml:"endpoints"`
}

// Endpoint is the call of one indicator type.
type Endpoint struct {
	Method string            `yaml:"method"` // default GET
	Path   string            `yaml:"path"`
	Query  map[string]string `yaml:"query"`
	// Body is how a POST carries Query: form (default) or json (a JSON
	// object of string fields).
	Body string `yaml:"body"`
	// NotFoundStatus and NotFoundWhen replace the request's, when given.
	NotFoundStatus []int       `yaml:"not_found_status"`
	NotFoundWhen   []BodyMatch `yaml:"not_found_when"`
}

// BodyMatch matches a JSON answer whose value at Pointer (RFC 6901) is one
// of Equals, compared as JSON text without a string's quotes.
type BodyMatch struct {
	Pointer string   `yaml:"pointer"`
	Equals  []string `yaml:"equals"`
}

// RateLimitHeaders are the names of a vendor's rate-limit headers.
type RateLimitHeaders struct {
	Limit     string `yaml:"limit"`
	Remaining string `yaml:"remaining"`
	Reset     string `yaml:"reset"`
	// ResetFormat is what Reset holds: unix (epoch seconds), seconds
	// (until the reset) or http-date.
	ResetFormat string `yaml:"reset_format"`
}

// Compat is a provider's vendor-compatible API: the vendor's own lookup
// routes, served under /{provider}/, so that an integration written for
// the vendor works by changing its base URL and key.
type Compat struct {
	// Enabled false turns the routes off (default true when routes exist).
	Enabled *bool `yaml:"enabled"`
	// Key lists where the vendor's clients send their key; the gateway
	// token is read from there and never forwarded.
	Key    []CompatKey   `yaml:"key"`
	Routes []CompatRoute `yaml:"routes"`
	// NotFound is the vendor's own documented "no data" answer, sent when
	// the lookup finds nothing (nil: a 404 problem). A fixed body written
	// in the preset, never an upstream's: abuse.ch clients read a 200 with
	// {"query_status":"no_results"}, VirusTotal's a 404 NotFoundError.
	NotFound *CompatAnswer `yaml:"not_found"`
}

// CompatAnswer is a fixed answer of a vendor-compatible route.
type CompatAnswer struct {
	Status int    `yaml:"status"`
	Body   string `yaml:"body"` // a JSON document
}

// CompatKey is one place a vendor's client puts its key.
type CompatKey struct {
	In   string `yaml:"in"`   // header | query
	Name string `yaml:"name"` // header, parameter or field name
	// Prefix is a scheme before the key in a header ("Token ").
	Prefix string `yaml:"prefix"`
}

// CompatRoute is one vendor lookup route.
type CompatRoute struct {
	Method string `yaml:"method"` // GET (default) or POST
	// Path is the vendor's path; an {indicator} segment carries the
	// indicator, unless IndicatorFrom says where it is.
	Path          string       `yaml:"path"`
	IndicatorFrom *CompatParam `yaml:"indicator_from"`
	Match         CompatMatch  `yaml:"match"`
	// Params are the vendor's other documented parameters: accepted, not
	// forwarded (the preset's own request fixes what is sent).
	Params []string         `yaml:"params"`
	Types  []indicator.Type `yaml:"types"`
	// Decode is how the vendor's clients encode the indicator in the
	// path: "" (as is) or base64url (VirusTotal's URL identifiers).
	Decode string `yaml:"decode"`
}

// CompatMatch lists fixed parameters that select a route: ThreatFox and
// MalwareBazaar take every query at one path, told apart by a field.
type CompatMatch struct {
	Query map[string]string `yaml:"query"`
	Form  map[string]string `yaml:"form"`
	JSON  map[string]string `yaml:"json"` // by JSON pointer
}

// CompatParam names where a route's indicator is.
type CompatParam struct {
	In      string `yaml:"in"` // query | form | json
	Name    string `yaml:"name"`
	Pointer string `yaml:"pointer"` // for json
}

// Auth says where the upstream key goes.
type Auth struct {
	In     string `yaml:"in"`     // bearer (default) | header | query
	Name   string `yaml:"name"`   // header or query parameter name
	Prefix string `yaml:"prefix"` // optional value prefix for in: header
}

// Key is one upstream key.
type Key struct {
	ID          string     `yaml:"id"`
	Secret      secret.Ref `yaml:"secret"`
	Environment string     `yaml:"environment"` // default: Config.Environment
	RotatedAt   Date       `yaml:"rotated_at"`
}

// ProviderTLS is the outbound TLS policy.
type ProviderTLS struct {
	MinVersion TLSVersion `yaml:"min_version"` // default 1.2
	CAFile     string     `yaml:"ca_file"`
	Pins       []string   `yaml:"pins"` // sha256/<base64 SPKI hash>
}

// Limits are a rate and calendar quotas.
type Limits struct {
	Rate   Rate   `yaml:"rate"`
	Burst  int    `yaml:"burst"`
	Quotas Quotas `yaml:"quotas"`
	// TimeZone is the IANA zone whose calendar the day and month quotas
	// follow (default UTC): match the provider's billing calendar.
	TimeZone string `yaml:"time_zone"`
	// MaxWait is how long an interactive lookup may wait for a unit of a
	// provider's rate before it is answered 429 (default 2s, and never
	// beyond the caller's deadline). Providers only.
	MaxWait Duration `yaml:"max_wait"`
}

// Quotas are calendar quotas; zero means unlimited.
type Quotas struct {
	Day   int64 `yaml:"day"`
	Month int64 `yaml:"month"`
}

// Retry bounds retries of one upstream call.
type Retry struct {
	MaxAttempts int      `yaml:"max_attempts"` // default 3
	MaxWait     Duration `yaml:"max_wait"`     // default 30s: cap on any single Retry-After wait
	Backoff     Duration `yaml:"backoff"`      // default 200ms: base of the full-jitter backoff
	// Budget caps retries at this fraction of first attempts (default 0.1),
	// so retries add at most ~10% load to an upstream in an outage.
	Budget float64 `yaml:"budget"`
}

// Breaker is the per-provider circuit breaker.
type Breaker struct {
	FailureRatio float64  `yaml:"failure_ratio"` // default 0.5
	MinRequests  int      `yaml:"min_requests"`  // default 20
	Window       Duration `yaml:"window"`        // default 60s
	OpenFor      Duration `yaml:"open_for"`      // default 30s
	// HalfOpenRequests is how many probes may run at once when half-open.
	HalfOpenRequests int `yaml:"half_open_requests"` // default 1
}

// Cache is a provider's cache policy.
type Cache struct {
	// Enabled false keeps nothing of this provider's answers (default
	// true): for data that must not be stored.
	Enabled     *bool    `yaml:"enabled"`
	TTL         Duration `yaml:"ttl"`          // default 1h
	NegativeTTL Duration `yaml:"negative_ttl"` // default 10m: not_found answers
	// TTLByType overrides TTL per indicator type (ipv4: 15m).
	TTLByType map[indicator.Type]Duration `yaml:"ttl_by_type"`
	// StaleIfError is how old an entry may be and still be served, marked
	// stale, when the provider cannot answer (default 24h; 0 disables).
	StaleIfError Duration `yaml:"stale_if_error"`
	// PerClient keeps each client's answers apart (providers whose answer
	// depends on who asks).
	PerClient bool `yaml:"per_client"`
}

// On reports whether the provider's answers are cached.
func (c Cache) On() bool { return c.Enabled == nil || *c.Enabled }

// CacheSettings are the cache's global settings.
type CacheSettings struct {
	// MemoryBytes bounds the in-process hot tier (default 64MiB; 0 keeps
	// no hot tier: every hit is read from the durable tier).
	MemoryBytes ByteSize `yaml:"memory_bytes"`
}

// Retention bounds how long data is kept. A background sweeper deletes
// what is past it, in small batches, every SweepInterval.
type Retention struct {
	// Audit is how long audit records are kept (default 365d).
	Audit Duration `yaml:"audit"`
	// CacheMaxTTL caps every cache lifetime, stale_if_error included
	// (default 24h).
	CacheMaxTTL Duration `yaml:"cache_max_ttl"`
	// JobResults and WebhookIDs bound bulk job results (default 7d) and
	// the inbound webhook ids kept for deduplication (default 30d); they
	// take effect with bulk jobs and webhooks.
	JobResults Duration `yaml:"job_results"`
	WebhookIDs Duration `yaml:"webhook_ids"`
	// Seen is how long a client's last-seen time and address are kept
	// after it was last seen (default 90d).
	Seen Duration `yaml:"seen"`
	// SweepInterval is how often the sweeper runs (default 1h).
	SweepInterval Duration `yaml:"sweep_interval"`
}

// NeverSend is a set of rules for indicators that must stay inside: a
// matching indicator (or a URL's host) is withheld from the provider.
type NeverSend struct {
	// CIDRs: addresses never sent. The built-in set "private" (RFC 1918,
	// loopback, link-local, CGNAT 100.64/10, IPv6 ULA and link-local) is
	// on unless Disable names it.
	CIDRs []netip.Prefix `yaml:"cidrs"`
	// DomainSuffixes: a domain equal to one, or below it. The built-in set
	// "local-domains" (.internal, .local, .lan, localhost) is on unless
	// disabled.
	DomainSuffixes []string `yaml:"domain_suffixes"`
	// EmailDomains: an email address at one of these domains (or below).
	EmailDomains []string `yaml:"email_domains"`
	// Patterns: regular expressions, anchored (matched against the whole
	// normalised indicator).
	Patterns []string `yaml:"patterns"`
	// Disable turns built-in sets off by name: private, local-domains.
	// Global rules only.
	Disable []string `yaml:"disable"`
}

// Client is one application allowed to call the gateway.
type Client struct {
	TokenSHA256 string         `yaml:"token_sha256"` // 64 lowercase hex
	Environment string         `yaml:"environment"`  // default: Config.Environment
	Providers   []string       `yaml:"providers"`    // must name defined providers
	SourceCIDRs []netip.Prefix `yaml:"source_cidrs"` // empty: any source
	Limits      Limits         `yaml:"limits"`
	Admin       bool           `yaml:"admin"`
	// AllowRefresh lets the client ask for a fresh answer past the cache
	// (Cache-Control: no-cache, refresh=true): it spends quota.
	AllowRefresh bool `yaml:"allow_refresh"`
	// DefaultTLP and DefaultPAP mark the client's requests that carry no
	// X-Intelgate-TLP / X-Intelgate-PAP header (default amber).
	DefaultTLP string `yaml:"default_tlp"`
	DefaultPAP string `yaml:"default_pap"`
	// Callbacks is where the client's bulk jobs may announce their finish
	// (a job's callback_url), and the secret they are signed with.
	Callbacks *ClientCallbacks `yaml:"callbacks"`
}

// ClientCallbacks is clients.X.callbacks.
type ClientCallbacks struct {
	// Hosts a callback_url may name: exact names, or *.example.com for its
	// subdomains (not example.com itself).
	Hosts []string `yaml:"hosts"`
	// Secret is the whsec_ signing secret (Standard Webhooks) the client
	// verifies callbacks with.
	Secret secret.Ref `yaml:"secret"`
	// AllowPlaintext permits http:// callback URLs. Unsafe: the summary and
	// its signature travel readable; for a receiver on the same host.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// EventsURL is where provider webhooks this client subscribes to
	// (providers.X.webhooks.subscribers) are forwarded; its host must be
	// one of Hosts.
	EventsURL string `yaml:"events_url"`
	// AllowPrivate permits callback targets that resolve to loopback and
	// private ranges (RFC 1918, ULA, CGNAT). Unsafe: it lets a client's
	// callback reach the gateway's own network; for an on-premises SOAR.
	// Link-local (cloud metadata) stays refused.
	AllowPrivate bool `yaml:"allow_private"`
}

// Duration is a time.Duration written as "30s", "5m", "1h".
type Duration time.Duration

// Std returns the standard library duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// ByteSize is a size written as "5MiB", "512KiB", "1MB" or a plain integer.
type ByteSize int64

// Rate is "N/s", "N/m", "N/h" (N requests per period). Zero: unlimited.
type Rate struct {
	N   int
	Per time.Duration
}

// TLSVersion is "1.2" or "1.3", stored as a crypto/tls version constant.
type TLSVersion uint16

// Date is a calendar day written YYYY-MM-DD.
type Date struct{ time.Time }
