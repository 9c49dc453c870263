package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Token expiry warnings: how long before the token's exp each one fires,
// and its severity. After exp, "expired" (CRITICAL).
var expiryStages = []struct {
	name     string
	before   time.Duration
	severity string
}{
	{"1d", 24 * time.Hour, "CRITICAL"},
	{"7d", 7 * 24 * time.Hour, "HIGH"},
	{"14d", 14 * 24 * time.Hour, "MEDIUM"},
}

// Evaluate returns the conditions of one source that its stored state
// shows at now: the no-events alarm, stopped streams, streams failing for
// failingFor, and the token's expiry. (A growing quarantine needs the
// previous check; the Monitor adds it.) Disabled streams (log types not
// collected) count for nothing.
func Evaluate(src store.Source, streams []store.Stream, now time.Time, failingFor time.Duration) []Condition {
	var enabled []store.Stream
	for _, st := range streams {
		if st.Enabled {
			enabled = append(enabled, st)
		}
	}
	var out []Condition
	if c, ok := noEvents(src, enabled, now); ok {
		out = append(out, c)
	}
	out = append(out, stopped(src, enabled)...)
	if c, ok := failing(src, enabled, now, failingFor); ok {
		out = append(out, c)
	}
	if c, ok := tokenExpiry(src, now); ok {
		out = append(out, c)
	}
	return out
}

func base(kind string, src store.Source, severity string, detail ...string) Condition {
	return Condition{Key: Key(kind, src.ID, detail...), Kind: kind, SourceID: src.ID, Severity: severity,
		Context: map[string]any{"source": src.Name, "source_id": src.ID}}
}

// noEvents is Panther's "no events processed" alarm: CRITICAL when none of
// the source's collected streams stored an event (by the store's clock at
// commit, so late events count as data) for the source's NoEventsAlarm. A
// new source's clock starts when it was added.
func noEvents(src store.Source, streams []store.Stream, now time.Time) (Condition, bool) {
	if src.NoEventsAlarm <= 0 {
		return Condition{}, false
	}
	var last time.Time
	for _, st := range streams {
		if st.LastStoredAt.After(last) {
			last = st.LastStoredAt
		}
	}
	since := last
	if since.IsZero() {
		since = src.CreatedAt
	}
	if since.IsZero() || now.Sub(since) <= src.NoEventsAlarm {
		return Condition{}, false
	}
	c := base(KindNoEvents, src, "CRITICAL")
	c.Since = since.Add(src.NoEventsAlarm)
	c.Title = fmt.Sprintf("Source %s: no events stored for %s", src.Name, spell(src.NoEventsAlarm))
	c.Context["no_events_alarm"] = spell(src.NoEventsAlarm)
	if last.IsZero() {
		c.Title = fmt.Sprintf("Source %s: no events stored in the %s since it was added", src.Name, spell(src.NoEventsAlarm))
		c.Context["last_event_stored_at"] = nil
		c.Context["source_added_at"] = stamp(src.CreatedAt)
	} else {
		c.Context["last_event_stored_at"] = stamp(last)
	}
	var types []string
	for _, st := range streams {
		types = append(types, st.LogType)
	}
	c.Context["log_types"] = types
	c.Do = "Run opwatch source show " + src.Name + ": a stopped or failing stream says why, and opwatch source test " + src.Name +
		" checks the token and the endpoint. If the account is only quiet (no sign-ins or item usage for that long), lengthen the alarm " +
		"with opwatch source update " + src.Name + " --no-events-alarm 48h, or turn it off with --no-events-alarm off. " +
		"This alert resolves itself when events are stored again."
	if len(streams) == 0 {
		c.Do = "The source collects no log type: choose some with opwatch source update " + src.Name +
			" --log-types signinattempts,itemusages,auditevents, or turn the alarm off with --no-events-alarm off."
	}
	return c, true
}

// stopped: streams that need the operator. A missing feature is its own
// condition (one log type cannot be collected; the others are); anything
// else (a token refused or expired, a token that cannot be opened) stops
// the source.
func stopped(src store.Source, streams []store.Stream) []Condition {
	var feature, other []store.Stream
	for _, st := range streams {
		if st.Status != store.StreamStopped {
			continue
		}
		if lacksFeature(st.LastError) {
			feature = append(feature, st)
		} else {
			other = append(other, st)
		}
	}
	var out []Condition
	if len(other) > 0 {
		c := base(KindStopped, src, "HIGH")
		c.Title = fmt.Sprintf("Source %s: collection stopped (%s): %s", src.Name, logTypes(other), firstLine(other[0].LastError, 200))
		c.Since = other[0].LastErrorAt
		c.Context["streams"] = streamErrors(other)
		c.Do = strings.TrimSuffix(other[0].LastError, ".") + ". A new token given with opwatch source update " + src.Name +
			" --token-file F resumes the stopped streams; after fixing anything else, opwatch source reset " + src.Name +
			" polls them at once. Events are not lost while it is stopped, within the Events API's retention."
		out = append(out, c)
	}
	if len(feature) > 0 {
		c := base(KindFeature, src, "HIGH")
		c.Title = fmt.Sprintf("Source %s: the token lacks a feature: %s not collected", src.Name, logTypes(feature))
		c.Since = feature[0].LastErrorAt
		c.Context["streams"] = streamErrors(feature)
		c.Do = "In 1Password, issue an Events Reporting token with the features of every log type the source collects, and give it with opwatch source update " +
			src.Name + " --token-file F; or stop collecting " + logTypes(feature) + " with opwatch source update " + src.Name + " --log-types …."
		out = append(out, c)
	}
	return out
}

// lacksFeature recognises the error ingest records for a token without the
// feature of a stream's log type.
func lacksFeature(err string) bool {
	return strings.Contains(err, "lacks the") && strings.Contains(err, "feature")
}

// failing: streams that failed at every poll for failingFor (counted from
// their last success, or the source's creation), at least twice in a row.
func failing(src store.Source, streams []store.Stream, now time.Time, failingFor time.Duration) (Condition, bool) {
	var bad []store.Stream
	var since time.Time
	for _, st := range streams {
		if st.Status != store.StreamError || st.ConsecutiveFailures < 2 {
			continue
		}
		from := st.LastSuccessAt
		if from.IsZero() {
			from = src.CreatedAt
		}
		if from.IsZero() || now.Sub(from) < failingFor {
			continue
		}
		bad = append(bad, st)
		if since.IsZero() || from.Before(since) {
			since = from
		}
	}
	if len(bad) == 0 {
		return Condition{}, false
	}
	c := base(KindFailing, src, "HIGH")
	c.Since = since
	c.Title = fmt.Sprintf("Source %s: polling %s has failed for over %s: %s", src.Name, logTypes(bad), spell(failingFor), firstLine(bad[0].LastError, 200))
	c.Context["streams"] = streamErrors(bad)
	c.Do = "opwatch source show " + src.Name + " shows each stream's last error; opwatch source test " + src.Name +
		" checks the token and the endpoint (region, base URL, network). Nothing is lost while it fails: each stream resumes from its cursor " +
		"once the Events API answers, within the API's retention. This alert resolves itself when the streams poll successfully."
	return c, true
}

// tokenExpiry warns 14, 7 and 1 days before the token's exp, and after
// it: one alert per stage reached (a later stage resolves the earlier one).
func tokenExpiry(src store.Source, now time.Time) (Condition, bool) {
	exp := src.TokenExpiresAt
	if exp.IsZero() {
		return Condition{}, false
	}
	left := exp.Sub(now)
	stage, severity, since := "", "", time.Time{}
	if left <= 0 {
		stage, severity, since = "expired", "CRITICAL", exp
	} else {
		for _, s := range expiryStages {
			if left <= s.before {
				stage, severity, since = s.name, s.severity, exp.Add(-s.before)
				break
			}
		}
	}
	if stage == "" {
		return Condition{}, false
	}
	c := base(KindTokenExpiry, src, severity, stage)
	c.Since = since
	c.Context["token_expires_at"] = stamp(exp)
	if stage == "expired" {
		c.Title = fmt.Sprintf("Source %s: its token expired on %s: nothing is collected", src.Name, exp.UTC().Format("2006-01-02 15:04 UTC"))
		c.Do = "In 1Password, issue a new Events Reporting token for the integration and give it with opwatch source update " + src.Name +
			" --token-file F: the stopped streams resume from their cursors, and what happened meanwhile is read if still within the Events API's retention."
		return c, true
	}
	c.Title = fmt.Sprintf("Source %s: its token expires in %s (%s)", src.Name, spellLeft(left), exp.UTC().Format("2006-01-02 15:04 UTC"))
	c.Do = "Before " + exp.UTC().Format("2006-01-02 15:04 UTC") + ", issue a new Events Reporting token in 1Password and give it with opwatch source update " +
		src.Name + " --token-file F; collection stops when the token expires. This alert resolves itself when the new token is stored."
	return c, true
}

func quarantineCondition(src store.Source, growth, total int64, at time.Time) Condition {
	c := base(KindQuarantine, src, "MEDIUM")
	c.Since = at
	c.Title = fmt.Sprintf("Source %s: events are being quarantined (%d at one check, %d in all)", src.Name, growth, total)
	c.Context["quarantined"] = total
	c.Context["growth"] = growth
	c.Do = "opwatch source show " + src.Name + " lists the latest quarantined events with the reason each failed validation. " +
		"They are kept, not lost, but no detection sees them. The same reason on many events usually means the Events API changed its form: " +
		"update opwatch, or report it. This alert resolves itself after an hour without a new quarantined event."
	return c
}

func logTypes(streams []store.Stream) string {
	var names []string
	for _, st := range streams {
		names = append(names, st.LogType)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func streamErrors(streams []store.Stream) []map[string]any {
	var out []map[string]any
	for _, st := range streams {
		out = append(out, map[string]any{
			"log_type": st.LogType, "status": st.Status, "error": st.LastError, "error_at": stamp(st.LastErrorAt),
			"failures_in_a_row": st.ConsecutiveFailures, "last_success_at": stamp(st.LastSuccessAt),
		})
	}
	return out
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// stamp is t in RFC 3339 (UTC), or nil when zero.
func stamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// spell writes a duration as people do: 30m, 1h30m, 24h, 3d.
func spell(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		if d >= time.Hour {
			return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
		}
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// spellLeft is the time left before a token expires, rounded down.
func spellLeft(d time.Duration) string {
	switch days := int(d / (24 * time.Hour)); {
	case days >= 2:
		return fmt.Sprintf("%d days", days)
	case days == 1:
		return "1 day"
	}
	switch h := int(d / time.Hour); {
	case h >= 2:
		return fmt.Sprintf("%d hours", h)
	case h == 1:
		return "1 hour"
	}
	return "less than an hour"
}
