package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// badFiles lists, for every testdata/*.bad.yaml, every problem it must
// produce: each string must appear in exactly one reported problem, and no
// other problem may be reported. Each string starts with the line and field.
var badFiles = map[string][]string{
	"timeout-vs-write":       {`line 10: providers.socialeye.timeout: must be shorter than server.write_timeout (30s)`},
	"time-zone":              {`line 10: providers.socialeye.limits.time_zone: unknown time zone "Mars/Olympus"`},
	"retry-budget":           {`line 9: providers.socialeye.retry.budget: must be between 0 and 1`, `line 10: providers.socialeye.retry.backoff: must be greater than 0`},
	"half-open":              {`line 9: providers.socialeye.breaker.half_open_requests: must be at least 1`},
	"shared-fail":            {`line 4: shared.fail: must be closed`, `line 5: shared.timeout: must be greater than 0`},
	"client-max-wait":        {`line 12: clients.siem.limits.max_wait: only providers wait`},
	"unknown-field":          {`line 3: server.listn: unknown field "listn"; did you mean "listen"?`},
	"bad-duration":           {`line 8: providers.socialeye.timeout: invalid duration "3x"`},
	"bad-size":               {`line 8: providers.socialeye.max_response_bytes: invalid size "5XB"`},
	"negative-size":          {`line 8: providers.socialeye.max_response_bytes: invalid size "-5MiB": must not be negative`},
	"overflow-size":          {`line 8: providers.socialeye.max_response_bytes: invalid size "99999999999TiB": too large`},
	"bad-rate":               {`line 9: providers.socialeye.limits.rate: invalid rate "10/d"`},
	"zero-rate":              {`line 9: providers.socialeye.limits.rate: invalid rate "0/s": allows no requests at all; write 0 for unlimited`},
	"bad-kind":               {`line 4: providers.socialeye.kind: must be socialeye or http, not "graphql"`},
	"base-url-http":          {`line 8: providers.socialeye.base_url: must use https://`},
	"base-url-userinfo":      {`line 8: providers.socialeye.base_url: must not contain userinfo`},
	"base-url-query":         {`line 8: providers.socialeye.base_url: must not contain a query`},
	"base-url-fragment":      {`line 8: providers.socialeye.base_url: must not contain a fragment`},
	"base-url-relative":      {`line 8: providers.socialeye.base_url: must be an absolute https:// URL`},
	"no-keys":                {`line 3: providers.socialeye.keys: at least one key is required`},
	"duplicate-key-id":       {`line 8: providers.socialeye.keys[1].id: duplicate key id "prod-1"`},
	"missing-secret":         {`line 6: providers.socialeye.keys[0].secret: required; use env:NAME, file:PATH`},
	"literal-secret":         {`line 7: providers.socialeye.keys[0].secret: a literal secret is not allowed here; use env:NAME, file:PATH, vault:MOUNT/PATH#FIELD or awssm:SECRET_ID#FIELD`},
	"vault-bad-ref":          {`line 7: providers.socialeye.keys[0].secret: invalid secret reference: must be vault:MOUNT/PATH#FIELD`},
	"tls-min-version":        {`line 9: providers.socialeye.tls.min_version: TLS 1.1 is not allowed: min_version must be at least 1.2`},
	"bad-pin":                {`line 11: providers.socialeye.tls.pins[1]: must be sha256/ followed by the 44-character base64`},
	"http-no-request":        {`line 3: providers.vt.request: required for kind http`},
	"http-no-path":           {`line 10: providers.vt.request.path: required`},
	"http-no-types":          {`line 3: providers.vt.types: required for kind http`},
	"template-unquoted":      {`line 11: providers.vt.request.path: neither the path nor any query value contains {indicator}`, `line 12: providers.vt.request.query.ip: must be a single value: YAML reads an unquoted {indicator} as a mapping; quote it: "{indicator}"`},
	"request-on-socialeye":   {`line 8: providers.socialeye.request: only allowed for kind http`},
	"auth-header-no-name":    {`line 12: providers.vt.request.auth.name: required with in: header`},
	"bad-method":             {`line 11: providers.vt.request.method: must be GET or POST, not "DELETE"`},
	"path-without-indicator": {`line 11: providers.abuseipdb.request.path: neither the path nor any query value contains {indicator}`},
	"unknown-placeholder":    {`line 11: providers.vt.request.path: unknown placeholder "{kind}"`},
	"path-dot-segment":       {`line 11: providers.vt.request.path: must not contain empty (//), . or .. segments`},
	"header-injection":       {`line 13: providers.vt.request.headers.X-Tenant: value must not contain control characters`},
	"reserved-header":        {`line 13: providers.vt.request.headers.Authorization: Authorization is set by intelgate`},
	"not-found-status": {
		`line 12: providers.vt.request.not_found_status[1]: must be a 4xx status`,
		`line 12: providers.vt.request.not_found_status[2]: must be a 4xx status`,
	},
	"unknown-type": {
		`line 8: providers.socialeye.types[1]: unknown indicator type "hash"`,
		`line 8: providers.socialeye.types[2]: auto is a request for detection`,
	},
	"bad-token":              {`line 10: clients.siem.token_sha256: must be 64 hex characters`},
	"duplicate-token":        {`line 13: clients.soar.token_sha256: same token as client "siem"`},
	"undefined-provider":     {`line 11: clients.siem.providers[1]: undefined provider "shodan" (defined: "socialeye")`},
	"no-key-for-environment": {`line 11: clients.siem.providers[0]: provider "socialeye" has no key for environment "staging"`},
	"negative-limits": {
		`line 10: providers.socialeye.limits.burst: must not be negative`,
		`line 12: providers.socialeye.limits.quotas.day: must not be negative`,
	},
	"failure-ratio":        {`line 9: providers.socialeye.breaker.failure_ratio: must be greater than 0 and at most 1`},
	"retry-attempts":       {`line 9: providers.socialeye.retry.max_attempts: must be at least 1`},
	"upstream-connections": {`line 8: providers.socialeye.max_connections: must be between 1 and 10000, not 0`},
	"revoke-on-status": {
		`line 8: providers.socialeye.revoke_on[1]: must be 401 or 403, not 404`,
		`line 9: providers.socialeye.auth_check.revoke_on[0]: must be 401 or 403, not 500`,
	},
	"auth-check-target": {
		`line 8: providers.socialeye.auth_check.path: only for kind http; use indicator`,
		`line 17: providers.vt.auth_check.path: must be a fixed path: no ?, #, or placeholders`,
		`line 26: providers.abuse.auth_check: needs indicator (a fixed, neutral indicator) or path`,
	},
	"auth-check-indicator": {
		`line 11: providers.abuse.auth_check.indicator: is a domain, which this provider's types do not include`,
		`line 20: providers.other.auth_check.indicator: value is not a valid ipv4 address`,
	},
	"listen-not-hostport":    {`line 3: server.listen: must be host:port`},
	"plaintext-non-loopback": {`line 3: server.listen: "0.0.0.0:8080" is not a loopback address and server.tls is not set`},
	"server-tls-incomplete":  {`line 4: server.tls.key_file: required when server.tls is set`},
	"server-timeout-zero":    {`line 3: server.read_header_timeout: must be greater than 0`},
	"storage-driver":         {`line 3: storage.driver: must be sqlite or postgres, not "mysql"`},
	"storage-postgres": {
		`line 4: storage.dsn: with driver postgres, must be a secret reference`,
		`line 5: storage.max_connections: must be at least 3`,
		`line 6: storage.timeout: must be greater than 0`,
		`encryption.keys: required when storage.driver is postgres`,
	},
	"storage-postgres-no-dsn": {`storage.dsn: required with driver postgres: a secret reference`},
	"client-callbacks": {
		`line 11: clients.siem.callbacks.secret: required`,
		`line 12: clients.siem.callbacks.hosts[0]: "*.com": a wildcard over the public suffix`,
		`line 12: clients.siem.callbacks.hosts[2]: "https://x.example" is not a valid host name`,
		`line 17: clients.soar.callbacks.hosts: at least one host is required`,
	},
	"provider-webhooks": {
		`line 8: providers.socialeye.webhooks.scheme: must be one of standard, github, stripe, not "svix"`,
		`line 9: providers.socialeye.webhooks.secrets: at least one secret is required`,
		`line 10: providers.socialeye.webhooks.tolerance: must be between 1s and 1h`,
		`line 11: providers.socialeye.webhooks.max_body_bytes: must be between 1KiB and 16MiB`,
		`line 12: providers.socialeye.webhooks.purge_pointer: must be a JSON Pointer`,
		`line 13: providers.socialeye.webhooks.subscribers[0]: client "siem" has no callbacks.events_url`,
		`line 13: providers.socialeye.webhooks.subscribers[1]: undefined client "nobody"`,
		`line 21: clients.soar.callbacks.events_url: scheme: http:// is refused`,
	},
	"jobs-settings": {
		`line 2: jobs.workers: must be between 1 and 1000`,
		`line 3: jobs.max_items: must be between 1 and 100000`,
		`line 4: jobs.max_attempts: must be between 1 and 100`,
		`line 5: jobs.item_timeout: must be greater than 0`,
		`line 6: jobs.retry.max: must be at least jobs.retry.base (10s)`,
		`line 7: jobs.fetch_cooldown: must be greater than 0`,
	},
	"jobs-interactive-share": {`line 2: jobs.interactive_share: must be between 0 and 0.9 (a fraction of each provider's limits)`},
	"audit-settings": {
		`line 3: audit.indicators: must be hmac`,
		`line 4: audit.queue_size: must be between 1 and`,
		`line 5: audit.checkpoint_every: must be at least 1`,
		`line 6: audit.checkpoint_interval: must be greater than 0`,
		`line 8: retention.audit: must be greater than 0`,
		`line 9: retention.seen: must be greater than 0`,
		`line 10: retention.job_results: must be greater than 0`,
		`line 11: retention.webhook_ids: must be greater than 0`,
		`line 12: retention.sweep_interval: must be greater than 0`,
	},
	"bad-day-duration": {
		`line 3: retention.audit: invalid duration "1.5d"`,
		`line 4: retention.seen: invalid duration "99999999999999d"`,
	},
	"shared-driver":           {`line 3: shared.driver: must be memory or redis, not "etcd"`},
	"redis-no-url":            {`line 2: shared.url: required with driver redis`},
	"shared-url-literal":      {`line 4: shared.url: a literal secret is not allowed here`},
	"encryption-duplicate-id": {`line 6: encryption.keys[1].id: duplicate key id "k1"`},
	"duplicate-provider":      {`line 8: providers.socialeye: defined twice (first on line 3)`},
	"cidr-host-bits":          {`line 12: clients.siem.source_cidrs[0]: 10.1.2.3/8 has host bits set; write 10.0.0.0/8`},
	"bad-cidr":                {`line 12: clients.siem.source_cidrs[0]: invalid value`},
	"bad-date":                {`line 8: providers.socialeye.keys[0].rotated_at: invalid date "2026-13-01"`},
	"bad-name":                {`line 3: providers.social eye: must be 1–64 letters`},
	"syntax":                  {`line 3: invalid YAML: did not find expected`},
	"two-documents":           {`line 12: only one YAML document is allowed`},
	"empty":                   {`providers: at least one provider is required`, `clients: at least one client is required`},
	"wrong-shape": {
		`line 3: providers: must be a mapping of names, not a list`,
		`line 4: clients: must be a mapping of names, not a single value`,
	},
	"multi": {
		`line 3: server.listen: "0.0.0.0:8080" is not a loopback address`,
		`line 4: server.read_timout: unknown field "read_timout"; did you mean "read_timeout"?`,
		`line 9: providers.socialeye.timeout: invalid duration "3x"`,
		`line 11: providers.socialeye.tls.min_version: TLS 1.0 is not allowed`,
		`line 14: providers.socialeye.keys[0].secret: a literal secret is not allowed here`,
		`line 15: providers.socialeye.keys[1].id: duplicate key id "prod-1"`,
		`line 19: clients.siem.token_sha256: must be 64 hex characters`,
		`line 20: clients.siem.providers[1]: undefined provider "shodan"`,
	},

	// connection limits and authentication failures (server)
	"max-connections-zero":        {`line 3: server.max_connections: must be at least 1`},
	"per-source-connections-zero": {`line 3: server.max_connections_per_source: must be at least 1`},
	"per-source-connections-over-max": {
		`line 4: server.max_connections_per_source: must not exceed server.max_connections (100)`,
	},
	"auth-failures-count": {
		`line 4: server.auth_failures.max: must be at least 1`,
		`line 5: server.auth_failures.max_sources: must be at least 1`,
	},
	"cache-ttl-by-type": {
		`line 10: providers.vt.cache.ttl: must be greater than 0 (write enabled: false to cache nothing)`,
		`providers.vt.cache.ttl_by_type.domain: must be greater than 0`,
		`providers.vt.cache.ttl_by_type.sha256: the provider does not answer for type sha256`,
		`providers.vt.cache.ttl_by_type.toaster: unknown indicator type "toaster"`,
	},
	"redis-no-encryption": {`encryption.keys: required when shared.driver is redis`},
	"metrics-listen-remote": {
		`line 3: server.metrics_listen: "0.0.0.0:9464" is not a loopback address`,
		`line 5: retention.cache_max_ttl: must be greater than 0`,
		`line 7: cache.memory_bytes: invalid size "-1": must not be negative`,
	},
	"auth-failures-duration": {
		`line 3: server.auth_failures.window: must be greater than 0`,
		`line 3: server.auth_failures.log_interval: must be greater than 0`,
	},

	// query minimisation (never_send, TLP / PAP)
	"never-send-regex": {
		"line 5: never_send.patterns[1]: invalid regular expression: error parsing regexp: missing closing ): `a(b`",
		"line 13: providers.socialeye.never_send.patterns[0]: invalid regular expression: error parsing regexp: invalid character class range",
	},
	"never-send-cidr": {
		`line 4: never_send.cidrs[0]: 10.1.2.3/8 has host bits set; write 10.0.0.0/8`,
		`line 5: never_send.cidrs[1]: invalid value`,
	},
	"never-send-disable": {
		`line 3: never_send.disable[1]: unknown built-in set "privat" (known: private, local-domains)`,
		`line 11: providers.socialeye.never_send.disable: only the global never_send may disable built-in sets`,
	},
	"bad-tlp": {
		`line 8: providers.socialeye.max_tlp: invalid TLP "purple"; want one of clear, green, amber, amber+strict, red`,
		`line 9: providers.socialeye.max_pap: invalid PAP "amber+strict"; want one of clear, green, amber, red`,
		`line 14: clients.siem.default_tlp: invalid TLP "white"`,
		`line 15: clients.siem.default_pap: invalid PAP "TLP:RED"`,
	},
}

func TestBadFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	expect := maps.Clone(badFiles)
	maps.Copy(expect, alertBadFiles)
	require.Len(t, files, len(expect), "every bad file needs an entry in badFiles (or alertBadFiles), and every entry a file")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bad.yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := expect[name]
			require.True(t, ok, "no expectation for %s", f)
			cfg, err := Load(f)
			require.Nil(t, cfg)
			var list ErrorList
			require.True(t, errors.As(err, &list), "want ErrorList, got %T: %v", err, err)
			for _, w := range want {
				n := 0
				for _, fe := range list {
					if strings.Contains(fe.Error(), w) {
						n++
					}
				}
				require.Equal(t, 1, n, "%q should match exactly one of:\n%v", w, err)
			}
			require.Len(t, list, len(want), "unexpected problems:\n%v", err)
		})
	}
}

func TestPlaintextErrorExplainsAllowPlaintext(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/plaintext-non-loopback.bad.yaml")
	require.ErrorContains(t, err, "configure server.tls, or set server.allow_plaintext: true only when intelgate runs behind a TLS-terminating proxy")
}

func TestErrorListReportsEveryProblemInFileOrder(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/multi.bad.yaml")
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 8)
	for i := 1; i < len(list); i++ {
		require.LessOrEqual(t, list[i-1].Line, list[i].Line)
	}
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 8)
	for i, l := range lines {
		require.Equal(t, list[i].Error(), l)
	}
	require.Equal(t, "providers.socialeye.timeout", list[2].Field)
	require.Equal(t, 9, list[2].Line)
}

func TestGoodFilesLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(f)
			require.NoError(t, err)
			require.NotEmpty(t, cfg.Providers)
			require.NotEmpty(t, cfg.Clients)
		})
	}
}

func TestExamplesLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2, "examples/minimal.yaml and examples/full.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			_, err := Load(f)
			require.NoError(t, err)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestJobsInteractiveShare(t *testing.T) {
	t.Parallel()
	doc := func(jobs string) []byte {
		return []byte(jobs + `
providers:
  socialeye:
    kind: socialeye
    keys: [{id: k, secret: env:K}]
clients:
  siem: {token_sha256: b9ee274e07a2c1d654b9d6cfa643e88f1cf99de101bdc5b99f40ea0b11c2b7e7, providers: [socialeye]}
`)
	}
	cfg, err := Parse(doc(""), "/srv")
	require.NoError(t, err)
	require.InDelta(t, DefaultJobsInteractiveShare, cfg.Jobs.InteractiveShare, 0, "a fifth by default")
	for _, share := range []string{"0", "0.9", "0.35"} {
		cfg, err := Parse(doc("jobs: {interactive_share: "+share+"}"), "/srv")
		require.NoError(t, err, share)
		require.Equal(t, share, strconv.FormatFloat(cfg.Jobs.InteractiveShare, 'f', -1, 64), "an explicit value is kept, 0 too")
	}
	_, err = Parse(doc("jobs: {interactive_share: -0.1}"), "/srv")
	require.ErrorContains(t, err, "line 1: jobs.interactive_share: must be between 0 and 0.9")
}
