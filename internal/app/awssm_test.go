package app

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
)

// A key rotated in a server that speaks the documented Secrets Manager
// API (GetSecretValue, SigV4-signed requests verified) is picked up
// without a restart while lookups run, with no failure. The gateway finds
// its AWS credentials through the SDK's default chain, from the
// environment: not parallel.
func TestAWSSecretsManagerKeyRotationUnderLoad(t *testing.T) {
	testRotationUnderLoad(t, func(t *testing.T) rotationBackend {
		sm := awssmtest.New(t, awssmtest.Options{Region: "eu-west-1"})
		cred := sm.Credential(0)
		empty := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_ACCESS_KEY_ID", cred.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", cred.SecretAccessKey)
		t.Setenv("AWS_SESSION_TOKEN", cred.SessionToken)
		t.Setenv("AWS_CONFIG_FILE", empty)
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_REGION", "")
		return rotationBackend{Backend: sm, top: fmt.Sprintf(
			"secrets: {aws: {region: eu-west-1, endpoint: %q, ca_file: %q}}", sm.URL(), sm.CAFile(t))}
	})
}
