package deploy_test

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
)

// unitFile is a parsed systemd unit: section -> key -> every assignment in
// order (an empty assignment resets a list setting).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	var pending string
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if pending != "" {
			line, pending = pending+" "+line, ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			pending = rest
			continue
		}
		if strings.HasPrefix(line, "[") {
			require.True(t, strings.HasSuffix(line, "]"), "line %d: %q", n+1, line)
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "line %d: not key=value: %q", n+1, line)
		require.NotEmpty(t, section, "line %d: outside any section", n+1)
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	return u
}

// last is a setting's effective value (the last assignment).
func (u unitFile) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// TestSystemdUnit: the hardening docs/deployment.md promises is in the unit,
// and the credentials it loads are exactly the ones the example config reads.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, string(readRepoFile(t, "deploy/systemd/intelgate.service")))
	for key, want := range map[string]string{
		"Type": "exec", "Restart": "on-failure",
		"DynamicUser": "yes", "StateDirectory": "intelgate", "ConfigurationDirectory": "intelgate",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "RestrictNamespaces": "yes",
		"RestrictSUIDSGID": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
		"ProtectControlGroups": "yes", "SystemCallArchitectures": "native", "UMask": "0077",
	} {
		got, ok := u.last("Service", key)
		require.True(t, ok, "[Service] has no %s=", key)
		require.Equal(t, want, got, "[Service] %s=", key)
	}
	require.Len(t, u["Service"]["CapabilityBoundingSet"], 1, "one CapabilityBoundingSet=, and it is empty")

	families := strings.Fields(mustLast(t, u, "RestrictAddressFamilies"))
	require.ElementsMatch(t, []string{"AF_INET", "AF_INET6", "AF_UNIX"}, families)
	filters := u["Service"]["SystemCallFilter"]
	require.Contains(t, filters, "@system-service")
	require.Contains(t, filters, "~@privileged @resources")

	exec := u["Service"]["ExecStart"]
	require.Len(t, exec, 1)
	require.Equal(t, "/usr/local/bin/intelgate serve --config /etc/intelgate/intelgate.yaml", exec[0])
	reload := u["Service"]["ExecReload"]
	require.Equal(t, []string{
		"/usr/local/bin/intelgate config validate --config /etc/intelgate/intelgate.yaml",
		"/bin/kill -HUP $MAINPID",
	}, reload, "reload: validate, then SIGHUP")

	// Credentials: every path the example config reads under
	// $CREDENTIALS_DIRECTORY is loaded, and every loaded one is read.
	loaded := map[string]string{}
	for _, lc := range u["Service"]["LoadCredential"] {
		id, src, ok := strings.Cut(lc, ":")
		require.True(t, ok, "LoadCredential=%s: ID:PATH", lc)
		require.True(t, filepath.IsAbs(src) && strings.HasPrefix(src, "/etc/intelgate/credentials/"), "LoadCredential=%s: read from /etc/intelgate/credentials", lc)
		loaded[id] = src
	}
	const credDir = "/run/credentials/intelgate.service/"
	text := yamlWithoutComments(string(readRepoFile(t, "deploy/systemd/intelgate.yaml")))
	require.NotContains(t, text, "env:", "a secret in the unit's environment would be visible in systemctl show")
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`/run/credentials/[^\s"']+`).FindAllString(text, -1) {
		id, ok := strings.CutPrefix(m, credDir)
		require.True(t, ok, "%s: the credentials directory of intelgate.service is %s", m, credDir)
		require.Contains(t, loaded, id, "the config reads %s, which no LoadCredential= loads", m)
		used[id] = true
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(loaded)), slices.Collect(maps.Keys(used)), "a LoadCredential= the config does not read")

	cfg, err := config.Load(repoPath(t, "deploy/systemd/intelgate.yaml"))
	require.NoError(t, err)
	require.Equal(t, "sqlite", cfg.Storage.Driver)
	require.True(t, strings.HasPrefix(cfg.Storage.DSN, "/var/lib/intelgate/"), "storage.dsn %s: the state directory is the only writable one", cfg.Storage.DSN)
	require.NotNil(t, cfg.Server.TLS)
	require.True(t, strings.HasPrefix(cfg.Server.TLS.KeyFile, credDir), "the TLS key is a credential")
	_, port, err := net.SplitHostPort(cfg.Server.Listen)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	require.GreaterOrEqual(t, p, 1024, "the unit has no capability to bind %s (see privileged-port.conf)", cfg.Server.Listen)

	// The opt-in drop-in for ports below 1024 grants that one capability.
	d := parseUnit(t, string(readRepoFile(t, "deploy/systemd/privileged-port.conf")))
	require.Equal(t, map[string]map[string][]string{"Service": {
		"CapabilityBoundingSet": {"CAP_NET_BIND_SERVICE"},
		"AmbientCapabilities":   {"CAP_NET_BIND_SERVICE"},
		"PrivateUsers":          {"no"},
	}}, map[string]map[string][]string(d))
}

// yamlWithoutComments drops # comments (whole lines and trailing ones), so
// a scan of a YAML file sees only its values. Good enough for our files,
// which have no # inside values.
func yamlWithoutComments(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func mustLast(t *testing.T, u unitFile, key string) string {
	t.Helper()
	v, ok := u.last("Service", key)
	require.True(t, ok, "[Service] has no %s=", key)
	return v
}

// TestSystemdAnalyze runs systemd-analyze on the unit, and on the unit with
// the privileged-port drop-in applied. verify checks that every command
// exists and is executable, so the copies point ExecStart and ExecReload at
// this test binary (any executable file will do; it is never run) instead
// of /usr/local/bin/intelgate, which is not installed here; every other
// line is verified as written. security --offline scores the sandbox:
// above 2.0 ("OK" ends at 4.9) fails.
func TestSystemdAnalyze(t *testing.T) {
	t.Parallel()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH (Debian package \"systemd\"): the unit was only parsed")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	unit := strings.ReplaceAll(string(readRepoFile(t, "deploy/systemd/intelgate.service")), "/usr/local/bin/intelgate", self)
	dropIn := string(readRepoFile(t, "deploy/systemd/privileged-port.conf"))
	for name, text := range map[string]string{
		"unit":             unit,
		"with the drop-in": unit + "\n" + dropIn[strings.Index(dropIn, "[Service]"):],
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "intelgate.service") // the name fixes $CREDENTIALS_DIRECTORY
			require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
			out := run(t, dir, sa, "verify", "--man=no", path)
			require.NotContains(t, out, "intelgate.service:", "systemd-analyze verify complained")

			out, err := runErr(t, dir, sa, "security", "--offline=yes", "--threshold=20", path)
			if err != nil && strings.Contains(out, "unrecognized option") {
				t.Logf("systemd-analyze security --offline needs systemd 250; skipped: %s", out)
				return
			}
			require.NoError(t, err, "exposure above 2.0:\n%s", out)
			require.Contains(t, out, "Overall exposure level for intelgate.service")
		})
	}
}
