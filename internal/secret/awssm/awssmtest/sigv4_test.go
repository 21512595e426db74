package awssmtest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
)

// The documented example of "Create a signed AWS API request" (IAM
// ListUsers, 2015-08-30): Sign must give the signature the page gives.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
func TestSignMatchesTheDocumentedExample(t *testing.T) {
	t.Parallel()
	canonical := strings.Join([]string{
		"GET", "/", "Action=ListUsers&Version=2010-05-08",
		"content-type:application/x-www-form-urlencoded; charset=utf-8",
		"host:iam.amazonaws.com",
		"x-amz-date:20150830T123600Z",
		"",
		"content-type;host;x-amz-date",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	}, "\n")
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	sig := awssmtest.Sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", at, "us-east-1", "iam", canonical)
	require.Equal(t, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", hex.EncodeToString(sig))
}

// signedRequest is one request signed by the SDK's own SigV4 signer,
// optionally altered after signing, as an attacker or a broken proxy would.
type signedRequest struct {
	cred      awssmtest.Credential
	region    string // default: the server's
	service   string // default: secretsmanager
	at        time.Time
	query     string
	headers   map[string][]string // extra headers, signed
	body      string              // what is signed
	sent      *string             // what is sent instead, if set
	afterSign func(*http.Request)
}

// send signs and sends r, and returns the status, the error code ("" on
// success) and message.
func send(t *testing.T, srv *awssmtest.Server, r signedRequest) (int, string, string) {
	t.Helper()
	if r.region == "" {
		r.region = srv.Region()
	}
	if r.service == "" {
		r.service = "secretsmanager"
	}
	if r.body == "" {
		r.body = `{"SecretId":"alpha"}`
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/"+r.query, strings.NewReader(r.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	for k, vs := range r.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	sum := sha256.Sum256([]byte(r.body))
	creds := aws.Credentials{AccessKeyID: r.cred.AccessKeyID, SecretAccessKey: r.cred.SecretAccessKey, SessionToken: r.cred.SessionToken}
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), r.service, r.region, r.at))
	if r.sent != nil {
		req.Body = io.NopCloser(strings.NewReader(*r.sent))
		req.ContentLength = int64(len(*r.sent))
	}
	if r.afterSign != nil {
		r.afterSign(req)
	}
	tr := &http.Transport{TLSClientConfig: srv.ClientTLS()}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &e), "an error answer is JSON")
		require.Equal(t, e.Type, resp.Header.Get("X-Amzn-Errortype"))
	}
	return resp.StatusCode, e.Type, e.Message
}

// Each way a request can be wrong is refused with the code the service
// uses, and each refusal is proven against a control that differs from it
// in that one thing and is accepted: the verifier is not a rubber stamp.
func TestVerifierRefusesWhatItMust(t *testing.T) {
	t.Parallel()
	t0 := time.Now().UTC().Truncate(time.Second)
	long1, long2, temp := awssmtest.NewCredential(), awssmtest.NewCredential(), awssmtest.NewTemporaryCredential()
	srv := awssmtest.New(t, awssmtest.Options{
		Region: "eu-west-1", Credentials: []awssmtest.Credential{long1, long2, temp},
		Clock: func() time.Time { return t0 },
	})
	srv.Put(t, "alpha", map[string]string{"key": "conformance-key-0001-aaaaaaaaaaaa"})
	srv.Put(t, "bravo", map[string]string{"key": "conformance-key-0002-bbbbbbbbbbbb"})

	tampered := `{"SecretId":"bravo"}` // same length as what was signed
	cases := map[string]struct {
		req    signedRequest
		status int
		code   string
		why    string // in the message: the refusal is for this reason
	}{
		"signed by the SDK's signer":                     {signedRequest{cred: long1, at: t0}, 200, "", ""},
		"the server's second key":                        {signedRequest{cred: long2, at: t0}, 200, "", ""},
		"temporary credentials with their session token": {signedRequest{cred: temp, at: t0}, 200, "", ""},
		"four minutes slow, inside the window":           {signedRequest{cred: long1, at: t0.Add(-4 * time.Minute)}, 200, "", ""},
		"four minutes fast, inside the window":           {signedRequest{cred: long1, at: t0.Add(4 * time.Minute)}, 200, "", ""},
		"an unsigned header added on the way":            {signedRequest{cred: long1, at: t0, afterSign: func(r *http.Request) { r.Header.Set("X-Forwarded-For", "10.0.0.1") }}, 200, "", ""},
		"query string, repeated and space-padded headers, as the SDK canonicalises them": {signedRequest{
			cred: long1, at: t0, query: "?b=2&a=1&a=0&c=x%20y&d=%2B&e",
			headers: map[string][]string{"X-Amz-Meta-One": {"  a   b  "}, "X-Amz-Meta-Two": {"x", "y  z"}},
		}, 200, "", ""},

		"a wrong secret key for a known key id": {signedRequest{cred: awssmtest.Credential{AccessKeyID: long1.AccessKeyID, SecretAccessKey: long2.SecretAccessKey}, at: t0}, 400, "InvalidSignatureException", "does not match the signature"},
		"an unknown access key id":              {signedRequest{cred: awssmtest.NewCredential(), at: t0}, 400, "UnrecognizedClientException", "security token included in the request is invalid"},
		"six minutes slow":                      {signedRequest{cred: long1, at: t0.Add(-6 * time.Minute)}, 400, "InvalidSignatureException", "Signature expired"},
		"six minutes fast":                      {signedRequest{cred: long1, at: t0.Add(6 * time.Minute)}, 400, "InvalidSignatureException", "Signature not yet current"},
		"a body changed after signing":          {signedRequest{cred: long1, at: t0, sent: &tampered}, 400, "InvalidSignatureException", "does not match the signature"},
		"X-Amz-Content-Sha256 not the body's": {signedRequest{cred: long1, at: t0, headers: map[string][]string{
			"X-Amz-Content-Sha256": {hex.EncodeToString(make([]byte, 32))}}}, 400, "InvalidSignatureException", "x-amz-content-sha256"},
		"scoped to another region":  {signedRequest{cred: long1, at: t0, region: "us-east-1"}, 400, "InvalidSignatureException", "valid region"},
		"scoped to another service": {signedRequest{cred: long1, at: t0, service: "kms"}, 400, "InvalidSignatureException", "correct service"},
		"the operation swapped after signing": {signedRequest{cred: long1, at: t0, afterSign: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "secretsmanager.DescribeSecret")
		}}, 400, "InvalidSignatureException", "does not match the signature"},
		"a signed header removed on the way": {signedRequest{cred: long1, at: t0, headers: map[string][]string{"X-Amz-Meta-One": {"a"}},
			afterSign: func(r *http.Request) { r.Header.Del("X-Amz-Meta-One") }}, 400, "IncompleteSignatureException", "'x-amz-meta-one' is not in the request"},
		"one signature digit changed": {signedRequest{cred: long1, at: t0, afterSign: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			last := map[byte]byte{'0': '1'}[a[len(a)-1]]
			if last == 0 {
				last = '0'
			}
			r.Header.Set("Authorization", a[:len(a)-1]+string(last))
		}}, 400, "InvalidSignatureException", "does not match the signature"},
		"no Authorization header":   {signedRequest{cred: long1, at: t0, afterSign: func(r *http.Request) { r.Header.Del("Authorization") }}, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		"a mangled Authorization":   {signedRequest{cred: long1, at: t0, afterSign: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") }}, 400, "IncompleteSignatureException", "Credential"},
		"X-Amz-Date not signed":     {signedRequest{cred: long1, at: t0, afterSign: func(r *http.Request) { dropSigned(r, "x-amz-date") }}, 400, "IncompleteSignatureException", "'x-amz-date' must be a signed header"},
		"temporary key, token lost": {signedRequest{cred: temp, at: t0, afterSign: func(r *http.Request) { r.Header.Del("X-Amz-Security-Token") }}, 400, "UnrecognizedClientException", "security token"},
		"temporary key, another token": {signedRequest{cred: awssmtest.Credential{
			AccessKeyID: temp.AccessKeyID, SecretAccessKey: temp.SecretAccessKey, SessionToken: temp.SessionToken + "x"}, at: t0}, 400, "UnrecognizedClientException", "security token"},
		"a long-term key with a session token": {signedRequest{cred: awssmtest.Credential{
			AccessKeyID: long1.AccessKeyID, SecretAccessKey: long1.SecretAccessKey, SessionToken: temp.SessionToken}, at: t0}, 400, "UnrecognizedClientException", "security token"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, code, msg := send(t, srv, c.req)
			require.Equal(t, c.status, status, msg)
			require.Equal(t, c.code, code, msg)
			require.Contains(t, msg, c.why)
		})
	}
}

// dropSigned removes name from SignedHeaders (the signature then no
// longer covers it).
func dropSigned(r *http.Request, name string) {
	a := r.Header.Get("Authorization")
	a = strings.Replace(a, ";"+name, "", 1)
	r.Header.Set("Authorization", a)
}
