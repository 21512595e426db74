package awssm_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret/awssm"
	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
)

// The real SDK's signatures are accepted, and the same SDK signing with a
// wrong secret, an unknown key id, or another of the server's keys'
// secret is refused: the fake's verifier decides, it does not wave
// through.
func TestSignaturesAreVerified(t *testing.T) {
	t.Parallel()
	k1, k2 := awssmtest.NewCredential(), awssmtest.NewCredential()
	srv := awssmtest.New(t, awssmtest.Options{Region: "eu-central-1", Credentials: []awssmtest.Credential{k1, k2}})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	cases := map[string]struct {
		cred awssmtest.Credential
		code string
	}{
		"the first key":                 {k1, ""},
		"the second key":                {k2, ""},
		"a wrong secret for a known id": {awssmtest.Credential{AccessKeyID: k1.AccessKeyID, SecretAccessKey: awssmtest.NewCredential().SecretAccessKey}, "InvalidSignatureException"},
		"another key's secret":          {awssmtest.Credential{AccessKeyID: k1.AccessKeyID, SecretAccessKey: k2.SecretAccessKey}, "InvalidSignatureException"},
		"an unknown key id":             {awssmtest.NewCredential(), "UnrecognizedClientException"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := fetch(t, newSource(t, srv, func(o *awssm.Options) { o.Credentials = c.cred.Provider() }), srv.Ref("alpha", "key"))[0]
			if c.code == "" {
				require.NoError(t, r.Err)
				require.Equal(t, key1, r.Value.Reveal())
				return
			}
			require.ErrorContains(t, r.Err, "awssm:alpha#key: GetSecretValue: "+c.code)
			require.NotContains(t, r.Err.Error(), c.cred.SecretAccessKey)
			require.True(t, r.Value.IsZero())
		})
	}
}

func TestTemporaryCredentials(t *testing.T) {
	t.Parallel()
	temp := awssmtest.NewTemporaryCredential()
	srv := awssmtest.New(t, awssmtest.Options{Credentials: []awssmtest.Credential{temp}})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	r := fetch(t, newSource(t, srv, func(o *awssm.Options) { o.Credentials = temp.Provider() }), srv.Ref("alpha", "key"))[0]
	require.NoError(t, r.Err)

	noToken := awssmtest.Credential{AccessKeyID: temp.AccessKeyID, SecretAccessKey: temp.SecretAccessKey}
	r = fetch(t, newSource(t, srv, func(o *awssm.Options) { o.Credentials = noToken.Provider() }), srv.Ref("alpha", "key"))[0]
	require.ErrorContains(t, r.Err, "UnrecognizedClientException", "temporary credentials need their session token")
}

// A gateway whose clock is off by more than the five-minute window is
// refused at first, and the SDK corrects its signing time from the
// answer's Date header and retries: the standard behaviour against AWS,
// kept because a refresh should not fail for a drifting clock.
func TestClockSkewIsRefusedThenCorrectedBySDK(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{Clock: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	r := fetch(t, newSource(t, srv), srv.Ref("alpha", "key"))[0]
	require.NoError(t, r.Err)
	require.Equal(t, 1, srv.Errors("InvalidSignatureException"), "the first, skewed, signature was refused")
	require.Equal(t, 1, srv.Requests("GetSecretValue"), "the corrected retry was accepted")
}

func TestEndpointMustBeHTTPS(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"http://127.0.0.1:4566", "ftp://example.com", "https://", "https://user:pass@example.com", "https://example.com/?x=1", "://"} {
		_, err := awssm.New(context.Background(), awssm.Options{Region: "us-east-1", Endpoint: ep, Credentials: awssmtest.NewCredential().Provider()})
		require.ErrorContains(t, err, "secrets.aws.endpoint: must be an https:// URL", ep)
		require.NotContains(t, err.Error(), "pass", "the endpoint's userinfo is not repeated")
	}
}

// countHellos counts the TLS handshakes a server is offered.
func countHellos(n *atomic.Int32) func(*tls.Config) {
	return func(c *tls.Config) {
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { n.Add(1); return nil, nil }
	}
}

// A server whose certificate another CA issued is refused, with the CA
// file and with the system roots, after one handshake: retrying cannot
// make a certificate trusted.
func TestCertificateFromAnotherCAIsRefused(t *testing.T) {
	t.Parallel()
	ours := awssmtest.New(t, awssmtest.Options{})
	for name, caFile := range map[string]string{"our CA file": ours.CAFile(t), "system roots": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var hellos atomic.Int32
			theirs := awssmtest.New(t, awssmtest.Options{TLS: countHellos(&hellos)})
			theirs.Put(t, "alpha", map[string]string{"key": key1})
			src := newSource(t, theirs, func(o *awssm.Options) { o.CAFile = caFile })
			r := fetch(t, src, theirs.Ref("alpha", "key"))[0]
			var unknown x509.UnknownAuthorityError
			require.ErrorAs(t, r.Err, &unknown)
			require.ErrorContains(t, r.Err, "awssm:alpha#key: GetSecretValue: the request failed: ")
			require.ErrorContains(t, r.Err, "certificate signed by unknown authority")
			require.NotContains(t, r.Err.Error(), "attempts")
			require.Equal(t, 0, theirs.Requests(""), "no request reached the server")
			require.Equal(t, int32(1), hellos.Load(), "one attempt")
		})
	}
}

func TestTLSBelow12IsRefused(t *testing.T) {
	t.Parallel()
	var hellos atomic.Int32
	srv := awssmtest.New(t, awssmtest.Options{TLS: func(c *tls.Config) {
		c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		countHellos(&hellos)(c)
	}})
	r := fetch(t, newSource(t, srv), srv.Ref("alpha", "key"))[0]
	require.ErrorContains(t, r.Err, "protocol version")
	require.Equal(t, 0, srv.Requests(""))
	require.Equal(t, int32(1), hellos.Load(), "one attempt")
}

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	base := awssm.Options{Region: "us-east-1", Credentials: awssmtest.NewCredential().Provider()}
	cases := map[string]struct {
		mod  func(*awssm.Options)
		want string
	}{
		"negative timeout":       {func(o *awssm.Options) { o.Timeout = -time.Second }, "secrets.aws.timeout must be positive"},
		"stage with a space":     {func(o *awssm.Options) { o.VersionStage = "AWS CURRENT" }, "secrets.aws.version_stage"},
		"missing CA file":        {func(o *awssm.Options) { o.CAFile = filepath.Join(dir, "none.pem") }, "secrets.aws.ca_file"},
		"CA file without PEM":    {func(o *awssm.Options) { o.CAFile = notPEM }, "secrets.aws.ca_file: " + notPEM + " holds no PEM certificate"},
		"CA file is a directory": {func(o *awssm.Options) { o.CAFile = dir }, "not a regular file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := base
			c.mod(&o)
			_, err := awssm.New(context.Background(), o)
			require.ErrorContains(t, err, c.want)
		})
	}
	_, err := awssm.New(context.Background(), awssm.Options{Region: "us-east-1", CAFile: upstreamtest.NewCA(t, "ok").WriteFile(t)})
	require.NoError(t, err, "the control: a good CA file")
}
