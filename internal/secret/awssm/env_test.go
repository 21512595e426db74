package awssm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret/awssm"
	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
)

// These tests change the process environment, so they cannot run in
// parallel; Go runs them before any parallel test resumes.

// awsEnv is every variable the SDK's default chain reads that could make
// a test depend on the machine it runs on or reach the network.
var awsEnv = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CA_BUNDLE",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
	"AWS_SDK_LOAD_CONFIG", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
}

// isolateEnv clears the AWS environment, points the shared config and
// credentials files at empty files and turns IMDS off, so the default
// chain sees only what the test sets and never leaves the machine.
// It returns the config file's path.
func isolateEnv(t *testing.T) string {
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	require.NoError(t, os.WriteFile(cfg, nil, 0o600))
	require.NoError(t, os.WriteFile(creds, nil, 0o600))
	for _, k := range awsEnv {
		t.Setenv(k, "") // restored when the test ends
		require.NoError(t, os.Unsetenv(k))
	}
	t.Setenv("AWS_CONFIG_FILE", cfg)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return cfg
}

// envSource is a Source with no region or credentials of its own: the
// SDK's default chain supplies both.
func envSource(t *testing.T, srv *awssmtest.Server) (*awssm.Source, error) {
	t.Helper()
	return awssm.New(context.Background(), awssm.Options{Endpoint: srv.URL(), CAFile: srv.CAFile(t), Timeout: 10 * time.Second})
}

func TestDefaultChainFromEnvironment(t *testing.T) {
	isolateEnv(t)
	srv := awssmtest.New(t, awssmtest.Options{Region: "ap-southeast-2"})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	cred := srv.Credential(0)
	t.Setenv("AWS_ACCESS_KEY_ID", cred.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", cred.SecretAccessKey)
	t.Setenv("AWS_REGION", "ap-southeast-2")
	src, err := envSource(t, srv)
	require.NoError(t, err)
	r := fetch(t, src, srv.Ref("alpha", "key"))[0]
	require.NoError(t, r.Err)
	require.Equal(t, key1, r.Value.Reveal())
}

func TestDefaultChainTemporaryCredentialsAndDefaultRegion(t *testing.T) {
	isolateEnv(t)
	temp := awssmtest.NewTemporaryCredential()
	srv := awssmtest.New(t, awssmtest.Options{Region: "eu-north-1", Credentials: []awssmtest.Credential{temp}})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	t.Setenv("AWS_ACCESS_KEY_ID", temp.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", temp.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", temp.SessionToken)
	t.Setenv("AWS_DEFAULT_REGION", "eu-north-1")
	src, err := envSource(t, srv)
	require.NoError(t, err)
	require.NoError(t, fetch(t, src, srv.Ref("alpha", "key"))[0].Err)
}

func TestRegionFromSharedConfigFile(t *testing.T) {
	cfg := isolateEnv(t)
	srv := awssmtest.New(t, awssmtest.Options{Region: "sa-east-1"})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	cred := srv.Credential(0)
	require.NoError(t, os.WriteFile(cfg, []byte("[default]\nregion = sa-east-1\n"), 0o600))
	creds := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	require.NoError(t, os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+cred.AccessKeyID+
		"\naws_secret_access_key = "+cred.SecretAccessKey+"\n"), 0o600))
	src, err := envSource(t, srv)
	require.NoError(t, err)
	require.NoError(t, fetch(t, src, srv.Ref("alpha", "key"))[0].Err)
}

func TestNoRegionAnywhereFailsNamingTheSetting(t *testing.T) {
	isolateEnv(t)
	_, err := awssm.New(context.Background(), awssm.Options{Credentials: awssmtest.NewCredential().Provider()})
	require.ErrorContains(t, err, "secrets.aws.region: no AWS region is configured")
}

// An endpoint from the environment gets the same https-only rule as the
// configured one: AWS_ENDPOINT_URL_SECRETS_MANAGER must not be a way round it.
func TestEndpointFromEnvironmentMustBeHTTPS(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4566")
	_, err := awssm.New(context.Background(), awssm.Options{Region: "us-east-1", Credentials: awssmtest.NewCredential().Provider()})
	require.ErrorContains(t, err, "AWS_ENDPOINT_URL")
	require.ErrorContains(t, err, "must be an https:// URL, not http://")
}

// AWS_MAX_ATTEMPTS cannot lift the retry bound.
func TestMaxAttemptsFromEnvironmentIsIgnored(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "10")
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Fail(t, true)
	require.Error(t, fetch(t, newSource(t, srv), srv.Ref("alpha", "key"))[0].Err)
	require.Equal(t, awssm.MaxAttempts, srv.Errors("InternalServiceError"))
}

// With no credentials anywhere, New succeeds (nothing is sent) and the
// first Fetch fails naming the reference, quickly: IMDS is off.
func TestNoCredentialsAnywhere(t *testing.T) {
	isolateEnv(t)
	srv := awssmtest.New(t, awssmtest.Options{})
	src, err := awssm.New(context.Background(), awssm.Options{Region: srv.Region(), Endpoint: srv.URL(), CAFile: srv.CAFile(t)})
	require.NoError(t, err)
	r := fetch(t, src, srv.Ref("alpha", "key"))[0]
	require.ErrorContains(t, r.Err, "awssm:alpha#key: GetSecretValue: ")
	require.ErrorContains(t, r.Err, "credentials")
	require.Equal(t, 0, srv.Requests(""))
}
