package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/logwriter"
	"github.com/intelgate/intelgate/internal/sim"
)

func newDemoCmd() *cobra.Command {
	var dir, addr string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--addr 127.0.0.1:8080]",
		Short: "Run the SocialEye simulator and a gateway in front of it, on this machine only",
		Long: `demo starts the SocialEye simulator over TLS (its certificate pinned) and a gateway
on the embedded default (SQLite in DIR), creates a demo client token, prints a
ready-to-paste curl and Python example, and writes DIR/demo.env. Loopback only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The demo runs in a terminal: a hang-up (the terminal closed)
			// stops it as Ctrl-C does, gracefully, rather than leaving a
			// gateway holding the port and the demo directory's lock.
			// serve, a daemon, treats SIGHUP as a reload request instead.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP)
			defer stop()
			// Deferred before the demo's own close, so it runs after it:
			// the lines logged while stopping are written too.
			stderr := newLogOutput(cmd.ErrOrStderr())
			defer stderr.Close()
			d, err := startDemo(ctx, dir, addr, demoLogger(stderr, quiet))
			if err != nil {
				return err
			}
			defer d.close()
			d.printWelcome(cmd.OutOrStdout())
			return d.wait()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./intelgate-demo", "directory for the demo's config, keys and SQLite file")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "loopback address for the gateway")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "do not print the access log")
	return cmd
}

func demoLogger(out *logwriter.Writer, quiet bool) *slog.Logger {
	if quiet {
		return slog.New(slog.DiscardHandler)
	}
	return newLogger(out)
}

// demo is a running simulator plus gateway.
type demo struct {
	dir, url, token string
	sim             *sim.Server
	app             *app.App
	errc            chan error
	unlock          func()
}

// startDemo writes the demo's files into dir, starts the simulator and the
// gateway and returns once both are listening.
func startDemo(ctx context.Context, dir, addr string, log *slog.Logger) (*demo, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("--addr %q: the demo listens on a loopback address only (e.g. 127.0.0.1:8080)", addr)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("--dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("--dir %q: %w", dir, err)
	}
	unlock, err := lockDemoDir(abs)
	if err != nil {
		return nil, err
	}

	// The simulator's key is a fresh random one, kept in a 0600 file the
	// gateway reads through a file: reference, as a real key would be.
	simKey := "demo-" + randomHex(16)
	simSrv, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{APIKeys: []string{simKey}, Rate: 10, Burst: 10}))
	if err != nil {
		unlock()
		return nil, fmt.Errorf("starting simulator: %w", err)
	}
	d := &demo{dir: abs, sim: simSrv, errc: make(chan error, 1), unlock: unlock}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()

	token, hash, err := auth.NewToken()
	if err != nil {
		return nil, fmt.Errorf("creating demo token: %w", err)
	}
	d.token = token
	files := map[string][]byte{
		"socialeye.key": []byte(simKey + "\n"),
		"sim-ca.pem":    simSrv.CAPEM,
		"intelgate.yaml": []byte(demoConfig(demoConfigParams{
			Listen: addr, SimURL: simSrv.URL, Pin: simSrv.Pin, TokenSHA256: hash,
		})),
	}
	for name, data := range files {
		if err := writeFileAtomic(filepath.Join(abs, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	cfg, err := config.Load(filepath.Join(abs, "intelgate.yaml"))
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	if d.app, err = app.New(ctx, cfg, log, app.Options{}); err != nil {
		return nil, fmt.Errorf("starting gateway: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %s: %w (is another demo running? try --addr 127.0.0.1:8081)", addr, err)
	}
	d.url = "http://" + ln.Addr().String()
	env := fmt.Sprintf("INTELGATE_URL=%s\nINTELGATE_TOKEN=%s\n", d.url, token)
	if err := writeFileAtomic(filepath.Join(abs, "demo.env"), []byte(env), 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	go func() { d.errc <- d.app.Run(ctx, ln) }()
	ok = true
	return d, nil
}

func (d *demo) wait() error { return <-d.errc }

func (d *demo) close() {
	if d.app != nil {
		_ = d.app.Close()
	}
	if d.sim != nil {
		_ = d.sim.Close()
	}
	if d.unlock != nil {
		d.unlock()
	}
}

func (d *demo) printWelcome(w io.Writer) {
	envFile := filepath.Join(d.dir, "demo.env")
	fmt.Fprintf(w, `intelgate demo is running (Ctrl-C to stop)

  gateway    %s   (SQLite state, config and keys in %s)
  simulator  %s   (SocialEye simulator, TLS pinned to %s)
  token      %s   (also in %s)

Try it from another shell:

  curl -sS -H "Authorization: Bearer %s" "%s/v1/resolve?query=johndoe&type=auto"

  curl -sS -H "Authorization: Bearer %s" "%s/v1/lookup?indicator=8.8.8.8"

Python (SocialEye's own example, with only the base URL and key changed):

  import requests
  base, key = "%s", "%s"
  r = requests.get(base + "/v1/resolve", headers={"Authorization": f"Bearer {key}"},
                   params={"query": "johndoe"}, timeout=30)
  r.raise_for_status()
  print(r.json())

Or the CLI:  set -a; . %s; set +a; go run ./cmd/intelgate lookup 8.8.8.8

`, d.url, d.dir, d.sim.URL, d.sim.Pin, d.token, envFile,
		d.token, d.url, d.token, d.url, d.url, d.token, envFile)
}

type demoConfigParams struct {
	Listen, SimURL, Pin, TokenSHA256 string
}

// demoConfig is an ordinary config file: the demo goes through the same
// loading and validation as production.
func demoConfig(p demoConfigParams) string {
	return strings.NewReplacer(
		"{{listen}}", p.Listen, "{{sim_url}}", p.SimURL, "{{pin}}", p.Pin, "{{token_sha256}}", p.TokenSHA256,
	).Replace(`# Written by "intelgate demo". Every path is relative to this file.
server:
  listen: {{listen}}
environment: demo
storage:
  driver: sqlite
  dsn: intelgate.db
providers:
  socialeye:
    kind: socialeye
    base_url: {{sim_url}}
    keys:
      - id: demo-1
        secret: file:socialeye.key
    tls:
      min_version: "1.2"
      ca_file: sim-ca.pem
      pins: ["{{pin}}"]
    timeout: 10s
    # The simulator allows 10 requests a second per key: pace to exactly
    # that, so SocialEye never has to answer 429.
    limits: {rate: 10/s, burst: 10, quotas: {day: 10000, month: 250000}, max_wait: 2s}
clients:
  demo:
    token_sha256: {{token_sha256}}
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8, "::1/128"]
`)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeFileAtomic writes via a temporary file and rename, so a reader never
// sees a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
