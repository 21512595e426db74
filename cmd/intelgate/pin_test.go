package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/upstream"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// pinServer serves TLS on loopback with cert and returns its HOST:PORT.
func pinServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func runPinCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(append([]string{"pin"}, args...))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

var pinsLine = regexp.MustCompile(`(?m)^pins: \[.*\]$`)

// recommended parses the ready-to-paste pins line as YAML.
func recommended(t *testing.T, out string) []string {
	t.Helper()
	line := pinsLine.FindString(out)
	require.NotEmpty(t, line, "no pins line in:\n%s", out)
	var v struct {
		Pins []string `yaml:"pins"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(line), &v))
	return v.Pins
}

func TestPinPrintsVerifiedChain(t *testing.T) {
	t.Parallel()
	root := upstreamtest.NewCA(t, "Pin Root")
	inter := root.Intermediate(t, "Pin Intermediate")
	leaf := inter.Leaf(t, upstreamtest.LeafOptions{Hosts: []string{"127.0.0.1"}})
	addr := pinServer(t, leaf)

	out, err := runPinCmd(t, addr, "--ca-file", root.WriteFile(t))
	require.NoError(t, err)
	require.Contains(t, out, upstream.Pin(leaf.Leaf)+"  CN=127.0.0.1 (leaf)\n")
	require.Contains(t, out, upstream.Pin(inter.Cert)+"  CN=Pin Intermediate (intermediate)\n")
	require.Contains(t, out, upstream.Pin(root.Cert)+"  CN=Pin Root (root)\n")
	require.Equal(t, []string{upstream.Pin(inter.Cert), upstream.Pin(root.Cert)}, recommended(t, out),
		"intermediate plus a backup")

	for _, p := range recommended(t, out) {
		_, err := upstream.ParsePin(p)
		require.NoError(t, err, "printed pins are valid config")
	}
}

func TestPinTwoCertificateChain(t *testing.T) {
	t.Parallel()
	root := upstreamtest.NewCA(t, "Sim CA")
	leaf := root.Leaf(t, upstreamtest.LeafOptions{Hosts: []string{"localhost", "127.0.0.1"}})
	out, err := runPinCmd(t, pinServer(t, leaf), "--ca-file", root.WriteFile(t))
	require.NoError(t, err)
	require.Equal(t, []string{upstream.Pin(leaf.Leaf), upstream.Pin(root.Cert)}, recommended(t, out),
		"leaf plus its CA as backup")
}

func TestPinServerName(t *testing.T) {
	t.Parallel()
	root := upstreamtest.NewCA(t, "Pin Root")
	leaf := root.Leaf(t, upstreamtest.LeafOptions{Hosts: []string{"example.test"}})
	addr := pinServer(t, leaf)
	caFile := root.WriteFile(t)

	out, err := runPinCmd(t, addr, "--ca-file", caFile, "--server-name", "example.test")
	require.NoError(t, err)
	require.Contains(t, out, upstream.Pin(leaf.Leaf)+"  CN=example.test (leaf)")

	_, err = runPinCmd(t, addr, "--ca-file", caFile)
	require.ErrorContains(t, err, "--server-name")
}

func TestPinRefusesUnverifiedServers(t *testing.T) {
	t.Parallel()
	root := upstreamtest.NewCA(t, "Private Root")
	leaf := root.Leaf(t, upstreamtest.LeafOptions{})
	addr := pinServer(t, leaf)

	out, err := runPinCmd(t, addr)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	require.ErrorContains(t, err, "--ca-file")
	require.NotContains(t, out, "sha256/", "nothing is printed for an unverified chain")

	selfSigned := pinServer(t, upstreamtest.SelfSigned(t, upstreamtest.LeafOptions{}))
	out, err = runPinCmd(t, selfSigned, "--ca-file", root.WriteFile(t))
	require.ErrorContains(t, err, "unknown authority")
	require.Empty(t, out)
}

func TestPinUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"a:1", "b:2"}, {"no-port"}, {":443"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := runPinCmd(t, args...)
			require.Error(t, err)
		})
	}
}
