// Package buildinfo reports the version stamped into the binary.
package buildinfo

import "runtime/debug"

// Version is set by the release build: -ldflags "-X github.com/posd/posd/internal/buildinfo.Version=v1.2.3".
var Version = ""

// String returns the stamped version, else the module version or VCS revision
// the Go toolchain recorded, else "dev".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}
