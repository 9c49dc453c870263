package cli

import (
	"runtime/debug"
	"strings"

	"github.com/opwatch/opwatch/internal/metrics"
)

// buildInfo labels opwatch_build_info.
func buildInfo() metrics.BuildInfo {
	b := metrics.BuildInfo{Version: strings.Trim(buildVersion(), "()")}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range info.Settings {
			if kv.Key == "vcs.revision" {
				b.Revision = kv.Value
			}
		}
	}
	return b
}

// newMetrics is serve's instruments, with the collectors that read the
// store at each scrape.
func (a *app) newMetrics() *metrics.Opwatch {
	m := metrics.NewOpwatch(metrics.OpwatchOptions{Build: buildInfo(), Logger: a.log})
	m.CollectStreams(a.store)
	m.CollectOutbox(a.store)
	m.CollectDetectLag(a.store)
	return m
}
