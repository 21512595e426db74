package webhooksig_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// vectorFile is testdata/standard-webhooks.json, copied with its source
// note from the shared vectors.
type vectorFile struct {
	Source  string `json:"source"`
	Vectors []struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Secret    string `json:"secret"`
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/standard-webhooks.json")
	require.NoError(t, err)
	var vf vectorFile
	require.NoError(t, json.Unmarshal(b, &vf))
	require.Contains(t, vf.Source, "standard-webhooks", "the vectors keep their source note")
	require.NotEmpty(t, vf.Vectors)
	return vf
}

// junkV1 is a well-formed v1 signature no key makes.
var junkV1 = "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))

// junkV1a is a well-formed v1a signature no key makes.
var junkV1a = "v1a," + base64.StdEncoding.EncodeToString(make([]byte, 64))

// Each vector signs to its published signature, and a receiver holding the
// secret accepts exactly the unaltered message within the tolerance.
func TestStandardWebhooksConformance(t *testing.T) {
	t.Parallel()
	other, _ := newKey(t)
	for i, vec := range loadVectors(t).Vectors {
		t.Run(fmt.Sprintf("vector %d", i+1), func(t *testing.T) {
			t.Parallel()
			k, err := webhooksig.ParseKey(vec.Secret)
			require.NoError(t, err)
			at := time.Unix(vec.Timestamp, 0)
			payload := []byte(vec.Payload)

			signed, err := k.Sign(vec.ID, at, payload)
			require.NoError(t, err)
			require.Equal(t, vec.Signature, signed.Get(webhooksig.HeaderSignature))

			// The headers as a sender writes them, from the vector alone.
			headers := func(sig string) http.Header {
				h := http.Header{}
				h.Set(webhooksig.HeaderID, vec.ID)
				h.Set(webhooksig.HeaderTimestamp, fmt.Sprint(vec.Timestamp))
				h.Set(webhooksig.HeaderSignature, sig)
				return h
			}
			tampered := []byte(strings.Replace(vec.Payload, "t", "T", 1))
			many := func(n int) string { return strings.Repeat(junkV1+" ", n-1) + vec.Signature }
			tol := webhooksig.DefaultTolerance
			for _, tc := range []struct {
				name    string
				keys    []webhooksig.Key
				now     time.Time
				payload []byte
				headers http.Header
				want    error
			}{
				{"valid", []webhooksig.Key{k}, at, payload, headers(vec.Signature), nil},
				{"stale by exactly the tolerance", []webhooksig.Key{k}, at.Add(tol), payload, headers(vec.Signature), nil},
				{"future by exactly the tolerance", []webhooksig.Key{k}, at.Add(-tol), payload, headers(vec.Signature), nil},
				{"stale", []webhooksig.Key{k}, at.Add(tol + time.Second), payload, headers(vec.Signature), webhooksig.ErrTimestamp},
				{"future", []webhooksig.Key{k}, at.Add(-tol - time.Second), payload, headers(vec.Signature), webhooksig.ErrTimestamp},
				{"tampered body", []webhooksig.Key{k}, at, tampered, headers(vec.Signature), webhooksig.ErrSignature},
				{"body with a trailing space", []webhooksig.Key{k}, at, append(payload, ' '), headers(vec.Signature), webhooksig.ErrSignature},
				{"wrong secret", []webhooksig.Key{other}, at, payload, headers(vec.Signature), webhooksig.ErrSignature},
				{"rotation: the second key", []webhooksig.Key{other, k}, at, payload, headers(vec.Signature), nil},
				{"one valid among invalid ones", []webhooksig.Key{k}, at, payload,
					headers(junkV1 + " " + junkV1a + " v2,zzz nocomma " + vec.Signature + " " + junkV1), nil},
				{"all invalid", []webhooksig.Key{k}, at, payload, headers(junkV1 + " " + junkV1a + " v1,"), webhooksig.ErrSignature},
				{"the HMAC labelled v1a", []webhooksig.Key{k}, at, payload,
					headers("v1a," + strings.TrimPrefix(vec.Signature, "v1,")), webhooksig.ErrSignature},
				{"eight signatures, the last valid", []webhooksig.Key{k}, at, payload, headers(many(8)), nil},
				{"nine signatures are too many", []webhooksig.Key{k}, at, payload, headers(many(9)), webhooksig.ErrSignature},
				{"timestamp with a leading zero", []webhooksig.Key{k}, at, payload,
					func() http.Header {
						h := headers(vec.Signature)
						h.Set(webhooksig.HeaderTimestamp, "0"+fmt.Sprint(vec.Timestamp))
						return h
					}(), webhooksig.ErrTimestamp},
				{"timestamp with a sign", []webhooksig.Key{k}, at, payload,
					func() http.Header {
						h := headers(vec.Signature)
						h.Set(webhooksig.HeaderTimestamp, "+"+fmt.Sprint(vec.Timestamp))
						return h
					}(), webhooksig.ErrTimestamp},
				{"timestamp in milliseconds", []webhooksig.Key{k}, at, payload,
					func() http.Header {
						h := headers(vec.Signature)
						h.Set(webhooksig.HeaderTimestamp, fmt.Sprint(vec.Timestamp*1000))
						return h
					}(), webhooksig.ErrTimestamp},
				{"no id", []webhooksig.Key{k}, at, payload,
					func() http.Header { h := headers(vec.Signature); h.Del(webhooksig.HeaderID); return h }(), webhooksig.ErrMissingHeaders},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					v := webhooksig.Verifier{Keys: tc.keys, Clock: clocktest.New(tc.now)}
					id, err := v.Verify(tc.payload, tc.headers)
					if tc.want != nil {
						require.ErrorIs(t, err, tc.want)
						require.Empty(t, id)
						return
					}
					require.NoError(t, err)
					require.Equal(t, vec.ID, id)
				})
			}
		})
	}
}

// The tolerance is the verifier's, measured on its clock, both ways.
func TestToleranceIsConfigurable(t *testing.T) {
	t.Parallel()
	k, secret := newKey(t)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	h, err := k.Sign("msg_1", at, []byte("{}"))
	require.NoError(t, err)
	v, err := webhooksig.NewStandard([]string{secret}, time.Minute, nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		offset time.Duration
		want   error
	}{
		{59 * time.Second, nil}, {-59 * time.Second, nil},
		{61 * time.Second, webhooksig.ErrTimestamp}, {-61 * time.Second, webhooksig.ErrTimestamp},
	} {
		v.Clock = clocktest.New(at.Add(tc.offset))
		_, err := v.Verify([]byte("{}"), h)
		if tc.want == nil {
			require.NoError(t, err, tc.offset)
		} else {
			require.ErrorIs(t, err, tc.want, tc.offset)
		}
	}
}
