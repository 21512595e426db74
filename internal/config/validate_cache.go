package config

import (
	"net"
	"slices"
	"sort"
	"strconv"

	"github.com/intelgate/intelgate/internal/indicator"
)

// MinEncryptionSecretBytes is the shortest data-at-rest secret accepted:
// 256 bits, the AES-256 key it is stretched into (with HKDF) can hold no
// more entropy than that.
const MinEncryptionSecretBytes = 32

// cacheSettings checks the global cache, retention and metrics settings.
func (v *validator) cacheSettings() {
	c := v.cfg
	if c.Cache.MemoryBytes < 0 {
		v.add("cache.memory_bytes", "must not be negative (0 keeps no in-process tier)")
	}
	if c.Retention.CacheMaxTTL <= 0 {
		v.add("retention.cache_max_ttl", "must be greater than 0 (turn caching off per provider with cache: {enabled: false})")
	}
	v.metricsListen(c.Server)
}

func (v *validator) anyCached() bool {
	for _, p := range v.cfg.Providers {
		if p.Cache.On() {
			return true
		}
	}
	return false
}

func (v *validator) metricsListen(s Server) {
	if s.MetricsListen == "" {
		if s.MetricsAllowRemote {
			v.add("server.metrics_allow_remote", "has no effect without server.metrics_listen")
		}
		return
	}
	host, port, err := net.SplitHostPort(s.MetricsListen)
	if err != nil {
		v.add("server.metrics_listen", "must be host:port, e.g. 127.0.0.1:9464")
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add("server.metrics_listen", "port must be a number from 0 to 65535")
		return
	}
	if s.MetricsAllowRemote {
		return
	}
	if !isLoopback(host) {
		v.add("server.metrics_listen", "%s is not a loopback address: /metrics is served without authentication on it "+
			"(names of clients, providers and keys, usage and quota); keep it on loopback and scrape through a local "+
			"agent, or set server.metrics_allow_remote: true to expose it on purpose", strconv.Quote(s.MetricsListen))
	}
	if s.MetricsListen == s.Listen && port != "0" {
		v.add("server.metrics_listen", "must differ from server.listen")
	}
}

// providerCache checks one provider's cache policy.
func (v *validator) providerCache(field string, p *Provider) {
	c := p.Cache
	if !c.On() {
		return
	}
	if c.TTL <= 0 {
		v.add(field+".ttl", "must be greater than 0 (write enabled: false to cache nothing)")
	}
	types := p.Types
	if len(types) == 0 {
		types = IndicatorTypes()
	}
	keys := make([]string, 0, len(c.TTLByType))
	for t := range c.TTLByType {
		keys = append(keys, string(t))
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := indicator.Type(k)
		f := field + ".ttl_by_type." + k
		switch {
		case !slices.Contains(IndicatorTypes(), t):
			v.add(f, "unknown indicator type %s", quote(k))
		case !slices.Contains(types, t):
			v.add(f, "the provider does not answer for type %s (see its types)", k)
		case c.TTLByType[t] <= 0:
			v.add(f, "must be greater than 0")
		}
	}
}
