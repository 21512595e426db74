package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/sim"
)

// simFlags are the command line of `intelgate sim`.
type simFlags struct {
	addr        string
	tls         bool
	allowRemote bool
	apiKeyEnv   string
	rate        float64
	burst       int
	seed        int64
	caOut       string
	webhookEnv  string
	faults      sim.Faults
}

func newSimCmd() *cobra.Command { return simCommand(os.Getenv, &simFlags{}) }

// simCommand binds its flags to f and reads the key through getenv, so tests
// can inspect parsed flags and supply the key without touching the process
// environment.
func simCommand(getenv func(string) string, f *simFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim [--addr 127.0.0.1:9443] [--tls=true] [--rate N] [--fail-rate F] [--latency D] ...",
		Short: "Run the SocialEye simulator alone (TLS, pinned, fault injection)",
		Long: `sim runs the SocialEye simulator: GET /v1/resolve with Bearer auth, a per-key
rate limit, deterministic bodies and injectable faults, plus the unauthenticated
control endpoints GET /_sim/stats, GET|POST /_sim/faults, POST /_sim/reset and,
with --webhook-secret-env, POST /_sim/emit (send a signed webhook to a loopback
address).
The accepted key is read from the variable named by --api-key-env; when it is
unset a random (fake) key is generated and printed. See docs/simulator.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSim(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), *f, getenv)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:9443", "listen address (loopback unless --allow-remote)")
	fl.BoolVar(&f.tls, "tls", true, "serve TLS with a fresh self-signed certificate")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback --addr (the /_sim endpoints have no auth)")
	fl.StringVar(&f.apiKeyEnv, "api-key-env", "SOCIALEYE_API_KEY", "environment variable holding the accepted API key")
	fl.Float64Var(&f.rate, "rate", 10, "per-key requests per second (0: unlimited)")
	fl.IntVar(&f.burst, "burst", 0, "per-key burst (0: same as --rate, at least 1)")
	fl.Int64Var(&f.seed, "seed", 1, "seed of the fault dice")
	fl.StringVar(&f.caOut, "ca-out", "", "write the certificate (usable as a CA file) to this path")
	fl.StringVar(&f.webhookEnv, "webhook-secret-env", "", "environment variable holding the whsec_ secret /_sim/emit signs webhooks with")
	fl.Float64Var(&f.faults.ErrorRate, "fail-rate", 0, "fraction of requests answered 500")
	fl.DurationVar(&f.faults.Latency, "latency", 0, "delay added to every answer")
	fl.Float64Var(&f.faults.MalformedRate, "malformed-rate", 0, "fraction answered with truncated JSON")
	fl.Float64Var(&f.faults.NonObjectRate, "non-object-rate", 0, "fraction answered with a JSON array")
	fl.Float64Var(&f.faults.WrongTypeRate, "wrong-type-rate", 0, "fraction answered as text/html")
	fl.Float64Var(&f.faults.OversizedRate, "oversized-rate", 0, "fraction answered with an oversized body")
	fl.Int64Var(&f.faults.OversizedBytes, "oversized-bytes", sim.DefaultOversizedBytes, "size of an oversized body")
	fl.Float64Var(&f.faults.ResetRate, "reset-rate", 0, "fraction whose connection is reset mid-response")
	fl.StringVar(&f.faults.Reflect, "reflect", "", "echo the Authorization header in every answer, spelled "+strings.Join(sim.ReflectModes, "|"))
	return cmd
}

// options turns flags into simulator options. generated is the key made up
// because the variable was unset ("" when the operator supplied one).
func (f simFlags) options(getenv func(string) string) (o sim.Options, generated string, err error) {
	if err := checkSimAddr(f.addr, f.allowRemote); err != nil {
		return sim.Options{}, "", err
	}
	switch {
	case !(f.rate >= 0):
		return sim.Options{}, "", fmt.Errorf("--rate must not be negative, got %v", f.rate)
	case f.burst < 0:
		return sim.Options{}, "", fmt.Errorf("--burst must not be negative, got %d", f.burst)
	case f.apiKeyEnv == "":
		return sim.Options{}, "", errors.New("--api-key-env must name an environment variable")
	case f.caOut != "" && !f.tls:
		return sim.Options{}, "", errors.New("--ca-out needs --tls")
	}
	if err := f.faults.Validate(); err != nil {
		// Name the flag, not the JSON field the library speaks of.
		return sim.Options{}, "", errors.New(flagNames.Replace(err.Error()))
	}
	key := strings.TrimSpace(getenv(f.apiKeyEnv))
	if key == "" {
		key = "sk_sim_" + randomHex(16)
		generated = key
	}
	o = sim.Options{APIKeys: []string{key}, Rate: f.rate, Burst: f.burst, Seed: f.seed, Faults: f.faults}
	if f.webhookEnv != "" {
		if o.WebhookSecret = strings.TrimSpace(getenv(f.webhookEnv)); o.WebhookSecret == "" {
			return sim.Options{}, "", fmt.Errorf("--webhook-secret-env: environment variable %s is not set", f.webhookEnv)
		}
		if err := o.Validate(); err != nil {
			return sim.Options{}, "", fmt.Errorf("--webhook-secret-env: %w", err)
		}
	}
	return o, generated, nil
}

// flagNames maps the JSON field names in sim's validation errors to flags.
var flagNames = strings.NewReplacer(
	"error_rate", "--fail-rate", "malformed_rate", "--malformed-rate", "non_object_rate", "--non-object-rate",
	"wrong_type_rate", "--wrong-type-rate", "oversized_rate", "--oversized-rate", "reset_rate", "--reset-rate",
	"oversized_bytes", "--oversized-bytes", "latency", "--latency", "reflect", "--reflect",
)

// checkSimAddr refuses a non-loopback listen address unless allowed: the
// control endpoints let anyone who can connect change the simulator.
func checkSimAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--addr %q is not a loopback address; pass --allow-remote to listen there (the /_sim endpoints have no authentication)", addr)
}

// runSim serves until ctx is cancelled.
func runSim(ctx context.Context, out, errOut io.Writer, f simFlags, getenv func(string) string) error {
	opts, generated, err := f.options(getenv)
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := sim.Start(f.addr, f.tls, sim.New(opts))
	if err != nil {
		return fmt.Errorf("starting simulator: %w", err)
	}
	defer srv.Close()
	if f.caOut != "" {
		// A certificate is public; 0644 lets other local users' clients trust it.
		if err := os.WriteFile(f.caOut, srv.CAPEM, 0o644); err != nil {
			return fmt.Errorf("writing CA file: %w", err)
		}
	}
	printSimWelcome(out, srv, f, generated)
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stopping simulator: %w", err)
	}
	return nil
}

func printSimWelcome(w io.Writer, srv *sim.Server, f simFlags, generated string) {
	fmt.Fprintf(w, "SocialEye simulator listening on %s\n", srv.URL)
	if srv.Pin != "" {
		fmt.Fprintf(w, "  pin:     %s\n", srv.Pin)
	}
	if f.caOut != "" {
		fmt.Fprintf(w, "  CA file: %s\n", f.caOut)
	}
	if generated != "" {
		fmt.Fprintf(w, "  api key: %s (generated fake key; set %s to choose one)\n", generated, f.apiKeyEnv)
	} else {
		fmt.Fprintf(w, "  api key: from $%s\n", f.apiKeyEnv)
	}
	if f.rate > 0 {
		burst := sim.Options{Rate: f.rate, Burst: f.burst}.EffectiveBurst()
		fmt.Fprintf(w, "  limit:   %g requests/s per key, burst %d\n", f.rate, burst)
	} else {
		fmt.Fprintln(w, "  limit:   none")
	}
	fmt.Fprintf(w, "  faults:  %s\n", describeFaults(srv.Sim.Faults()))
	fmt.Fprintln(w, "  control: GET /_sim/stats, GET|POST /_sim/faults, POST /_sim/reset")
}

func describeFaults(f sim.Faults) string {
	var parts []string
	add := func(name string, rate float64) {
		if rate > 0 {
			parts = append(parts, fmt.Sprintf("%s %g", name, rate))
		}
	}
	add("fail", f.ErrorRate)
	add("reset", f.ResetRate)
	add("malformed", f.MalformedRate)
	add("non-object", f.NonObjectRate)
	add("wrong-type", f.WrongTypeRate)
	add("oversized", f.OversizedRate)
	if f.Latency > 0 {
		parts = append(parts, "latency "+f.Latency.String())
	}
	if f.Reflect != "" {
		parts = append(parts, "reflect "+f.Reflect)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
