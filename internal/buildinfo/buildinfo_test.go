package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
		str  string
	}{
		{
			name: "release",
			bi: debug.BuildInfo{GoVersion: "go1.25.1", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
				{Key: "vcs.modified", Value: "false"}, {Key: "GOOS", Value: "linux"}}},
			want: Info{Version: "v1.2.3", Revision: "0123abcd", Time: "2026-01-02T03:04:05Z", GoVersion: "go1.25.1"},
			str:  "intelgate v1.2.3 (revision 0123abcd, 2026-01-02T03:04:05Z) go1.25.1",
		},
		{
			name: "checkout with changes",
			bi: debug.BuildInfo{GoVersion: "go1.25.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}},
			want: Info{Version: Dev, Revision: "0123abcd", Modified: true, GoVersion: "go1.25.1"},
			str:  "intelgate dev (revision 0123abcd, modified) go1.25.1",
		},
		{
			name: "nothing recorded",
			want: Info{Version: Dev},
			str:  "intelgate dev",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := FromBuildInfo(&tt.bi)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.str, got.String())
		})
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	info := Read()
	require.NotEmpty(t, info.Version)
	require.Equal(t, info.Version, Version())
	require.Equal(t, runtime.Version(), info.GoVersion)
}
