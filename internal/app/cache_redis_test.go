package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/sim"
)

// This file is the issue-8 integration tests of the shared cache: several
// gateway replicas, each with its own SQLite file, sharing one Redis key
// prefix and one data-at-rest key, against one simulator. Everything goes
// through real HTTP, real TLS and a real Redis.

// rcCluster is n replicas sharing the durable cache tier in Redis.
type rcCluster struct {
	sim    *sim.Server
	gws    []*govApp
	prefix string        // the replicas' shared.prefix
	raw    *redis.Client // for looking at what Redis holds
	siem   *govClient    // the ordinary client
	admin  *govClient    // an admin: true client (purge, /metrics)
}

// rcEncryption is the encryption: block every replica shares; each config
// directory holds the same key in cache.key.
const rcEncryption = "encryption: {keys: [{id: k1, secret: \"file:cache.key\"}]}\n"

// rcAdmin returns the YAML of an admin client (clients.ops) with its
// token, to go first in govCfg.top (it continues the clients: block).
func rcAdmin(t *testing.T) (yaml, token string) {
	t.Helper()
	token, hash := newGovToken(t)
	return fmt.Sprintf("  ops:\n    token_sha256: %s\n    admin: true\n    providers: [socialeye]\n    source_cidrs: [127.0.0.0/8]\n", hash), token
}

// rcWriteKey writes the same data-at-rest key (32 random bytes, hex) into
// every dir as cache.key.
func rcWriteKey(t *testing.T, dirs ...string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for _, d := range dirs {
		require.NoError(t, os.WriteFile(filepath.Join(d, "cache.key"), []byte(hex.EncodeToString(b)+"\n"), 0o600))
	}
}

// startRCCluster runs n replicas, caching socialeye for an hour, against
// one simulator started with o.
func startRCCluster(t *testing.T, redisURL string, n int, o sim.Options) *rcCluster {
	t.Helper()
	s := startGovSim(t, o)
	token, hash := newGovToken(t)
	adminYAML, adminToken := rcAdmin(t)
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	shared := redisShared(t, redisURL, dirs...)
	m := regexp.MustCompile(`prefix: ("[^"]*")`).FindStringSubmatch(shared)
	require.NotNil(t, m, shared)
	prefix, err := strconv.Unquote(m[1])
	require.NoError(t, err)
	rcWriteKey(t, dirs...)
	c := &rcCluster{sim: s, prefix: prefix, siem: newGovClient(t, token), admin: newGovClient(t, adminToken)}
	for _, d := range dirs {
		cfg := writeGovConfig(t, d, s, hash, govCfg{cache: "{ttl: 1h}", top: adminYAML + shared})
		c.gws = append(c.gws, runGovApp(t, cfg))
	}
	opts, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	c.raw = redis.NewClient(opts)
	t.Cleanup(func() { _ = c.raw.Close() })
	return c
}

// awaitSubscribers waits until every replica listens on the purge channel:
// each subscribes when it starts serving, asynchronously, and a purge
// published before that would never reach it.
func (c *rcCluster) awaitSubscribers(t *testing.T, n int64) {
	t.Helper()
	channel := c.prefix + "cache-purge"
	var got int64
	ok := govPoll(10*time.Second, 10*time.Millisecond, func() bool {
		subs, err := c.raw.PubSubNumSub(t.Context(), channel).Result()
		got = subs[channel]
		return err == nil && got >= n
	})
	require.True(t, ok, "%d subscriber(s) on %s, want %d", got, channel, n)
}

// purge POSTs body to base's /admin/v1/cache/purge as the admin client
// and returns how many entries it says went.
func (c *rcCluster) purge(t *testing.T, base, body string) int {
	t.Helper()
	r := rcPost(t, c.admin, base+"/admin/v1/cache/purge", body)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var out struct{ Purged int }
	require.NoError(t, json.Unmarshal(r.body, &out), string(r.body))
	return out.Purged
}

// rcPost POSTs a JSON body with c's token.
func rcPost(t *testing.T, c *govClient, u, body string) govResp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return govResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// rcResolve is the /v1/resolve path of query.
func rcResolve(query string) string { return "/v1/resolve?query=" + url.QueryEscape(query) }

// rcUnique is prefix and random hex: a query no other test asks.
func rcUnique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestReplicasMakeOneUpstreamCall: the same question asked at once of
// three replicas, several times each, costs one upstream call. The
// simulator answers slowly (300ms), so every request is in flight before
// the first answer exists; the fill lease elects one fetcher across the
// replicas and the others wait for its answer in Redis. A second round is
// all hits, still without an upstream call.
func TestReplicasMakeOneUpstreamCall(t *testing.T) {
	t.Parallel()
	redisURL := redistest.URL(t)
	c := startRCCluster(t, redisURL, 3, sim.Options{Faults: sim.Faults{Latency: 300 * time.Millisecond}})
	query := rcUnique("onecall-")
	const perReplica = 4

	round := func() []govResp {
		n := perReplica * len(c.gws)
		res := make([]govResp, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { res[i], errs[i] = c.siem.do(c.gws[i%len(c.gws)].url, rcResolve(query)) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "request %d", i)
		}
		return res
	}

	first := round()
	for i, r := range first {
		require.Equal(t, http.StatusOK, r.status, "request %d via replica %d: %s", i, i%len(c.gws), r.body)
		require.Equal(t, string(first[0].body), string(r.body), "request %d via replica %d", i, i%len(c.gws))
	}
	require.Equal(t, 1, c.sim.Sim.Stats().ByQuery[query], "one upstream call for %d concurrent requests over %d replicas",
		len(first), len(c.gws))

	for i, r := range round() {
		require.Equal(t, http.StatusOK, r.status, "request %d via replica %d: %s", i, i%len(c.gws), r.body)
		require.Equal(t, "hit", r.header.Get("X-Intelgate-Cache"), "request %d via replica %d", i, i%len(c.gws))
		require.Equal(t, string(first[0].body), string(r.body))
	}
	require.Equal(t, 1, c.sim.Sim.Stats().ByQuery[query], "the second round is answered from the cache")
}

// TestPurgeOnOneReplicaReachesAll: a purge through one replica clears the
// hot tier of every other, through Redis pub/sub. Each replica holds three
// answers in its hot tier; after the purge on replica 0, replica i's next
// lookups of query i (asked of no other replica since) become a miss
// within a deadline, with an upstream call. A hot tier left uncleared
// would keep answering hit, since the durable tier is already empty.
func TestPurgeOnOneReplicaReachesAll(t *testing.T) {
	t.Parallel()
	redisURL := redistest.URL(t)
	c := startRCCluster(t, redisURL, 3, sim.Options{})
	queries := make([]string, len(c.gws))
	for i := range queries {
		queries[i] = rcUnique(fmt.Sprintf("purged%d-", i))
	}
	for _, q := range queries {
		for i, gw := range c.gws {
			r := c.siem.get(t, gw.url, rcResolve(q))
			require.Equal(t, http.StatusOK, r.status, "%s via replica %d: %s", q, i, r.body)
		}
	}
	for _, q := range queries {
		for i, gw := range c.gws {
			r := c.siem.get(t, gw.url, rcResolve(q))
			require.Equal(t, "hit", r.header.Get("X-Intelgate-Cache"), "%s via replica %d: every hot tier holds it", q, i)
		}
		require.Equal(t, 1, c.sim.Sim.Stats().ByQuery[q], q)
	}

	c.awaitSubscribers(t, int64(len(c.gws)))
	require.Equal(t, len(queries), c.purge(t, c.gws[0].url, `{"provider":"socialeye"}`), "one durable entry per query")

	r := c.siem.get(t, c.gws[0].url, rcResolve(queries[0]))
	require.Equal(t, "miss", r.header.Get("X-Intelgate-Cache"), "the purging replica's own hot tier is cleared at once")
	require.Equal(t, 2, c.sim.Sim.Stats().ByQuery[queries[0]])
	for i := 1; i < len(c.gws); i++ {
		var last string
		missed := govPoll(10*time.Second, 20*time.Millisecond, func() bool {
			r, err := c.siem.do(c.gws[i].url, rcResolve(queries[i]))
			if err != nil || r.status != http.StatusOK {
				last = fmt.Sprintf("%v %d %s", err, r.status, r.body)
				return false
			}
			last = r.header.Get("X-Intelgate-Cache")
			return last == "miss"
		})
		require.True(t, missed, "replica %d still answers %s from its hot tier after the purge", i, last)
		require.Equal(t, 2, c.sim.Sim.Stats().ByQuery[queries[i]], "replica %d asked upstream again", i)
	}
}

// rcMarkers are the strings that must never reach Redis for a query: the
// query itself and what its answer says about it (profile URLs and names,
// dates).
func rcMarkers(t *testing.T, query string, body []byte) []string {
	t.Helper()
	var res sim.Result
	require.NoError(t, json.Unmarshal(body, &res), string(body))
	out := []string{query, res.FirstSeen, res.LastSeen}
	for _, p := range res.Profiles {
		out = append(out, p.URL, p.DisplayName)
	}
	return out
}

// TestRedisHoldsNoPlaintext: after lookups through two replicas, no key
// name, value (read by type, and DUMPed) under the prefix holds a query or
// anything of its answer, raw, percent- or JSON-escaped, hex or base64
// (leak's Detector); the purge announcement of one indicator names only
// its provider.
func TestRedisHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	redisURL := redistest.URL(t)
	c := startRCCluster(t, redisURL, 2, sim.Options{})
	queries := []string{rcUnique("needle-user-"), rcUnique("needle.mail-") + "@example.org"}
	var markers []secret.Value
	for _, q := range queries {
		var body []byte
		for i, gw := range c.gws {
			r := c.siem.get(t, gw.url, rcResolve(q))
			require.Equal(t, http.StatusOK, r.status, "%s via replica %d: %s", q, i, r.body)
			body = r.body
		}
		for _, m := range rcMarkers(t, q, body) {
			markers = append(markers, secret.NewValue(m))
		}
	}
	det := leak.New(markers...)
	for _, q := range queries {
		require.True(t, det.ContainsString(q), "the detector finds what it looks for")
	}

	ctx := t.Context()
	var keys []string
	iter := c.raw.Scan(ctx, 0, c.prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	records := 0
	for _, k := range keys {
		require.False(t, det.ContainsString(k), "key name %s holds plaintext", k)
		dump, err := c.raw.Dump(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired since the SCAN (a lease, a rate window)
		}
		require.NoError(t, err)
		require.False(t, det.ContainsString(dump), "DUMP of %s holds plaintext", k)
		var values []string
		switch typ := c.raw.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range c.raw.HGetAll(ctx, k).Val() {
				values = append(values, f, v)
			}
		case "set":
			values = c.raw.SMembers(ctx, k).Val()
		case "string":
			values = []string{c.raw.Get(ctx, k).Val()}
		case "zset":
			values = c.raw.ZRange(ctx, k, 0, -1).Val()
		case "list":
			values = c.raw.LRange(ctx, k, 0, -1).Val()
		case "none":
			continue
		default:
			t.Fatalf("%s is a %s: read it too", k, typ)
		}
		for _, v := range values {
			require.False(t, det.ContainsString(v), "a value of %s holds plaintext", k)
		}
		if strings.HasPrefix(k, c.prefix+"cache:") {
			records++
		}
	}
	require.Equal(t, len(queries), records, "one sealed record per query, shared by the replicas; keys: %q", keys)

	listener := c.raw.Subscribe(ctx, c.prefix+"cache-purge")
	t.Cleanup(func() { _ = listener.Close() })
	_, err := listener.Receive(ctx) // the subscription's confirmation
	require.NoError(t, err)
	body, err := json.Marshal(map[string]string{"provider": "socialeye", "indicator": queries[0]})
	require.NoError(t, err)
	require.Equal(t, 1, c.purge(t, c.gws[0].url, string(body)))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := listener.ReceiveMessage(rctx)
	require.NoError(t, err)
	require.False(t, det.ContainsString(msg.Payload), "the purge message %s holds plaintext", msg.Payload)
	var fields map[string]any
	require.NoError(t, json.Unmarshal([]byte(msg.Payload), &fields), msg.Payload)
	delete(fields, "v")
	require.Equal(t, map[string]any{"provider": "socialeye"}, fields, "a purge message names a provider and nothing else")

	// On the purging replica, whose own hot tier is purged before the
	// announcement goes out (the others' are cleared asynchronously).
	r := c.siem.get(t, c.gws[0].url, rcResolve(queries[0]))
	require.Equal(t, "miss", r.header.Get("X-Intelgate-Cache"), "the indicator's entry is gone")
	r = c.siem.get(t, c.gws[0].url, rcResolve(queries[1]))
	require.Equal(t, "hit", r.header.Get("X-Intelgate-Cache"), "another indicator's entry stays")
}

// rcMetricSum adds up the samples of the counter name whose labels include
// every one of labels (`outcome="error"`), from base's /metrics.
func rcMetricSum(t *testing.T, c *govClient, base, name string, labels ...string) float64 {
	t.Helper()
	r := c.get(t, base, "/metrics")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	for sc.Scan() {
		line := sc.Text()
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(series, name+"{") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if match {
			v, err := strconv.ParseFloat(value, 64)
			require.NoError(t, err, line)
			sum += v
		}
	}
	return sum
}

// TestRedisDownStillAnswers points the shared tier at a closed loopback
// port. The cache never makes a lookup fail: its reads fail (and are
// counted), and what answers is the governor's fail mode — open: the
// upstream, unpaced, and the hot tier keeps the answer; closed: 503
// unavailable without an upstream call.
func TestRedisDownStillAnswers(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			require.NoError(t, ln.Close()) // nothing listens there now

			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "redis.url"), []byte("redis://"+addr+"/0\n"), 0o600))
			rcWriteKey(t, dir)
			s := startGovSim(t, sim.Options{})
			token, hash := newGovToken(t)
			adminYAML, adminToken := rcAdmin(t)
			cfg := writeGovConfig(t, dir, s, hash, govCfg{
				cache: "{ttl: 1h}",
				top: adminYAML + rcEncryption + fmt.Sprintf(
					"shared: {driver: redis, url: \"file:redis.url\", fail: %s, timeout: 200ms, prefix: \"unused:\"}\n", mode),
			})
			gw := runGovApp(t, cfg)
			c, admin := newGovClient(t, token), newGovClient(t, adminToken)

			r := c.get(t, gw.url, rcResolve("redisdown"))
			if mode == "open" {
				require.Equal(t, http.StatusOK, r.status, string(r.body))
				require.Equal(t, "miss", r.header.Get("X-Intelgate-Cache"))
				require.Equal(t, 1, s.Sim.Stats().Requests)
				again := c.get(t, gw.url, rcResolve("redisdown"))
				require.Equal(t, http.StatusOK, again.status, string(again.body))
				require.Equal(t, "hit", again.header.Get("X-Intelgate-Cache"), "the hot tier works without Redis")
				require.Equal(t, string(r.body), string(again.body))
				require.Equal(t, 1, s.Sim.Stats().Requests)
			} else {
				govRequireProblem(t, r, http.StatusServiceUnavailable, "unavailable")
				require.Zero(t, s.Sim.Stats().Requests, "fail closed must not call upstream unpaced")
			}
			require.Positive(t, rcMetricSum(t, admin, gw.url, "intelgate_cache_reads_total", `tier="durable"`, `outcome="error"`),
				"the failed durable reads are counted")
			require.Equal(t, http.StatusOK, c.get(t, gw.url, "/healthz").status)
		})
	}
}
