package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/secrettest"
	"github.com/intelgate/intelgate/internal/sim"
)

// rotationBackend is a secret store the rotation tests rotate a key in:
// a directory of files here, and the loopback Vault and Secrets Manager
// servers (vault_test.go, awssm_test.go).
type rotationBackend struct {
	secrettest.Backend
	// top is the config's extra top-level YAML that makes the gateway
	// read from the backend (a secrets: section), "" for files.
	top string
}

// fileRotationBackend keeps the key in a file of dir.
func fileRotationBackend(t *testing.T, dir string) rotationBackend {
	return rotationBackend{Backend: fileStore{dir: dir}}
}

// fileStore is a secrettest.Backend of 0600 files, one per field.
type fileStore struct{ dir string }

func (f fileStore) Ref(name, field string) secret.Ref {
	r, err := secret.ParseRef("file:" + filepath.Join(f.dir, name+"-"+field+".key"))
	if err != nil {
		panic(err)
	}
	return r
}

func (f fileStore) Put(t *testing.T, name string, fields map[string]string) {
	for field, v := range fields {
		p := filepath.Join(f.dir, name+"-"+field+".key")
		tmp := p + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(v+"\n"), 0o600))
		require.NoError(t, os.Rename(tmp, p)) // atomic, as an operator's tooling would
	}
}

func (f fileStore) Delete(t *testing.T, name string) {
	matches, err := filepath.Glob(filepath.Join(f.dir, name+"-*.key"))
	require.NoError(t, err)
	for _, m := range matches {
		require.NoError(t, os.Remove(m))
	}
}

// rotationSetup is what a rotation test varies around the one gateway
// rotationGateway serves.
type rotationSetup struct {
	// clients are more clients' lines (two spaces in).
	clients string
	// top is more top-level YAML (rotation:, encryption:); rotation.overlap
	// is 10m unless top sets rotation.
	top string
	// clock is the gateway's clock (nil: the system clock).
	clock *clocktest.Clock
}

// rotationGateway serves a gateway whose socialeye key prod-1 comes from
// backend's secret "socialeye", field "api_key", shaped by setup. It
// returns the gateway, a client of siem's, and the config file's path.
func rotationGateway(t *testing.T, s *sim.Server, b rotationBackend, setup rotationSetup) (*govApp, *govClient, string) {
	t.Helper()
	dir := t.TempDir()
	token, hash := newGovToken(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), s.CAPEM, 0o600))
	top := setup.top
	if !strings.Contains(top, "rotation:") {
		top = "rotation: {overlap: 10m}\n" + top
	}
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
storage: {driver: sqlite, dsn: state.db}
%s
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: prod-1, secret: "%s"}]
    tls: {ca_file: ca.pem, pins: ["%s"]}
    timeout: 5s
    cache: {enabled: false}
clients:
  siem: {token_sha256: %s, providers: [socialeye], source_cidrs: [127.0.0.0/8]}
%s
%s`, top, s.URL, b.Ref("socialeye", "api_key"), s.Pin, hash, setup.clients, b.top)
	path := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	o := Options{ConfigPath: path}
	if setup.clock != nil {
		o.Clock = setup.clock
	}
	gw := runGovAppWith(t, path, o)
	return gw, newGovClient(t, token), path
}

// steadyLoad runs workers that resolve distinct queries without pause until
// stop is called, which returns every failure seen.
func steadyLoad(t *testing.T, client *govClient, base string, workers int) (sent *atomic.Int64, stop func() []string) {
	sent = &atomic.Int64{}
	done := make(chan struct{})
	failures := make(chan string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				resp, err := client.do(base, fmt.Sprintf("/v1/resolve?query=rot-%d-%d", w, i))
				sent.Add(1)
				switch {
				case err != nil:
					failures <- err.Error()
					return
				case resp.status != http.StatusOK:
					failures <- fmt.Sprintf("status %d: %s", resp.status, resp.body)
					return
				}
			}
		})
	}
	return sent, func() []string {
		close(done)
		wg.Wait()
		close(failures)
		var out []string
		for f := range failures {
			out = append(out, f)
		}
		return out
	}
}

// waitForMore waits until n more lookups were sent since now (the load is
// flowing), or fails the test.
func waitForMore(t *testing.T, sent *atomic.Int64, n int64) {
	t.Helper()
	mark := sent.Load()
	// Generous for a loaded 2-core CI machine; it ends as soon as lookups flow.
	require.Eventually(t, func() bool { return sent.Load() >= mark+n }, 30*time.Second, time.Millisecond)
}

// testRotationUnderLoad is the live-rotation scenario every secret source
// must pass: the vendor issues a second key, the operator writes it into
// the secret store, the gateway's refresh picks it up while lookups run,
// the vendor retires the old key — and not one lookup fails. The rotation
// is logged and audited with both keyed fingerprints, never the key.
func testRotationUnderLoad(t *testing.T, newBackend func(t *testing.T) rotationBackend) {
	const oldKey, newKey = "se-live-ROTATION-OLD-key-0001aa", "se-live-ROTATION-NEW-key-0002bb"
	s := startGovSim(t, sim.Options{APIKeys: []string{oldKey}})
	b := newBackend(t)
	b.Put(t, "socialeye", map[string]string{"api_key": oldKey})
	gw, client, _ := rotationGateway(t, s, b, rotationSetup{})
	ctx := context.Background()

	sent, stop := steadyLoad(t, client, gw.url, 4)
	waitForMore(t, sent, 8)
	// The vendor issues the new key; the old one still works.
	s.Sim.SetAPIKeys([]string{oldKey, newKey})
	b.Put(t, "socialeye", map[string]string{"api_key": newKey})
	rep, err := gw.app.RefreshSecrets(ctx, "test")
	require.NoError(t, err)
	require.Equal(t, []string{"socialeye/prod-1"}, rep.Rotated)
	waitForMore(t, sent, 8)
	// The vendor retires the old key: only the new one answers now.
	s.Sim.SetAPIKeys([]string{newKey})
	waitForMore(t, sent, 16)
	require.Empty(t, stop(), "no lookup may fail while the key rotates")

	rotated := govLogRecords(t, gw.logs.String(), "event", "upstream_key_rotated")
	require.Len(t, rotated, 1)
	require.NotEmpty(t, rotated[0]["fingerprint"])
	require.NotEmpty(t, rotated[0]["previous_fingerprint"])
	require.NotEqual(t, rotated[0]["fingerprint"], rotated[0]["previous_fingerprint"])
	for _, k := range []string{oldKey, newKey} {
		require.NotContains(t, gw.logs.String(), k, "the log never holds a key")
	}
	// Nothing is refused with the new key afterwards.
	resp := client.get(t, gw.url, "/v1/resolve?query=after-rotation")
	require.Equal(t, http.StatusOK, resp.status, resp.body)
}

func TestFileKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	testRotationUnderLoad(t, func(t *testing.T) rotationBackend { return fileRotationBackend(t, t.TempDir()) })
}

// The secret store changed before the vendor activated the new key: within
// rotation.overlap the old key still answers, so no lookup fails; when the
// vendor switches, the new key does.
func TestRotationOverlapBeforeTheVendorSwitches(t *testing.T) {
	t.Parallel()
	const oldKey, newKey = "se-live-OVERLAP-OLD-key-0001aaaa", "se-live-OVERLAP-NEW-key-0002bbbb"
	s := startGovSim(t, sim.Options{APIKeys: []string{oldKey}})
	b := fileRotationBackend(t, t.TempDir())
	b.Put(t, "socialeye", map[string]string{"api_key": oldKey})
	gw, client, _ := rotationGateway(t, s, b, rotationSetup{})

	b.Put(t, "socialeye", map[string]string{"api_key": newKey}) // the vendor does not know it yet
	_, err := gw.app.RefreshSecrets(context.Background(), "test")
	require.NoError(t, err)
	for i := range 3 {
		resp := client.get(t, gw.url, fmt.Sprintf("/v1/resolve?query=overlap-%d", i))
		require.Equal(t, http.StatusOK, resp.status, "the previous key answers within the overlap: %s", resp.body)
	}
	require.Len(t, govLogRecords(t, gw.logs.String(), "event", "upstream_key_overlap"), 1, "logged once, then the previous key is used directly")
	s.Sim.SetAPIKeys([]string{newKey}) // the vendor activates the new key and retires the old
	for i := range 3 {
		resp := client.get(t, gw.url, fmt.Sprintf("/v1/resolve?query=switched-%d", i))
		require.Equal(t, http.StatusOK, resp.status, resp.body)
	}
	require.Empty(t, govLogRecords(t, gw.logs.String(), "event", "upstream_key_suspect"), "the key was never made suspect")
}

// A source that fails keeps the last good value: lookups go on with it,
// the refresh reports the field as stale and /readyz says degraded.
func TestFailingSourceKeepsTheLastGoodValue(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{APIKeys: []string{simKey}})
	b := fileRotationBackend(t, t.TempDir())
	b.Put(t, "socialeye", map[string]string{"api_key": simKey})
	gw, client, _ := rotationGateway(t, s, b, rotationSetup{})

	b.Delete(t, "socialeye")
	rep, err := gw.app.RefreshSecrets(context.Background(), "test")
	require.NoError(t, err, "a failing source is not a failed refresh: the last good value stays")
	require.Equal(t, []string{"providers.socialeye.keys[0].secret"}, rep.Stale)
	resp := client.get(t, gw.url, "/v1/resolve?query=still-served")
	require.Equal(t, http.StatusOK, resp.status, resp.body)

	ready := client.get(t, gw.url, "/readyz")
	require.Equal(t, http.StatusOK, ready.status, "degraded, not unready, within secrets.max_stale")
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(ready.body, &body))
	require.Equal(t, "degraded", body.Status)
	require.Equal(t, "degraded", body.Checks["secrets"])
	require.Equal(t, "ok", body.Checks["secrets_fresh"])
	stale := govLogRecords(t, gw.logs.String(), "msg", "secret source failed; the last good value stays in use")
	require.Len(t, stale, 1)
	require.NotContains(t, gw.logs.String(), simKey)

	b.Put(t, "socialeye", map[string]string{"api_key": simKey})
	rep, err = gw.app.RefreshSecrets(context.Background(), "test")
	require.NoError(t, err)
	require.Empty(t, rep.Stale)
	ready = client.get(t, gw.url, "/readyz")
	require.Contains(t, string(ready.body), `"status":"ok"`)
}
