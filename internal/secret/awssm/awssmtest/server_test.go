package awssmtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
)

// fakeClock is a clock a test moves by hand. It starts at the real time
// and moves by minutes: the SDK signs with the real clock, so the server's
// may drift from it only within the five-minute window.
type fakeClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func get(t *testing.T, c *secretsmanager.Client, id, stage string) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := c.GetSecretValue(context.Background(), in)
	require.NoError(t, err)
	return out
}

// PutSecretValue's staging rules, as documented: a new version without
// VersionStages takes AWSCURRENT, the old current becomes AWSPREVIOUS;
// with VersionStages it takes exactly those; a repeated ClientRequestToken
// is idempotent for the same data and refused for other data.
func TestPutSecretValueMovesStagingLabels(t *testing.T) {
	t.Parallel()
	clock := newClock(time.Now().Truncate(time.Second))
	srv := awssmtest.New(t, awssmtest.Options{Clock: clock.Now})
	c := srv.Client(t, srv.Credential(0))
	ctx := context.Background()

	v1 := srv.PutString(t, "alpha", `{"key":"one"}`)
	clock.Advance(time.Minute)
	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("alpha"), SecretString: aws.String(`{"key":"two"}`)})
	require.NoError(t, err)
	v2 := aws.ToString(put.VersionId)
	require.Len(t, v2, 36, "the SDK's ClientRequestToken, a UUID, becomes the VersionId")
	require.Equal(t, []string{"AWSCURRENT"}, put.VersionStages)

	cur, prev := get(t, c, "alpha", ""), get(t, c, "alpha", "AWSPREVIOUS")
	require.Equal(t, v2, aws.ToString(cur.VersionId))
	require.Equal(t, `{"key":"two"}`, aws.ToString(cur.SecretString))
	require.Equal(t, v1, aws.ToString(prev.VersionId))
	require.Equal(t, `{"key":"one"}`, aws.ToString(prev.SecretString))
	require.Equal(t, clock.Now().Add(-time.Minute), aws.ToTime(prev.CreatedDate), "CreatedDate is the version's, on the server's clock")
	require.Equal(t, clock.Now(), aws.ToTime(cur.CreatedDate))

	clock.Advance(time.Minute)
	blue, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("alpha"),
		SecretString: aws.String(`{"key":"three"}`), VersionStages: []string{"BLUE"}})
	require.NoError(t, err)
	require.Equal(t, v2, aws.ToString(get(t, c, "alpha", "AWSCURRENT").VersionId), "a labelled put leaves AWSCURRENT alone")
	require.Equal(t, aws.ToString(blue.VersionId), aws.ToString(get(t, c, "alpha", "BLUE").VersionId))

	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("alpha")})
	require.NoError(t, err)
	require.Equal(t, map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}, aws.ToString(blue.VersionId): {"BLUE"}}, desc.VersionIdsToStages)
	require.Equal(t, clock.Now(), aws.ToTime(desc.LastChangedDate))

	token := "0123456789abcdef0123456789abcdef"
	again := func(s string) error {
		_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("alpha"), SecretString: aws.String(s), ClientRequestToken: aws.String(token)})
		return err
	}
	require.NoError(t, again(`{"key":"four"}`))
	require.NoError(t, again(`{"key":"four"}`), "the same token and data is a no-op")
	var exists *types.ResourceExistsException
	require.ErrorAs(t, again(`{"key":"five"}`), &exists, "a version's data never changes")
}

// Touch moves LastChangedDate and nothing else: why the key age is the
// version's CreatedDate.
func TestMetadataEditsDoNotMoveCreatedDate(t *testing.T) {
	t.Parallel()
	clock := newClock(time.Now().Truncate(time.Second))
	srv := awssmtest.New(t, awssmtest.Options{Clock: clock.Now})
	c := srv.Client(t, srv.Credential(0))
	srv.Put(t, "alpha", map[string]string{"key": "one"})
	created := aws.ToTime(get(t, c, "alpha", "").CreatedDate)
	clock.Advance(2 * time.Minute)
	srv.Touch(t, "alpha")
	desc, err := c.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("alpha")})
	require.NoError(t, err)
	require.Equal(t, clock.Now(), aws.ToTime(desc.LastChangedDate))
	require.Equal(t, created, aws.ToTime(get(t, c, "alpha", "").CreatedDate))
}

func TestSecretsAreFoundByNameAndARN(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	c := srv.Client(t, srv.Credential(0))
	srv.Put(t, "team/alpha", map[string]string{"key": "one"})
	arn := srv.ARN("team/alpha")
	require.True(t, strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/alpha-"))
	for _, id := range []string{"team/alpha", arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		require.Equal(t, "team/alpha", aws.ToString(get(t, c, id, "").Name), id)
	}
}

// The documented error codes reach the SDK as its typed errors.
func TestErrorsAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	c := srv.Client(t, srv.Credential(0))
	srv.Put(t, "alpha", map[string]string{"key": "one"})
	srv.Deny(t, "denied")
	ctx := context.Background()

	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("alpha"), VersionStage: aws.String("AWSPENDING")})
	require.ErrorAs(t, err, &nf, "a staging label no version has")
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("denied")})
	var api smithy.APIError
	require.ErrorAs(t, err, &api)
	require.Equal(t, "AccessDeniedException", api.ErrorCode())
	require.Equal(t, 1, srv.Errors("AccessDeniedException"))
	require.Equal(t, 3, srv.Requests("GetSecretValue"))
}

// A body changed after the real SDK signed it is refused, though it names
// a secret that exists: the signature covers the payload.
func TestTamperedSDKRequestIsRefused(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Put(t, "alpha", map[string]string{"key": "one"})
	srv.Put(t, "bravo", map[string]string{"key": "two"})
	tamper := roundTripper(func(r *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		b = bytes.Replace(b, []byte(`"alpha"`), []byte(`"bravo"`), 1)
		r.Body = io.NopCloser(bytes.NewReader(b))
		tr := &http.Transport{TLSClientConfig: srv.ClientTLS()}
		defer tr.CloseIdleConnections()
		return tr.RoundTrip(r)
	})
	c := srv.Client(t, srv.Credential(0), func(o *secretsmanager.Options) { o.HTTPClient = &http.Client{Transport: tamper} })
	_, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("alpha")})
	var api smithy.APIError
	require.ErrorAs(t, err, &api)
	require.Equal(t, "InvalidSignatureException", api.ErrorCode())
	require.Equal(t, 0, srv.Requests("GetSecretValue"))

	honest := srv.Client(t, srv.Credential(0))
	require.Equal(t, "alpha", aws.ToString(get(t, honest, "alpha", "").Name), "the control: untampered, it is accepted")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFaultsFailThenRecover(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	c := srv.Client(t, srv.Credential(0))
	srv.Put(t, "alpha", map[string]string{"key": "one"})
	ctx := context.Background()
	read := func() error {
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("alpha")})
		return err
	}

	srv.Fail(t, true)
	var api smithy.APIError
	require.ErrorAs(t, read(), &api)
	require.Equal(t, "InternalServiceError", api.ErrorCode())
	srv.Fail(t, false)
	require.NoError(t, read())

	srv.Drop(t, true)
	err := read()
	require.Error(t, err)
	require.False(t, errors.As(err, &api), "a dropped connection has no answer")
	srv.Drop(t, false)
	require.NoError(t, read())

	srv.Stall(t, true)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = c.GetSecretValue(short, &secretsmanager.GetSecretValueInput{SecretId: aws.String("alpha")})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	srv.Stall(t, false)
	require.NoError(t, read())
}
