// Package buildinfo says which intelgate this is, from what the Go
// toolchain recorded in the binary (runtime/debug.ReadBuildInfo): the module
// version, the VCS revision and time, whether the tree was modified, and the
// Go version. `intelgate version` prints it and the upstream User-Agent
// carries the same Version, so a vendor's logs and an operator's terminal
// name the same build.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Dev is the version of a binary built without module version information
// (go run, go build in a checkout, tests).
const Dev = "dev"

// Info is what the binary knows about its build. Empty fields were not
// recorded.
type Info struct {
	Version   string // module version ("v1.2.3", a pseudo-version) or Dev
	Revision  string // vcs.revision
	Time      string // vcs.time (RFC 3339)
	Modified  bool   // vcs.modified: built from a tree with uncommitted changes
	GoVersion string // the toolchain that built the binary
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Dev}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from bi; Read uses it, tests feed it.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: Dev, GoVersion: bi.GoVersion}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// Version is the running binary's version: Read().Version.
func Version() string { return Read().Version }

// String renders info on one line, e.g.
// "intelgate v1.2.3 (revision 0123abcd, 2026-01-02T03:04:05Z, modified) go1.25.1".
func (info Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "intelgate %s", info.Version)
	var vcs []string
	if info.Revision != "" {
		vcs = append(vcs, "revision "+info.Revision)
	}
	if info.Time != "" {
		vcs = append(vcs, info.Time)
	}
	if info.Modified {
		vcs = append(vcs, "modified")
	}
	if len(vcs) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(vcs, ", "))
	}
	if info.GoVersion != "" {
		fmt.Fprintf(&b, " %s", info.GoVersion)
	}
	return b.String()
}
