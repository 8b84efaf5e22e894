// Package buildinfo says which gateway this is: the version, the commit
// and the Go version, for `gateway version`, the startup log and the
// gateway_build_info metric.
//
// A release build sets the version (and, without a .git directory, the
// commit) with the linker:
//
//	go build -ldflags "-X gateway/buildinfo.version=v1.2.0 -X gateway/buildinfo.commit=$(git rev-parse HEAD)" ./cmd/gateway
//
// Otherwise both come from what the Go toolchain stamped into the binary
// (the module version and the VCS revision of a `go build` in a clone).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by -ldflags -X; empty means "from the build info".
var (
	version string
	commit  string
)

// Info is one build's identity.
type Info struct {
	Version string `json:"version"`
	// Commit is the VCS revision, with "-dirty" when the tree had
	// uncommitted changes; "unknown" when nothing recorded it (go run).
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// String is the one-line form `gateway version` prints.
func (i Info) String() string {
	return "gateway " + i.Version + " (commit " + i.Commit + ", " + i.GoVersion + ")"
}

var get = sync.OnceValue(func() Info {
	bi, ok := debug.ReadBuildInfo()
	return from(bi, ok, version, commit)
})

// Get returns this binary's build identity.
func Get() Info { return get() }

// from combines the linker's values with the toolchain's build info.
func from(bi *debug.BuildInfo, ok bool, ldVersion, ldCommit string) Info {
	info := Info{Version: ldVersion, Commit: ldCommit, GoVersion: runtime.Version()}
	if ok {
		info.GoVersion = bi.GoVersion
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			rev, dirty := "", false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if rev != "" {
				info.Commit = rev
				if len(rev) > 12 {
					info.Commit = rev[:12]
				}
				if dirty {
					info.Commit += "-dirty"
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
