package awssm_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/awssm"
	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
	"github.com/intelgate/intelgate/internal/secret/secrettest"
)

// TestConformance runs the suite every secret.Source passes against a
// loopback Secrets Manager that verifies the SDK's signatures.
func TestConformance(t *testing.T) {
	t.Parallel()
	secrettest.Run(t, func(t *testing.T) secrettest.Harness {
		srv := awssmtest.New(t, awssmtest.Options{})
		return secrettest.Harness{Source: newSource(t, srv), Backend: srv, Versioned: true, Documents: true}
	})
}

// newSource is a Source for srv: its endpoint, CA, region and first key,
// with a test-sized timeout; mods adjust the options.
func newSource(t *testing.T, srv *awssmtest.Server, mods ...func(*awssm.Options)) *awssm.Source {
	t.Helper()
	o := awssm.Options{
		Region: srv.Region(), Endpoint: srv.URL(), CAFile: srv.CAFile(t),
		Credentials: srv.Credential(0).Provider(), Timeout: 10 * time.Second,
	}
	for _, m := range mods {
		m(&o)
	}
	src, err := awssm.New(context.Background(), o)
	require.NoError(t, err)
	return src
}

func mustRef(t *testing.T, s string) secret.Ref {
	t.Helper()
	r, err := secret.ParseRef(s)
	require.NoError(t, err)
	return r
}

func fetch(t *testing.T, src *awssm.Source, refs ...secret.Ref) []secret.Result {
	t.Helper()
	res := src.Fetch(context.Background(), refs)
	require.Len(t, res, len(refs))
	return res
}
