package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261203170000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}}
	tests := []struct {
		name       string
		bi         *debug.BuildInfo
		ok         bool
		ldV, ldC   string
		want       Info
		wantString string
	}{
		{"go build in a clone", stamped, true, "", "", Info{"v0.0.0-20261203170000-0123456789ab+dirty", "0123456789ab-dirty", "go1.26.8"}, ""},
		{"release build", stamped, true, "v1.2.0", "feedface", Info{"v1.2.0", "feedface", "go1.26.8"}, "gateway v1.2.0 (commit feedface, go1.26.8)"},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "", "", Info{"devel", "unknown", "go1.26.8"}, "gateway devel (commit unknown, go1.26.8)"},
		{"no build info", nil, false, "", "", Info{"devel", "unknown", ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := from(tt.bi, tt.ok, tt.ldV, tt.ldC)
			if tt.bi == nil {
				if got.GoVersion == "" || got.Version != "devel" {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if tt.wantString != "" && got.String() != tt.wantString {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
	if g := Get(); !strings.HasPrefix(g.GoVersion, "go") {
		t.Fatalf("Get() = %+v", g)
	}
}
