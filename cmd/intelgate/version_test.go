package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/buildinfo"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	want := buildinfo.Read().String() + "\n"
	require.Regexp(t, `^intelgate \S+`, want)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		require.NoError(t, cmd.ExecuteContext(t.Context()), args)
		require.Equal(t, want, out.String(), args)
	}
}
