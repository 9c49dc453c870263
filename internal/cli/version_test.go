package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "abc1234def5678"},
		{Key: "vcs.time", Value: "2026-12-01T21:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	clean := []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc1234def5678"},
		{Key: "vcs.time", Value: "2026-12-01T21:04:05Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	for _, tt := range []struct {
		name    string
		info    *debug.BuildInfo
		ldflags string
		want    string
	}{
		{"released module", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}, Settings: clean}, "", "opwatch v0.3.0 (rev abc1234, 2026-12-01)"},
		{"modified checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "", "opwatch (devel) (rev abc1234, 2026-12-01, modified)"},
		{"ldflags when the module has no version", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v1.2.3", "opwatch v1.2.3"},
		{"module version first", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, "v1.2.3", "opwatch v0.3.0"},
		{"nothing known", &debug.BuildInfo{}, "", "opwatch (devel)"},
		{"no build info", nil, "", "opwatch (devel)"},
	} {
		if got := versionText(tt.info, tt.info != nil, tt.ldflags); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestVersionVerb(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "opwatch ") || strings.Count(out, "\n") != 1 || errOut != "" {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out == "opwatch dev\n" || out == "opwatch \n" {
		t.Errorf("version says nothing about the build: %q", out)
	}
	if want := buildVersion(); !strings.HasPrefix(out, "opwatch "+want) {
		t.Errorf("version %q does not start with the build's version %q", out, want)
	}
}
