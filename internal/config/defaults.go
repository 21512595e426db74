package config

import (
	"crypto/tls"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
)

// Defaults, each documented in docs/configuration.md. They are constants or
// constructors (not package variables) so nothing can change them at run
// time.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultEnvironment       = "prod"
	DefaultStorageDriver     = "sqlite"
	DefaultSQLiteDSN         = "intelgate.db"
	DefaultSharedDriver      = "memory"
	DefaultSocialEyeBaseURL  = "https://api.socialeye.net"
	DefaultReadHeaderTimeout = Duration(5 * time.Second)
	DefaultReadTimeout       = Duration(15 * time.Second)
	DefaultWriteTimeout      = Duration(60 * time.Second)
	DefaultIdleTimeout       = Duration(120 * time.Second)
	DefaultShutdownTimeout   = Duration(30 * time.Second)
	DefaultMaxHeaderBytes    = ByteSize(16 << 10)
	DefaultMaxBodyBytes      = ByteSize(1 << 20)
	DefaultMinTLSVersion     = TLSVersion(tls.VersionTLS12)
	DefaultProviderTimeout   = Duration(30 * time.Second)
	DefaultMaxResponseBytes  = ByteSize(5 << 20)
	DefaultRetryMaxAttempts  = 3
	DefaultRetryMaxWait      = Duration(30 * time.Second)
	DefaultFailureRatio      = 0.5
	DefaultMinRequests       = 20
	DefaultBreakerWindow     = Duration(60 * time.Second)
	DefaultBreakerOpenFor    = Duration(30 * time.Second)
	DefaultCacheTTL          = Duration(time.Hour)
	DefaultNegativeCacheTTL  = Duration(10 * time.Minute)
	DefaultStaleIfError      = Duration(24 * time.Hour)
	DefaultCacheMaxTTL       = Duration(24 * time.Hour)

	DefaultAuditRetention      = Duration(365 * 24 * time.Hour)
	DefaultJobResultsRetention = Duration(7 * 24 * time.Hour)
	DefaultWebhookIDsRetention = Duration(30 * 24 * time.Hour)
	DefaultSeenRetention       = Duration(90 * 24 * time.Hour)
	DefaultSweepInterval       = Duration(time.Hour)

	DefaultAuditIndicators         = "hmac"
	DefaultAuditQueueSize          = 8192
	DefaultAuditCheckpointEvery    = 10000
	DefaultAuditCheckpointInterval = Duration(5 * time.Minute)

	DefaultStorageTimeout        = Duration(5 * time.Second)
	DefaultStorageMaxConnections = 10
	DefaultCacheMemoryBytes      = ByteSize(64 << 20)
	DefaultHTTPMethod            = "GET"
	DefaultAuthIn                = "bearer"
	DefaultNotFoundStatus        = 404
	DefaultMaxWait               = Duration(2 * time.Second)
	DefaultRetryBackoff          = Duration(200 * time.Millisecond)
	DefaultRetryBudget           = 0.1
	DefaultHalfOpenRequests      = 1
	DefaultSharedFail            = "closed"
	DefaultSharedTimeout         = Duration(250 * time.Millisecond)
	DefaultSharedPrefix          = "intelgate:"

	DefaultMaxConnections          = 4096
	DefaultMaxConnectionsPerSource = 256
	DefaultAuthFailureMax          = 10
	DefaultAuthFailureWindow       = Duration(time.Minute)
	DefaultAuthFailureMaxSources   = 10000
	DefaultAuthFailureLogInterval  = Duration(time.Minute)
)

// IndicatorTypes are the types a provider may list under types (every type
// but Auto, which is a request for detection, not a type). A socialeye
// provider answers for all of them unless told otherwise.
func IndicatorTypes() []indicator.Type { return indicator.Types() }

// Default returns a config holding every top-level default and no
// providers or clients.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	c.Environment = DefaultEnvironment
	c.Server = Server{
		Listen:            DefaultListen,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		ShutdownTimeout:   DefaultShutdownTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		MaxBodyBytes:      DefaultMaxBodyBytes,

		MaxConnections:          DefaultMaxConnections,
		MaxConnectionsPerSource: DefaultMaxConnectionsPerSource,
		AuthFailures: AuthFailures{Max: DefaultAuthFailureMax, Window: DefaultAuthFailureWindow,
			MaxSources: DefaultAuthFailureMaxSources, LogInterval: DefaultAuthFailureLogInterval},
	}
	c.Storage = Storage{Driver: DefaultStorageDriver, DSN: DefaultSQLiteDSN, Timeout: DefaultStorageTimeout,
		MaxConnections: DefaultStorageMaxConnections}
	c.Cache = CacheSettings{MemoryBytes: DefaultCacheMemoryBytes}
	c.Retention = Retention{Audit: DefaultAuditRetention, CacheMaxTTL: DefaultCacheMaxTTL, JobResults: DefaultJobResultsRetention,
		WebhookIDs: DefaultWebhookIDsRetention, Seen: DefaultSeenRetention, SweepInterval: DefaultSweepInterval}
	c.Audit = Audit{Indicators: DefaultAuditIndicators, QueueSize: DefaultAuditQueueSize,
		CheckpointEvery: DefaultAuditCheckpointEvery, CheckpointInterval: DefaultAuditCheckpointInterval}
	c.Shared = Shared{Driver: DefaultSharedDriver, Fail: DefaultSharedFail, Timeout: DefaultSharedTimeout,
		Prefix: DefaultSharedPrefix}
	c.Secrets.setDefaults()
	c.Rotation.setDefaults()
	c.Alerts.setDefaults()
	c.Jobs.setDefaults()
}

// DefaultUpstreamConnections is providers.*.max_connections: enough for
// a busy gateway's concurrency towards one vendor, few enough that a stuck
// upstream cannot make it hold thousands of sockets.
const DefaultUpstreamConnections = 64

// DefaultSocialEyeAuthCheck is the neutral query that confirms a socialeye
// key: a name any valid key may resolve, chosen by no client.
const DefaultSocialEyeAuthCheck = "example.com"

// DefaultProvider returns a provider with every default set; Kind, BaseURL
// and Keys are still to be filled in.
func DefaultProvider() *Provider {
	p := &Provider{}
	p.setDefaults()
	return p
}

func (p *Provider) setDefaults() {
	p.TLS.MinVersion = DefaultMinTLSVersion
	p.Timeout = DefaultProviderTimeout
	p.MaxResponseBytes = DefaultMaxResponseBytes
	p.MaxConnections = DefaultUpstreamConnections
	p.Retry = Retry{MaxAttempts: DefaultRetryMaxAttempts, MaxWait: DefaultRetryMaxWait,
		Backoff: DefaultRetryBackoff, Budget: DefaultRetryBudget}
	p.Breaker = Breaker{
		FailureRatio:     DefaultFailureRatio,
		MinRequests:      DefaultMinRequests,
		Window:           DefaultBreakerWindow,
		OpenFor:          DefaultBreakerOpenFor,
		HalfOpenRequests: DefaultHalfOpenRequests,
	}
	p.Limits.MaxWait = DefaultMaxWait
	p.Cache = Cache{TTL: DefaultCacheTTL, NegativeTTL: DefaultNegativeCacheTTL, StaleIfError: DefaultStaleIfError}
}

// DefaultHTTPRequest returns a kind: http request description with its
// defaults (GET, key as a Bearer token, 404 means not found); Path is still
// to be filled in.
func DefaultHTTPRequest() *HTTPRequest {
	r := &HTTPRequest{}
	r.setDefaults()
	return r
}

func (r *HTTPRequest) setDefaults() {
	r.Method = DefaultHTTPMethod
	r.Auth.In = DefaultAuthIn
	r.NotFoundStatus = []int{DefaultNotFoundStatus}
}

func (t *ServerTLS) setDefaults() { t.MinVersion = DefaultMinTLSVersion }

// finish applies the defaults that depend on other settings: environments
// inherit the top-level one, a socialeye provider gets its base URL and all
// types, a rate's burst defaults to one second's worth. It runs after decoding, before
// validation, and is idempotent.
func (c *Config) finish() {
	for _, p := range c.Providers {
		if p == nil {
			continue
		}
		for i := range p.Keys {
			if p.Keys[i].Environment == "" {
				p.Keys[i].Environment = c.Environment
			}
		}
		if p.Kind == "socialeye" {
			if p.BaseURL == "" {
				p.BaseURL = DefaultSocialEyeBaseURL
			}
			if p.Types == nil {
				p.Types = IndicatorTypes()
			}
		}
		if p.RevokeOn == nil {
			p.RevokeOn = []int{http.StatusUnauthorized}
		}
		if p.Webhooks != nil {
			p.Webhooks.setDefaults()
		}
		if p.Kind == "socialeye" && p.AuthCheck == nil {
			p.AuthCheck = &AuthCheck{Indicator: DefaultSocialEyeAuthCheck}
		}
		if p.AuthCheck != nil && p.AuthCheck.RevokeOn == nil {
			p.AuthCheck.RevokeOn = []int{http.StatusUnauthorized, http.StatusForbidden}
		}
		if p.Request != nil {
			p.Request.Method = strings.ToUpper(p.Request.Method)
			p.Request.Auth.In = strings.ToLower(p.Request.Auth.In)
			for _, e := range p.Request.Endpoints {
				if e != nil {
					e.Method = strings.ToUpper(e.Method)
				}
			}
			if len(p.Types) == 0 && len(p.Request.Endpoints) > 0 {
				// The endpoints say which types the API answers for.
				for _, t := range indicator.Types() {
					if p.Request.Endpoints[t] != nil {
						p.Types = append(p.Types, t)
					}
				}
			}
		}
		if p.Compat != nil {
			for i := range p.Compat.Routes {
				p.Compat.Routes[i].Method = strings.ToUpper(p.Compat.Routes[i].Method)
			}
		}
		p.Limits.finish()
	}
	for _, cl := range c.Clients {
		if cl == nil {
			continue
		}
		if cl.Environment == "" {
			cl.Environment = c.Environment
		}
		cl.TokenSHA256 = strings.ToLower(cl.TokenSHA256)
		cl.Limits.finish()
	}
}

// A burst left at 0 becomes one second's worth of the rate (at least 1):
// 10/s bursts to 10, but 3600/h bursts to 1 rather than to 3600 at once.
func (l *Limits) finish() {
	if l.TimeZone == "" {
		l.TimeZone = "UTC"
	}
	if l.Burst == 0 && !l.Rate.Unlimited() {
		l.Burst = max(1, int(math.Ceil(l.Rate.PerSecond())))
	}
}

// Location is the time zone of l's calendar quotas; TimeZone is validated at
// load time, so an error here cannot happen for a loaded config.
func (l Limits) Location() *time.Location {
	loc, err := time.LoadLocation(l.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}
