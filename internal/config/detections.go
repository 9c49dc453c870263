package config

import (
	"errors"
	"fmt"
	"github.com/opwatch/opwatch/internal/logtype"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Detections configures the detect stage: user rule folders beside the
// built-in packs, packs switched on or off, per-rule overrides and lookup
// tables. Overrides live here, not in the rule files, so that they survive
// pack updates.
type Detections struct {
	// Rules are folders of the user's own rules (as serve --rules DIR).
	Rules []string `yaml:"rules"`
	// Packs enables (true) or disables (false) a pack by its PackID;
	// enabling a pack enables its detections.
	Packs map[string]bool `yaml:"packs"`
	// Overrides change one rule each, by RuleID.
	Overrides map[string]Override `yaml:"overrides"`
	// Lookups are loaded (their rows replaced) when serve starts.
	Lookups []Lookup `yaml:"lookups"`
}

// Override changes one rule; a setting left out keeps the rule's own.
type Override struct {
	Enabled     *bool     `yaml:"enabled"`
	Severity    string    `yaml:"severity"`
	Threshold   *int      `yaml:"threshold"`
	DedupPeriod *Duration `yaml:"dedup_period"`
	// Destinations, when given, replace where the rule's alerts go; an
	// empty list ([]) sends them nowhere.
	Destinations *[]string `yaml:"destinations"`
}

// Keys names the settings the override changes, in a stable order.
func (o Override) Keys() []string {
	var keys []string
	if o.Enabled != nil {
		keys = append(keys, "enabled")
	}
	if o.Severity != "" {
		keys = append(keys, "severity")
	}
	if o.Threshold != nil {
		keys = append(keys, "threshold")
	}
	if o.DedupPeriod != nil {
		keys = append(keys, "dedup_period")
	}
	if o.Destinations != nil {
		keys = append(keys, "destinations")
	}
	return keys
}

// Lookup is a lookup table loaded from a file at serve start, as
// `opwatch lookup load` loads one.
type Lookup struct {
	Name     string `yaml:"name"`
	File     string `yaml:"file"`
	Key      string `yaml:"key"`
	LogType  string `yaml:"log_type"`
	Selector string `yaml:"selector"`
	Format   string `yaml:"format"` // csv or jsonl; default: from the file's extension
}

// Bounds of the detection settings, as the rule format has them.
const (
	MinDedupPeriod  = 5 * time.Minute
	MaxDedupPeriod  = 24 * time.Hour
	MaxDestinations = 10
)

// Severities are the rule severities, as rule files write them.
var severities = []string{"Info", "Low", "Medium", "High", "Critical"}

// LookupFormat is the format of a lookup table file: format when given
// (csv or jsonl, any case), else from the file's extension. It fails when
// neither says.
func LookupFormat(file, format string) (string, error) {
	if format != "" {
		f := strings.ToLower(format)
		if f != "csv" && f != "jsonl" {
			return "", fmt.Errorf("format %q: want csv or jsonl", format)
		}
		return f, nil
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".csv":
		return "csv", nil
	case ".jsonl", ".ndjson":
		return "jsonl", nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its name: give the format, csv or jsonl", showName(file))
}

// ValidSelector reports whether s is a dotted path of field names
// (item_uuid, client.ip_address): none empty, none with control characters.
func ValidSelector(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if part == "" || strings.TrimSpace(part) != part || !utf8.ValidString(part) {
			return false
		}
		for _, r := range part {
			if r < 0x20 || r == 0x7f {
				return false
			}
		}
	}
	return true
}

// CheckSelector reports a selector that names no field of the log type's
// schema: a misspelt one would enrich nothing, silently. Fields deeper
// than the schema knows (objects 1Password may extend) are accepted.
func CheckSelector(logType, selector string) error {
	lt := logtype.ByName(logType)
	if lt == nil {
		return fmt.Errorf("unknown log type %q", logType)
	}
	fields := lt.Fields
	for i, part := range strings.Split(selector, ".") {
		var f *logtype.Field
		for j := range fields {
			if fields[j].Name == part {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			if i > 0 && len(fields) == 0 {
				return nil // below an object the schema does not describe
			}
			var names []string
			for _, g := range fields {
				names = append(names, g.Name)
			}
			return fmt.Errorf("%s has no field %q at %q (there: %s)", logType, part, selector, strings.Join(names, ", "))
		}
		fields = f.Fields
	}
	return nil
}

func (d *Detections) applyDefaults() {
	for i := range d.Lookups {
		l := &d.Lookups[i]
		if lts, err := NormalizeLogTypes([]string{l.LogType}); err == nil && l.LogType != "" {
			l.LogType = lts[0]
		}
		if f, err := LookupFormat(l.File, l.Format); err == nil {
			l.Format = f
		}
	}
}

// Validate reports every problem of the detections section at once, naming
// each setting by its key under detections. Whether the rules and packs it
// names exist is checked when the rules are loaded (serve, rules list).
func (d *Detections) Validate() error {
	var errs []error
	seenDir := map[string]bool{}
	for i, dir := range d.Rules {
		switch {
		case strings.TrimSpace(dir) == "":
			errs = append(errs, fmt.Errorf("detections.rules[%d] is empty: give a folder of rules", i))
		case seenDir[filepath.Clean(dir)]:
			errs = append(errs, fmt.Errorf("detections.rules[%d]: the folder %s is listed twice", i, showName(dir)))
		}
		seenDir[filepath.Clean(dir)] = true
	}
	for _, id := range sortedKeys(d.Packs) {
		if err := checkID(id); err != nil {
			errs = append(errs, fmt.Errorf("detections.packs: a PackID %w", err))
		}
	}
	for _, id := range sortedKeys(d.Overrides) {
		if err := checkID(id); err != nil {
			errs = append(errs, fmt.Errorf("detections.overrides: a RuleID %w", err))
			continue
		}
		if err := d.Overrides[id].validate(); err != nil {
			errs = append(errs, fmt.Errorf("detections.overrides.%s: %w", id, err))
		}
	}
	seenName := map[string]bool{}
	for i, l := range d.Lookups {
		if l.Name != "" && seenName[l.Name] {
			errs = append(errs, fmt.Errorf("detections.lookups[%d]: duplicate name %s", i, showName(l.Name)))
		}
		seenName[l.Name] = true
		if err := l.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("detections.lookups[%d] (%s): %w", i, showName(l.Name), err))
		}
	}
	return errors.Join(errs...)
}

func (o Override) validate() error {
	var errs []error
	if o.Severity != "" && !slices.ContainsFunc(severities, func(s string) bool { return strings.EqualFold(s, o.Severity) }) {
		errs = append(errs, fmt.Errorf("severity %s: want one of %s", showName(o.Severity), strings.Join(severities, ", ")))
	}
	if o.Threshold != nil && *o.Threshold < 1 {
		errs = append(errs, fmt.Errorf("threshold %d: want at least 1 (the matches within the dedup period that open an alert)", *o.Threshold))
	}
	if p := o.DedupPeriod; p != nil && (time.Duration(*p) < MinDedupPeriod || time.Duration(*p) > MaxDedupPeriod) {
		errs = append(errs, fmt.Errorf("dedup_period %s must be between 5m and 24h", *p))
	}
	if o.Destinations != nil {
		ds := *o.Destinations
		if len(ds) > MaxDestinations {
			errs = append(errs, fmt.Errorf("destinations: %d given, at most %d", len(ds), MaxDestinations))
		}
		seen := map[string]bool{}
		for i, dst := range ds {
			if err := checkName(dst); err != nil {
				errs = append(errs, fmt.Errorf("destinations[%d] %w", i, err))
			} else if seen[dst] {
				errs = append(errs, fmt.Errorf("destinations[%d]: %s is listed twice", i, showName(dst)))
			}
			seen[dst] = true
		}
	}
	return errors.Join(errs...)
}

// Validate checks one lookup table's settings (not its file's rows).
func (l *Lookup) Validate() error {
	var errs []error
	if err := checkName(l.Name); err != nil {
		errs = append(errs, fmt.Errorf("name %w", err))
	}
	if strings.TrimSpace(l.File) == "" {
		errs = append(errs, errors.New("file is required: the CSV or JSONL file of the table"))
	} else if l.File == "-" {
		errs = append(errs, errors.New("file - (standard input) is for `opwatch lookup load`: name the table's file"))
	} else if _, err := LookupFormat(l.File, l.Format); err != nil {
		errs = append(errs, err)
	}
	if l.Key == "" {
		errs = append(errs, errors.New("key is required: the column (CSV) or field (JSONL) the selector's value is looked up by"))
	} else if !utf8.ValidString(l.Key) {
		errs = append(errs, errors.New("key is not valid UTF-8"))
	}
	if l.LogType == "" {
		errs = append(errs, fmt.Errorf("log_type is required: the log type whose events the table enriches (%s)", strings.Join(LogTypeNames(), ", ")))
	} else if _, err := NormalizeLogTypes([]string{l.LogType}); err != nil {
		errs = append(errs, fmt.Errorf("log_type: %w", err))
	}
	if l.Selector == "" {
		errs = append(errs, errors.New("selector is required: the events' field to look up, a dotted path such as item_uuid or client.ip_address"))
	} else if !ValidSelector(l.Selector) {
		errs = append(errs, fmt.Errorf("selector %q is not a dotted path of field names (such as client.ip_address)", l.Selector))
	} else if lts, err := NormalizeLogTypes([]string{l.LogType}); err == nil && l.LogType != "" {
		if err := CheckSelector(lts[0], l.Selector); err != nil {
			errs = append(errs, fmt.Errorf("selector: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkID says what is wrong with a RuleID or PackID, worded to follow
// "a RuleID". IDs are printed in tables and logs.
func checkID(id string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("is empty")
	}
	if !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return fmt.Errorf("%q has spaces, control characters or invalid UTF-8: IDs are like OnePassword.Unusual.Client", id)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
