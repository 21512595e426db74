package awssmtest

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"
)

// Client is a real SDK client for the server, signing with cred and
// trusting only the server's CA, with no retries (a test sees the first
// answer). optFns adjust it (to swap the HTTP client, say).
func (s *Server) Client(t testing.TB, cred Credential, optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: s.ClientTLS()}
	t.Cleanup(tr.CloseIdleConnections)
	o := secretsmanager.Options{
		Region:       s.region,
		Credentials:  cred.Provider(),
		BaseEndpoint: aws.String(s.URL()),
		HTTPClient:   &http.Client{Transport: tr},
		Retryer:      aws.NopRetryer{},
		Logger:       logging.Nop{},
	}
	return secretsmanager.New(o, optFns...)
}
