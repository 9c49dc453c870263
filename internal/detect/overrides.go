package detect

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Overrides are the user's changes on top of the packs: they name rules
// and packs by ID, so they survive pack updates. The zero value changes
// nothing.
type Overrides struct {
	Rules map[string]RuleOverride
	Packs map[string]bool // PackID → enabled; a disabled pack disables its rules
}

// RuleOverride changes one rule; zero fields leave the rule's own value.
type RuleOverride struct {
	Enabled         *bool
	Severity        string        // Info … Critical, any case
	Threshold       int           // ≥ 1
	DedupPeriod     time.Duration // 5 min to 24 h
	Destinations    []string      // with DestinationsSet; none suppresses alerts
	DestinationsSet bool
}

// WithOverrides returns a new set with o applied; s is unchanged. A rule
// or pack o names that is not in s, or a value out of range, is an error.
// A rule is enabled when its pack is (by default, packs are) and its
// override, or else its own Enabled, says so.
func (s *Set) WithOverrides(o Overrides) (*Set, error) {
	var errs []error
	for id := range o.Packs {
		if s.packs[id] == nil {
			errs = append(errs, fmt.Errorf("override of pack %s: no such pack (see opwatch rules list)", id))
		}
	}
	for id, ro := range o.Rules {
		if s.rules[id] == nil {
			errs = append(errs, fmt.Errorf("override of rule %s: no such rule (see opwatch rules list)", id))
			continue
		}
		if ro.Severity != "" && !isSeverity(strings.ToUpper(ro.Severity)) {
			errs = append(errs, fmt.Errorf("override of rule %s: severity %q: want Info, Low, Medium, High or Critical", id, ro.Severity))
		}
		if ro.Threshold < 0 {
			errs = append(errs, fmt.Errorf("override of rule %s: threshold %d: want at least 1", id, ro.Threshold))
		}
		if ro.DedupPeriod != 0 && (ro.DedupPeriod < 5*time.Minute || ro.DedupPeriod > 24*time.Hour) {
			errs = append(errs, fmt.Errorf("override of rule %s: dedup period %s: want 5 minutes to 24 hours", id, ro.DedupPeriod))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := newSet()
	for id, p := range s.packs {
		cp := *p
		if en, ok := o.Packs[id]; ok {
			cp.Enabled = en
		}
		out.packs[id] = &cp
	}
	for id, r := range s.rules {
		cp := *r // shares the compiled module, which is read-only
		if ro, ok := o.Rules[id]; ok {
			if ro.Enabled != nil {
				cp.Enabled = *ro.Enabled
			}
			if ro.Severity != "" {
				cp.Severity = strings.ToUpper(ro.Severity)
			}
			if ro.Threshold > 0 {
				cp.Threshold = ro.Threshold
			}
			if ro.DedupPeriod != 0 {
				cp.DedupPeriod = ro.DedupPeriod
			}
			if ro.DestinationsSet {
				cp.Destinations = append([]string{}, ro.Destinations...)
				cp.DestinationsSet = true
			}
		}
		if p := out.packs[cp.Pack]; p != nil && !p.Enabled {
			cp.Enabled = false
		}
		out.rules[id] = &cp
	}
	out.index()
	return out, nil
}
