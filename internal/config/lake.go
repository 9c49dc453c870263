package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Bounds of lake.compact_after.
const (
	DefaultCompactAfter = 24 * time.Hour
	// MinCompactAfter keeps at least the last hour hot: the detect stage,
	// the console and ingest's re-reads work there, and compacting it
	// would save little.
	MinCompactAfter = time.Hour
)

// Lake tunes how the lake stores its events.
type Lake struct {
	// CompactAfter: events stored longer ago than this are moved into
	// compressed segments (serve, hourly); off: never. Not given: 1d on
	// SQLite, off on PostgreSQL (its views cannot skip compacted events
	// by time: docs/lake.md), which CompactAfterFor decides.
	CompactAfter Age `yaml:"compact_after"`
}

func (l *Lake) applyDefaults() {}

// CompactAfterFor is the compaction age of a database: flag over the file,
// else the engine's default.
func CompactAfterFor(flag, file Age, postgres bool) time.Duration {
	a := flag.Or(file)
	if a == 0 && !postgres {
		a = Age(DefaultCompactAfter)
	}
	return a.Duration()
}

// Age is how old something gets before a background job handles it: a
// duration, or Off. The zero value is "not given", which defaults fill.
type Age time.Duration

// Off turns the job off ("off" in a file or a flag).
const Off = Age(-1)

// ParseCompactAfter reads "off" or a duration of at least MinCompactAfter
// (lake.compact_after, serve --compact-after, lake compact --older-than).
func ParseCompactAfter(s string) (Age, error) {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return Off, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w, or off", err)
	}
	if d < MinCompactAfter {
		return 0, fmt.Errorf("%s is shorter than 1h: keep at least the last hour uncompacted (such as 1d), or off", Duration(d))
	}
	return Age(d), nil
}

// Duration is the age; 0 when off.
func (a Age) Duration() time.Duration {
	if a < 0 {
		return 0
	}
	return time.Duration(a)
}

func (a Age) String() string {
	switch {
	case a < 0:
		return "off"
	case a == 0:
		return ""
	}
	return Duration(a).String()
}

// Or is a, or def when a is not given (the flag over the file).
func (a Age) Or(def Age) Age {
	if a == 0 {
		return def
	}
	return a
}

// UnmarshalYAML reads "off" or a duration.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseCompactAfter(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
