package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/sim"
	"github.com/intelgate/intelgate/internal/upstream"
)

// simEnv is a fake environment for simCommand.
func simEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// parseSimFlags runs cobra's flag parsing for args and returns the flags.
func parseSimFlags(args ...string) (simFlags, error) {
	var f simFlags
	err := simCommand(simEnv(nil), &f).ParseFlags(args)
	return f, err
}

func TestSimFlagsToOptions(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SOCIALEYE_API_KEY": "se-key-from-env", "OTHER_KEY": "other-key",
		"SIM_WEBHOOK": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "WEAK_WEBHOOK": "whsec_c2hvcnQ="}
	tests := []struct {
		name    string
		args    []string
		want    sim.Options
		wantGen bool
		wantErr string
	}{
		{
			name: "defaults",
			want: sim.Options{APIKeys: []string{"se-key-from-env"}, Rate: 10, Seed: 1,
				Faults: sim.Faults{OversizedBytes: sim.DefaultOversizedBytes}},
		},
		{
			name: "every fault flag",
			args: []string{"--fail-rate", "0.1", "--latency", "250ms", "--malformed-rate", "0.2", "--non-object-rate", "0.05",
				"--wrong-type-rate", "0.3", "--oversized-rate", "0.04", "--oversized-bytes", "1024", "--reset-rate", "0.01",
				"--rate", "2.5", "--burst", "7", "--seed", "99", "--api-key-env", "OTHER_KEY"},
			want: sim.Options{APIKeys: []string{"other-key"}, Rate: 2.5, Burst: 7, Seed: 99, Faults: sim.Faults{
				ErrorRate: 0.1, Latency: 250 * time.Millisecond, MalformedRate: 0.2, NonObjectRate: 0.05,
				WrongTypeRate: 0.3, OversizedRate: 0.04, OversizedBytes: 1024, ResetRate: 0.01}},
		},
		{name: "unset key variable generates one", args: []string{"--api-key-env", "UNSET_VAR"}, wantGen: true},
		{name: "localhost", args: []string{"--addr", "localhost:0"}, want: sim.Options{APIKeys: []string{"se-key-from-env"}}},
		{name: "ipv6 loopback", args: []string{"--addr", "[::1]:0"}, want: sim.Options{APIKeys: []string{"se-key-from-env"}}},
		{name: "remote allowed", args: []string{"--addr", "0.0.0.0:9443", "--allow-remote"}, want: sim.Options{APIKeys: []string{"se-key-from-env"}}},
		{name: "all interfaces refused", args: []string{"--addr", ":9443"}, wantErr: "not a loopback address; pass --allow-remote"},
		{name: "public address refused", args: []string{"--addr", "192.0.2.1:9443"}, wantErr: "not a loopback address"},
		{name: "host name refused", args: []string{"--addr", "sim.example.com:9443"}, wantErr: "not a loopback address"},
		{name: "bad addr", args: []string{"--addr", "nonsense"}, wantErr: `--addr "nonsense"`},
		{name: "rate over one", args: []string{"--fail-rate", "1.5"}, wantErr: "--fail-rate must be between 0 and 1"},
		{name: "negative reset rate", args: []string{"--reset-rate", "-0.1"}, wantErr: "--reset-rate must be between 0 and 1"},
		{name: "negative latency", args: []string{"--latency", "-1s"}, wantErr: "--latency must not be negative"},
		{name: "negative rate", args: []string{"--rate", "-1"}, wantErr: "--rate must not be negative"},
		{name: "negative burst", args: []string{"--burst", "-1"}, wantErr: "--burst must not be negative"},
		{name: "ca-out without tls", args: []string{"--tls=false", "--ca-out", "x.pem"}, wantErr: "--ca-out needs --tls"},
		{name: "empty key env name", args: []string{"--api-key-env", ""}, wantErr: "--api-key-env"},
		{name: "webhook secret", args: []string{"--webhook-secret-env", "SIM_WEBHOOK"},
			want: sim.Options{APIKeys: []string{"se-key-from-env"}, Rate: 10, Seed: 1, WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				Faults: sim.Faults{OversizedBytes: sim.DefaultOversizedBytes}}},
		{name: "webhook secret unset", args: []string{"--webhook-secret-env", "UNSET_VAR"}, wantErr: "--webhook-secret-env: environment variable UNSET_VAR is not set"},
		{name: "webhook secret weak", args: []string{"--webhook-secret-env", "WEAK_WEBHOOK"}, wantErr: "--webhook-secret-env"},
		{name: "not a number", args: []string{"--rate", "fast"}, wantErr: "invalid argument"},
		{name: "bad duration", args: []string{"--latency", "soon"}, wantErr: "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseSimFlags(tt.args...)
			var got sim.Options
			var generated string
			if err == nil {
				got, generated, err = f.options(simEnv(env))
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.wantGen {
				require.Regexp(t, `^sk_sim_[0-9a-f]{32}$`, generated)
				require.Equal(t, []string{generated}, got.APIKeys)
				return
			}
			require.Empty(t, generated, "a key from the environment is not 'generated'")
			if tt.want.Rate == 0 && tt.want.Faults == (sim.Faults{}) { // only the key matters here
				require.Equal(t, tt.want.APIKeys, got.APIKeys)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSimCommandServesUntilCancelled(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join(t.TempDir(), "sim-ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut logtest.Buffer
	cmd := simCommand(simEnv(nil), &simFlags{}) // no key variable: one is generated and printed
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--ca-out", caFile, "--fail-rate", "0"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	reURL := regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+)`)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "control:") }, 10*time.Second, 5*time.Millisecond)
	printed := out.String()
	m := reURL.FindStringSubmatch(printed)
	require.NotNil(t, m, printed)
	key := regexp.MustCompile(`api key: (sk_sim_[0-9a-f]{32}) \(generated`).FindStringSubmatch(printed)
	require.NotNil(t, key, printed)
	pin := regexp.MustCompile(`pin:\s+(sha256/\S+)`).FindStringSubmatch(printed)
	require.NotNil(t, pin, printed)
	require.Contains(t, printed, "CA file: "+caFile)

	// The written CA file is all a client needs to trust the simulator.
	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, m[1]+"/v1/resolve?query=alice", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key[1])
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, pin[1], upstream.Pin(resp.TLS.PeerCertificates[0]))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("sim did not stop after cancellation")
	}
}

func TestSimCommandNeverPrintsSuppliedKey(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut logtest.Buffer
	cmd := simCommand(simEnv(map[string]string{"SOCIALEYE_API_KEY": "se-secret-value-123"}), &simFlags{})
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "control:") }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, out.String(), "api key: from $SOCIALEYE_API_KEY")
	require.NotContains(t, out.String()+errOut.String(), "se-secret-value-123")
}
