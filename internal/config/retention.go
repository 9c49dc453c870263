package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Defaults and bounds of the retention section.
const (
	DefaultEventRetention      = 365 * 24 * time.Hour
	DefaultQuarantineRetention = 30 * 24 * time.Hour
	// MinRetention is the shortest period: less would delete events that
	// ingest's reconciliation (and a stream's lookback) may fetch again,
	// which would then be stored, and detected, a second time.
	MinRetention = 24 * time.Hour
)

// Period is how long something is kept: a duration, or KeepForever. The
// zero value is "not given", which the defaults fill.
type Period time.Duration

// KeepForever keeps everything ("off" in a file or a flag).
const KeepForever = Period(-1)

// ParsePeriod reads "off" or a duration of at least MinRetention.
func ParsePeriod(s string) (Period, error) {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return KeepForever, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w, or off", err)
	}
	if d < MinRetention {
		return 0, fmt.Errorf("%s is shorter than 1d: keep events at least a day (such as 365d), or off to keep them all", Duration(d))
	}
	return Period(d), nil
}

// Duration is the period; 0 when kept forever.
func (p Period) Duration() time.Duration {
	if p == KeepForever || p < 0 {
		return 0
	}
	return time.Duration(p)
}

func (p Period) String() string {
	switch {
	case p == KeepForever:
		return "off"
	case p == 0:
		return ""
	}
	return Duration(p).String()
}

// UnmarshalYAML reads "off" or a duration.
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParsePeriod(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Retention says how long the lake keeps what it stores. Alerts have their
// own (alerts.retention).
type Retention struct {
	// Events is how long an event is kept after its p_event_time, for every
	// log type without a period of its own. Default 365d.
	Events Period `yaml:"events"`
	// LogTypes gives log types periods of their own, by name (as in a
	// source's log_types: OnePassword.ItemUsage, ItemUsage or itemusages).
	LogTypes map[string]Period `yaml:"log_types"`
	// Quarantine is how long a quarantined event is kept after it was
	// received. Default 30d.
	Quarantine Period `yaml:"quarantine"`
}

func (r *Retention) applyDefaults() {
	if r.Events == 0 {
		r.Events = Period(DefaultEventRetention)
	}
	if r.Quarantine == 0 {
		r.Quarantine = Period(DefaultQuarantineRetention)
	}
}

// Validate reports every problem of the retention section: unknown or
// repeated log types, and periods shorter than ingest's reconciliation
// window (reconcileWindow), which would fetch deleted events again.
func (r *Retention) Validate(reconcileWindow Duration) error {
	var errs []error
	check := func(key string, p Period, window Duration) {
		if p == KeepForever || p == 0 {
			return
		}
		if p < 0 || time.Duration(p) < MinRetention {
			errs = append(errs, fmt.Errorf("%s %s is shorter than 1d: give such as 365d, or off", key, Duration(p)))
		} else if time.Duration(p) <= time.Duration(window) {
			errs = append(errs, fmt.Errorf("%s %s is not longer than ingest.reconcile_window %s: events deleted would be fetched and stored again; keep them longer", key, Duration(p), window))
		}
	}
	check("retention.events", r.Events, reconcileWindow)
	// A quarantined event fetched again is quarantined again anyway.
	check("retention.quarantine", r.Quarantine, 0)
	seen := map[string]string{}
	keys := make([]string, 0, len(r.LogTypes))
	for k := range r.LogTypes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		lts, err := NormalizeLogTypes([]string{k})
		if err != nil {
			errs = append(errs, fmt.Errorf("retention.log_types: %w", err))
			continue
		}
		if other, ok := seen[lts[0]]; ok {
			errs = append(errs, fmt.Errorf("retention.log_types: %q and %q are both %s: give it once", other, k, lts[0]))
		}
		seen[lts[0]] = k
		check("retention.log_types."+k, r.LogTypes[k], reconcileWindow)
	}
	return errors.Join(errs...)
}

// EventPeriods is how long each log type's events are kept (0: forever),
// by log type name, for every log type; events overrides retention.events
// when it is not 0 (the serve flag). Call it on a validated section.
func (r *Retention) EventPeriods(events Period) map[string]time.Duration {
	if events == 0 {
		events = r.Events
	}
	out := map[string]time.Duration{}
	for _, lt := range LogTypeNames() {
		out[lt] = events.Duration()
	}
	for k, p := range r.LogTypes {
		if lts, err := NormalizeLogTypes([]string{k}); err == nil {
			out[lts[0]] = p.Duration()
		}
	}
	return out
}
