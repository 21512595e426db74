package deploy_test

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	cmd, args string
	line      int
}

// dockerStage is one FROM and what follows it.
type dockerStage struct {
	image, name  string
	instructions []dockerInstruction
}

func parseDockerfile(t *testing.T, text string) (args map[string]string, stages []dockerStage) {
	t.Helper()
	args = map[string]string{}
	var cur strings.Builder
	start := 0
	var all []dockerInstruction
	for n, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n + 1
		}
		if rest, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		all = append(all, dockerInstruction{strings.ToUpper(cmd), strings.TrimSpace(rest), start})
		cur.Reset()
	}
	require.Zero(t, cur.Len(), "a continuation line at the end")
	expand := func(s string) string {
		return regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`).ReplaceAllStringFunc(s, func(m string) string {
			name := strings.Trim(m, "${}")
			v, ok := args[name]
			require.True(t, ok, "FROM uses $%s, which no ARG before the first FROM defines", name)
			return v
		})
	}
	for _, in := range all {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			name, value, _ := strings.Cut(in.args, "=")
			args[name] = value
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := dockerStage{image: expand(f[0])}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		default:
			require.NotEmpty(t, stages, "line %d: %s before any FROM", in.line, in.cmd)
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
	}
	return args, stages
}

func (s dockerStage) all(cmd string) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// requirePinned: an image reference with an exact tag or a digest, never
// "latest" or no tag.
func requirePinned(t *testing.T, image string) {
	t.Helper()
	if strings.Contains(image, "@sha256:") {
		return
	}
	i := strings.LastIndex(image, ":")
	require.True(t, i > strings.LastIndex(image, "/"), "image %s has no tag", image)
	require.NotEqual(t, "latest", image[i+1:], "image %s", image)
}

// TestDockerfile: multi-stage, the binary built static and reproducible,
// the run stage without shell or package manager, a numeric non-root user,
// nothing downloaded by ADD, no HEALTHCHECK (and the reason written down),
// a volume for state, and a toolchain no older than go.mod asks for.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	text := string(readRepoFile(t, "deploy/container/Dockerfile"))
	_, stages := parseDockerfile(t, text)
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage")
	build, final := stages[0], stages[len(stages)-1]
	for _, st := range stages {
		requirePinned(t, st.image)
		require.Empty(t, st.all("ADD"), "ADD fetches and unpacks; use COPY (and never ADD http…)")
		require.Empty(t, st.all("HEALTHCHECK"))
	}
	require.NotContains(t, strings.ToUpper(text), "ADD HTTP")

	// The build: the Go toolchain, static, trimmed paths, at least go.mod's Go.
	m := regexp.MustCompile(`^golang:(\d+\.\d+\.\d+)`).FindStringSubmatch(build.image)
	require.NotNil(t, m, "build stage %s: an exact golang:X.Y.Z tag", build.image)
	goMod := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindStringSubmatch(string(readRepoFile(t, "go.mod")))
	require.NotNil(t, goMod)
	require.False(t, versionLess(m[1], goMod[1]), "the build image's Go %s is older than go.mod's go %s", m[1], goMod[1])
	var buildRun string
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			buildRun = in.args
		}
	}
	require.Contains(t, buildRun, "CGO_ENABLED=0")
	require.Contains(t, buildRun, "-trimpath")
	require.Contains(t, buildRun, "./cmd/intelgate")

	// The run stage: distroless static or scratch, nothing run in it.
	require.True(t, strings.HasPrefix(final.image, "gcr.io/distroless/static") || final.image == "scratch", "run stage %s", final.image)
	require.Empty(t, final.all("RUN"), "the run stage has no shell to RUN with")
	users := final.all("USER")
	require.NotEmpty(t, users)
	uid, gid, _ := strings.Cut(users[len(users)-1].args, ":")
	for _, id := range []string{uid, gid} {
		n, err := strconv.Atoi(id)
		require.NoError(t, err, "USER %s: numeric, so a runtime can tell it is not root", users[len(users)-1].args)
		require.NotZero(t, n, "USER root")
	}
	var chowned bool
	for _, in := range final.all("COPY") {
		require.Contains(t, in.args, "--from="+build.name, "the run stage copies only from the build stage: %s", in.args)
		if strings.Contains(in.args, "/var/lib/intelgate") {
			require.Contains(t, in.args, "--chown="+uid+":"+gid, "the state directory belongs to the run user")
			chowned = true
		}
	}
	require.True(t, chowned, "the run stage creates /var/lib/intelgate for the run user")
	require.Len(t, final.all("VOLUME"), 1)
	require.Contains(t, final.all("VOLUME")[0].args, "/var/lib/intelgate")
	ep := final.all("ENTRYPOINT")
	require.Len(t, ep, 1)
	require.Equal(t, `["/usr/local/bin/intelgate"]`, ep[0].args, "exec form: no shell to interpret it")
	require.Contains(t, text, "No HEALTHCHECK", "the Dockerfile says why there is no HEALTHCHECK")
	require.Contains(t, text, "/readyz")
	require.Contains(t, string(readRepoFile(t, "deploy/container/Dockerfile.dockerignore")), "deploy/container/secrets",
		"the build context never carries the compose secrets")
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// composeService is the part of a compose service the checks read.
type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	SecurityOpt []string          `yaml:"security_opt"`
	User        string            `yaml:"user"`
	Privileged  bool              `yaml:"privileged"`
	Environment map[string]string `yaml:"environment"`
	EnvFile     []string          `yaml:"env_file"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	Tmpfs       []string          `yaml:"tmpfs"`
	Ports       []string          `yaml:"ports"`
	ExtraHosts  []string          `yaml:"extra_hosts"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Networks any `yaml:"networks"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File        string `yaml:"file"`
		Environment string `yaml:"environment"`
	} `yaml:"secrets"`
}

// secretish names an environment variable that would carry a secret.
var secretish = regexp.MustCompile(`(?i)pass|secret|token|key|dsn|url|auth|cred`)

// TestCompose: two hardened gateway replicas, no secret in any container's
// environment, the gateways' config valid and backed by exactly the secrets
// they are given, and the stand-in upstream wired the way the config says.
func TestCompose(t *testing.T) {
	t.Parallel()
	var cf composeFile
	decodeYAML(t, "deploy/container/compose.yaml", &cf)

	var gateways []string
	for name, s := range cf.Services {
		requirePinned(t, s.Image)
		require.False(t, s.Privileged, name)
		for k, v := range s.Environment {
			if secretish.MatchString(k) {
				require.True(t, strings.HasSuffix(k, "_FILE") && strings.HasPrefix(v, "/run/secrets/"),
					"service %s: %s in the environment; pass a file (compose secrets)", name, k)
			}
		}
		require.Contains(t, s.SecurityOpt, "no-new-privileges:true", "service %s", name)
		if len(s.Command) > 0 && s.Command[0] == "serve" {
			gateways = append(gateways, name)
		}
		if s.Image == cf.Services["gateway-1"].Image {
			// Every container of the intelgate image is hardened alike.
			require.True(t, s.ReadOnly, "%s: read_only", name)
			require.Equal(t, []string{"ALL"}, s.CapDrop, "%s: cap_drop", name)
			require.Equal(t, "65532:65532", s.User, name)
		}
	}
	slices.Sort(gateways)
	require.Equal(t, []string{"gateway-1", "gateway-2"}, gateways, "two gateway replicas")

	cfg, err := config.Load(repoPath(t, "deploy/container/intelgate.yaml"))
	require.NoError(t, err, "the config the gateways mount")
	require.Equal(t, "postgres", cfg.Storage.Driver)
	require.Equal(t, "redis", cfg.Shared.Driver)
	require.NotEmpty(t, cfg.Encryption.Keys)

	// The secrets the config reads, by their file: references under /run/secrets.
	refs := map[string]bool{}
	text := yamlWithoutComments(string(readRepoFile(t, "deploy/container/intelgate.yaml")))
	require.NotContains(t, text, "env:", "the gateways get no secret through their environment")
	for _, m := range regexp.MustCompile(`file:/run/secrets/([\w.-]+)`).FindAllStringSubmatch(text, -1) {
		refs[m[1]] = true
	}
	require.Len(t, refs, 4, "provider key, encryption key, postgres dsn, redis url")

	for _, name := range gateways {
		s := cf.Services[name]
		require.Empty(t, s.Environment, "%s: no environment at all", name)
		require.Empty(t, s.EnvFile, name)
		require.Empty(t, s.Tmpfs, "%s: with PostgreSQL and Redis the gateway writes nothing locally", name)
		require.ElementsMatch(t, slices.Sorted(maps.Keys(refs)), s.Secrets, "%s: given exactly the secrets its config reads", name)
		require.Contains(t, s.Volumes, "./intelgate.yaml:/etc/intelgate/intelgate.yaml:ro", name)
		for _, p := range s.Ports {
			require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %s beyond the host's loopback", name, p)
		}
		for _, dep := range []string{"postgres", "redis"} {
			require.Equal(t, "service_healthy", s.DependsOn[dep].Condition, "%s waits for %s", name, dep)
			require.NotNil(t, cf.Services[dep].Healthcheck, "%s has a healthcheck", dep)
		}
		// The CA file is on a volume the gateway mounts.
		var mounted bool
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && strings.HasPrefix(cfg.Providers["socialeye"].TLS.CAFile, parts[1]+"/") {
				mounted = true
			}
		}
		require.True(t, mounted, "%s: providers.socialeye.tls.ca_file %s is on no volume", name, cfg.Providers["socialeye"].TLS.CAFile)
		// base_url's host resolves to the simulator (compose.yaml explains why).
		u, err := url.Parse(cfg.Providers["socialeye"].BaseURL)
		require.NoError(t, err)
		simIP := simAddress(t, cf.Services["sim"])
		require.Contains(t, s.ExtraHosts, u.Hostname()+":"+simIP, "%s: %s must lead to the simulator", name, u.Hostname())
		require.Contains(t, strings.Join(cf.Services["sim"].Command, " "), "--addr 0.0.0.0:"+u.Port(), "the simulator listens on base_url's port")
	}
	for name := range refs {
		require.NotEmpty(t, cf.Secrets[name].File, "secret %s: from a file", name)
		require.True(t, strings.HasPrefix(cf.Secrets[name].File, "./secrets/"), "secret %s: in ./secrets (kept out of the image build)", name)
	}
	for _, dep := range []string{"postgres", "redis"} {
		for _, sec := range cf.Services[dep].Secrets {
			require.Contains(t, cf.Secrets, sec, "%s uses an undefined secret", dep)
		}
	}
	require.Equal(t, "/run/secrets/postgres_password", cf.Services["postgres"].Environment["POSTGRES_PASSWORD_FILE"])
	require.Contains(t, strings.Join(cf.Services["redis"].Command, " "), "--aclfile /run/secrets/redis_acl")
	require.Contains(t, strings.Join(cf.Services["redis"].Command, " "), "--appendonly yes", "quota counters must survive a Redis restart")
}

// simAddress is the simulator service's fixed IPv4 address.
func simAddress(t *testing.T, s composeService) string {
	t.Helper()
	nets, ok := s.Networks.(map[string]any)
	require.True(t, ok, "the sim service names its network and address")
	for _, n := range nets {
		if nm, ok := n.(map[string]any); ok {
			if ip, ok := nm["ipv4_address"].(string); ok {
				return ip
			}
		}
	}
	t.Fatalf("the sim service has no ipv4_address: %v", nets)
	return ""
}
