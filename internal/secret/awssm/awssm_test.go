package awssm_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/awssm"
	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
)

const (
	key1 = "vendor-key-0001-aaaaaaaaaaaaaaaa"
	key2 = "vendor-key-0002-bbbbbbbbbbbbbbbb"
)

// One GetSecretValue per secret per Fetch, however many of its fields
// the batch names, and every field from that one version.
func TestOneReadPerSecretPerFetch(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Put(t, "alpha", map[string]string{"key": key1, "other": key2})
	srv.Put(t, "bravo", map[string]string{"key": key2})
	src := newSource(t, srv)
	res := fetch(t, src, srv.Ref("alpha", "key"), srv.Ref("bravo", "key"), srv.Ref("alpha", "other"), srv.Ref("alpha", "key"))
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	require.Equal(t, []string{key1, key2, key2, key1}, []string{res[0].Value.Reveal(), res[1].Value.Reveal(), res[2].Value.Reveal(), res[3].Value.Reveal()})
	require.Equal(t, 2, srv.Requests("GetSecretValue"))
	require.Equal(t, res[0].Version, res[2].Version)
	require.NotEqual(t, res[0].Version, res[1].Version)
}

// A pinned stage reads that version: AWSPREVIOUS after a rotation, a
// custom label, and a stage no version has is that reference's error.
func TestPinnedVersionStage(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	v1 := srv.PutString(t, "alpha", `{"key":"`+key1+`"}`)
	v2 := srv.PutString(t, "alpha", `{"key":"`+key2+`"}`)
	ref := srv.Ref("alpha", "key")

	cur := fetch(t, newSource(t, srv), ref)[0]
	require.NoError(t, cur.Err)
	require.Equal(t, key2, cur.Value.Reveal())
	require.Equal(t, v2, cur.Version)

	prev := fetch(t, newSource(t, srv, func(o *awssm.Options) { o.VersionStage = "AWSPREVIOUS" }), ref)[0]
	require.NoError(t, prev.Err)
	require.Equal(t, key1, prev.Value.Reveal())
	require.Equal(t, v1, prev.Version)

	srv.Label(t, "alpha", v1, "ROLLBACK")
	custom := fetch(t, newSource(t, srv, func(o *awssm.Options) { o.VersionStage = "ROLLBACK" }), ref)[0]
	require.NoError(t, custom.Err)
	require.Equal(t, v1, custom.Version)

	pending := fetch(t, newSource(t, srv, func(o *awssm.Options) { o.VersionStage = "AWSPENDING" }), ref)[0]
	require.ErrorContains(t, pending.Err, "awssm:alpha#key: GetSecretValue: ResourceNotFoundException (HTTP 400, request id ")
	require.ErrorContains(t, pending.Err, "staging label: AWSPENDING")
	var e *awssm.Error
	require.ErrorAs(t, pending.Err, &e)
	require.Equal(t, "ResourceNotFoundException", e.Code)
	require.Equal(t, "alpha", e.SecretID)
}

// ChangedAt is the version's CreatedDate: a metadata edit (which moves
// DescribeSecret's LastChangedDate) leaves it, a new version moves it.
func TestChangedAtIsTheVersionsCreatedDate(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64 // the server's clock runs ahead of ours by this
	srv := awssmtest.New(t, awssmtest.Options{Clock: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	src := newSource(t, srv)
	ref := srv.Ref("alpha", "key")
	before := time.Now()
	srv.Put(t, "alpha", map[string]string{"key": key1})
	first := fetch(t, src, ref)[0]
	require.NoError(t, first.Err)
	require.WithinRange(t, first.ChangedAt, before.Add(-time.Millisecond), time.Now())

	offset.Store(int64(3 * time.Minute))
	srv.Touch(t, "alpha")
	touched := fetch(t, src, ref)[0]
	require.Equal(t, first.ChangedAt, touched.ChangedAt, "a tag or description edit is not a new key")
	require.Equal(t, first.Version, touched.Version)

	srv.Put(t, "alpha", map[string]string{"key": key2})
	rotated := fetch(t, src, ref)[0]
	require.NoError(t, rotated.Err)
	require.GreaterOrEqual(t, rotated.ChangedAt.Sub(first.ChangedAt), 3*time.Minute)
}

// A secret that was read but cannot answer a reference fails that
// reference with an error that names it and wraps the reason, and shows
// nothing of the SecretString.
func TestDocumentsThatCannotAnswer(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	src := newSource(t, srv)
	cases := map[string]struct {
		secretString string
		binary       bool
		field        string
		want         error
		says         string
	}{
		"SecretBinary only":   {secretString: key1, binary: true, field: "key", want: awssm.ErrBinary},
		"plain text":          {secretString: key1, field: "key", want: awssm.ErrNotObject, says: "invalid JSON near byte"},
		"a JSON array":        {secretString: `["` + key1 + `"]`, field: "key", want: awssm.ErrNotObject, says: "a JSON array"},
		"a JSON string":       {secretString: `"` + key1 + `"`, field: "key", want: awssm.ErrNotObject, says: "a JSON string"},
		"truncated JSON":      {secretString: `{"key":"` + key1, field: "key", want: awssm.ErrNotObject},
		"data after":          {secretString: `{"key":"` + key1 + `"} {"key":"x"}`, field: "key", want: awssm.ErrNotObject, says: "data after the object"},
		"a field named twice": {secretString: `{"key":"` + key1 + `","key":"` + key2 + `"}`, field: "key", want: awssm.ErrNotObject, says: `field "key" appears twice`},
		"a missing field":     {secretString: `{"key":"` + key1 + `"}`, field: "nokey", want: awssm.ErrNoField, says: `no field "nokey"`},
		"a number":            {secretString: `{"key":12345678901234}`, field: "key", want: awssm.ErrNotString, says: "a number"},
		"an object":           {secretString: `{"key":{"inner":"` + key1 + `"}}`, field: "key", want: awssm.ErrNotString, says: "an object"},
		"null":                {secretString: `{"key":null}`, field: "key", want: awssm.ErrNotString, says: "null"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := strings.ReplaceAll(name, " ", "-")
			if c.binary {
				srv.PutBinary(t, id, []byte(c.secretString))
			} else {
				srv.PutString(t, id, c.secretString)
			}
			ref := mustRef(t, "awssm:"+id+"#"+c.field)
			r := fetch(t, src, ref)[0]
			require.ErrorIs(t, r.Err, c.want)
			require.True(t, r.Value.IsZero())
			msg := r.Err.Error()
			require.Contains(t, msg, ref.String(), "the error names the reference")
			require.Contains(t, msg, c.says)
			for _, leak := range []string{key1, key2, key1[:8], "12345678901234", c.secretString} {
				require.NotContains(t, msg, leak)
			}
		})
	}
}

func TestReferencesByARN(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Put(t, "team/alpha", map[string]string{"key": key1})
	arn := srv.ARN("team/alpha")
	src := newSource(t, srv)
	for _, id := range []string{arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		r := fetch(t, src, mustRef(t, "awssm:"+id+"#key"))[0]
		require.NoError(t, r.Err, id)
		require.Equal(t, key1, r.Value.Reveal())
	}
}

// AWS errors name the reference and the AWS code and fail only the
// references to that secret.
func TestAWSErrorsNameTheReferenceAndCode(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	srv.Put(t, "denied", map[string]string{"key": key2})
	srv.Deny(t, "denied")
	res := fetch(t, newSource(t, srv), srv.Ref("missing", "key"), srv.Ref("denied", "key"), srv.Ref("alpha", "key"))
	require.ErrorContains(t, res[0].Err, "awssm:missing#key: GetSecretValue: ResourceNotFoundException (HTTP 400")
	require.ErrorContains(t, res[1].Err, "awssm:denied#key: GetSecretValue: AccessDeniedException (HTTP 400")
	require.ErrorContains(t, res[1].Err, "is not authorized", "the service's message tells the operator which permission")
	require.NotContains(t, res[1].Err.Error(), key2)
	require.NoError(t, res[2].Err)
}

// Timeout bounds each GetSecretValue, retries included, and says which
// setting to change.
func TestTimeoutIsHonoured(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	srv.Stall(t, true)
	src := newSource(t, srv, func(o *awssm.Options) { o.Timeout = 300 * time.Millisecond })
	start := time.Now()
	r := fetch(t, src, srv.Ref("alpha", "key"))[0]
	require.ErrorIs(t, r.Err, context.DeadlineExceeded)
	require.ErrorContains(t, r.Err, "awssm:alpha#key: GetSecretValue: no answer within 300ms (secrets.aws.timeout)")
	require.Less(t, time.Since(start), 10*time.Second, "bounded by Timeout, not by the SDK's defaults")
}

// Retries are bounded: a failing store gets MaxAttempts tries, then the
// reference fails naming the code and the attempts.
func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(t, awssmtest.Options{})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	src := newSource(t, srv)

	srv.Fail(t, true)
	r := fetch(t, src, srv.Ref("alpha", "key"))[0]
	require.ErrorContains(t, r.Err, "InternalServiceError (HTTP 500")
	require.ErrorContains(t, r.Err, "gave up after 3 attempts")
	require.Equal(t, awssm.MaxAttempts, srv.Errors("InternalServiceError"))
	srv.Fail(t, false)

	srv.Drop(t, true)
	r = fetch(t, src, srv.Ref("alpha", "key"))[0]
	require.ErrorContains(t, r.Err, "awssm:alpha#key: GetSecretValue: the request failed: ")
	require.ErrorContains(t, r.Err, "gave up after 3 attempts")
	srv.Drop(t, false)
	require.NoError(t, fetch(t, src, srv.Ref("alpha", "key"))[0].Err)
}

// syncBuffer is a log sink Fetch's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// No value, SecretString or credential reaches an error or a log line,
// whatever goes wrong, at Debug level, in any common encoding.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	temp := awssmtest.NewTemporaryCredential()
	srv := awssmtest.New(t, awssmtest.Options{Credentials: []awssmtest.Credential{temp}})
	good := `{"key":"` + key1 + `","other":"` + key2 + `","num":4242424242}`
	srv.PutString(t, "alpha", good)
	srv.PutString(t, "text", key1)
	srv.PutString(t, "bad", `{"key":"`+key2+`\n"}`) // a valid JSON string, a key with a newline
	srv.PutBinary(t, "bin", []byte(key1))
	srv.Deny(t, "denied")
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var errs []error
	run := func(src *awssm.Source, refs ...secret.Ref) {
		for _, r := range src.Fetch(context.Background(), refs) {
			if r.Err != nil {
				errs = append(errs, r.Err)
			}
		}
	}
	src := newSource(t, srv, func(o *awssm.Options) { o.Credentials = temp.Provider(); o.Log = log })
	run(src, srv.Ref("alpha", "key"), srv.Ref("alpha", "num"), srv.Ref("alpha", "none"), srv.Ref("text", "key"),
		srv.Ref("bad", "key"), srv.Ref("bin", "key"), srv.Ref("denied", "key"), srv.Ref("missing", "key"))
	wrong := awssmtest.Credential{AccessKeyID: temp.AccessKeyID, SecretAccessKey: awssmtest.NewCredential().SecretAccessKey, SessionToken: temp.SessionToken}
	run(newSource(t, srv, func(o *awssm.Options) { o.Credentials = wrong.Provider(); o.Log = log }), srv.Ref("alpha", "key"))
	srv.Fail(t, true)
	run(src, srv.Ref("alpha", "key"))

	require.Len(t, errs, 9)
	out := logs.String()
	require.Contains(t, out, `"secret_id":"alpha"`, "the test is not vacuous: reads were logged")
	require.Contains(t, out, "InvalidSignatureException")
	jsonGood, _ := json.Marshal(good)
	forbidden := []string{key1, key2, "4242424242", good, string(jsonGood), temp.SecretAccessKey, wrong.SecretAccessKey,
		temp.SessionToken, temp.AccessKeyID}
	for _, v := range forbidden[:2] {
		forbidden = append(forbidden, encodings(v)...)
	}
	for _, f := range forbidden {
		require.NotContains(t, out, f)
		for _, err := range errs {
			require.NotContains(t, err.Error(), f)
		}
	}
}

// encodings are the forms a leaked secret would take in a URL, a JSON
// document, a hex or base64 dump: each is still the secret.
func encodings(v string) []string {
	return []string{
		base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)),
		hex.EncodeToString([]byte(v)), url.QueryEscape(v), strconv.Quote(v),
	}
}
