package bench

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/sim"
	"github.com/intelgate/intelgate/internal/upstream"
)

// simProcEnv, when set in this test binary's environment, makes it serve
// the simulator instead of running tests: the value is a directory to
// write the simulator's certificate into. The overhead benchmark starts
// the simulator that way, as a process of its own, so the benchmark
// process's CPU time while the gateway is measured is the gateway's alone
// (and the simulator's own CPU can be read from /proc, per target).
const simProcEnv = "INTELGATE_BENCH_SIMULATOR_DIR"

// TestMain serves the simulator when asked to (see simProcEnv), and
// otherwise runs the package's tests and benchmarks as usual.
func TestMain(m *testing.M) {
	if dir := os.Getenv(simProcEnv); dir != "" {
		if err := serveSimProcess(dir, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench simulator:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveSimProcess is the simulator process: unlimited, TLS, accepting
// simKey, on a free loopback port. It writes its certificate to dir/ca.pem,
// then one line "simulator URL" to out, and serves until SIGTERM or SIGINT.
// It is the same internal/sim server `intelgate sim --tls --rate 0` runs.
func serveSimProcess(dir string, out io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{APIKeys: []string{simKey}}))
	if err != nil {
		return fmt.Errorf("starting simulator: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CAPEM, 0o644); err != nil {
		_ = srv.Close()
		return fmt.Errorf("writing certificate: %w", err)
	}
	fmt.Fprintln(out, "simulator", srv.URL)
	<-ctx.Done()
	return srv.Close()
}

// simProcess is the simulator running as a child process.
type simProcess struct {
	url   string // https://127.0.0.1:PORT
	port  int
	pin   string // sha256/… of its certificate's SPKI
	caPEM []byte // its certificate (its own CA)
	pid   int
}

// startSimProcess runs this test binary as the simulator (see simProcEnv)
// until the benchmark ends.
func startSimProcess(tb testing.TB) *simProcess {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatalf("finding the test binary: %v", err)
	}
	dir := tb.TempDir()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), simProcEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("simulator stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting simulator process: %v", err)
	}
	exited := make(chan struct{})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "simulator "); ok {
				urls <- u
			}
		}
		_ = cmd.Wait() // after stdout is drained, as StdoutPipe requires
		close(exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			tb.Logf("simulator did not quit within 10s; killing pid %d", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	var u string
	select {
	case u = <-urls:
	case <-exited:
		tb.Fatalf("simulator process exited before serving")
	case <-time.After(30 * time.Second):
		tb.Fatalf("simulator process did not start within 30s")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		tb.Fatalf("reading simulator certificate: %v", err)
	}
	pin, err := pemPin(caPEM)
	if err != nil {
		tb.Fatalf("simulator certificate: %v", err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		tb.Fatalf("simulator URL %q: %v", u, err)
	}
	port, err := strconv.Atoi(parsed.Port())
	if err != nil {
		tb.Fatalf("simulator URL %q: %v", u, err)
	}
	return &simProcess{url: u, port: port, pin: pin, caPEM: caPEM, pid: cmd.Process.Pid}
}

// pemPin is the SPKI pin of the first certificate in certPEM.
func pemPin(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parsing certificate: %w", err)
	}
	return upstream.Pin(cert), nil
}
