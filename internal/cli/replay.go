package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// runRulesReplay is `opwatch rules replay`: one rule over stored history,
// through the stage's dedup, threshold and limiter in memory. It raises
// nothing and changes nothing (the database is opened read-only).
func runRulesReplay(ctx context.Context, e *env, args []string) error {
	fs := e.flags("rules replay", "rules replay --rule ID [--since 30d] [--path DIR] [--format table|json]",
		"Run a rule over the stored events and report the alerts it would have raised, without\n"+
			"raising them: tune a rule before enabling it. The rule may be disabled. Dedup periods and\n"+
			"thresholds count by the events' own times (p_event_time); the events are read in the order\n"+
			"they were stored, as the detect stage reads them.")
	ruleID := fs.String("rule", "", "the rule's `ID` (required)")
	sinceFlag := fs.String("since", "30d", "only events of the last `duration` (30d, 12h, 90m)")
	dir := fs.String("path", "", "a `folder` of your own rules, loaded beside the built-in packs")
	format := fs.String("format", "table", "output `format`: table, or json (one alert per line)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *ruleID == "" {
		fs.Usage()
		return usagef("missing --rule ID")
	}
	since, err := config.ParseDuration(*sinceFlag)
	if err != nil || since <= 0 {
		return usagef("--since %q: want a duration such as 30d, 12h or 90m", *sinceFlag)
	}
	if err := alertOneOf("--format", *format, []string{"table", "json"}); err != nil {
		return err
	}
	set, _, err := loadRules(*dir)
	if err != nil {
		return err
	}
	rule := set.Rule(*ruleID)
	if rule == nil {
		where := "the built-in packs"
		if *dir != "" {
			where = "the built-in packs or " + *dir
		}
		return fmt.Errorf("no rule %s in %s: `opwatch rules list` shows the IDs", quoted(*ruleID), safetext.Terminal(where))
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	from := time.Now().Add(-since)
	res, err := detect.Replay(ctx, detect.ReplayOptions{Store: a.store, Rules: []*detect.Rule{rule}, Since: from,
		// What a replay "opens" is only reported below; its log would read as
		// if alerts had been raised.
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("replay %s: %w", *ruleID, err)
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		for _, al := range res.Alerts {
			if err := enc.Encode(toAlertJSON(al)); err != nil {
				return err
			}
		}
		return nil
	}
	return writeReplay(e, rule, from, res)
}

func writeReplay(e *env, rule *detect.Rule, from time.Time, res detect.ReplayResult) error {
	w := e.stdout
	t := safetext.Terminal
	state := "enabled"
	if !rule.Enabled {
		state = "disabled"
	}
	counts := map[string]int{}
	matches := 0
	for _, al := range res.Alerts {
		counts[al.Type]++
		if al.Type == store.AlertRule {
			matches += al.Events
		}
	}
	fmt.Fprintf(w, "Replay of %s (%s, threshold %d, dedup period %s) over %d events since %s:\n",
		t(rule.ID), state, max(rule.Threshold, 1), short(rule.DedupPeriod), res.Events, from.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "  would have raised %d alert(s) (%d matches)", counts[store.AlertRule], matches)
	if n := counts[store.AlertRuleError]; n > 0 {
		fmt.Fprintf(w, ", %d rule errors (%d failed evaluations)", n, res.RuleErrors)
	}
	if counts[store.AlertSystemError] > 0 {
		fmt.Fprintf(w, ", and hit the limit of %d alerts an hour", detect.DefaultAlertsPerHour)
	}
	fmt.Fprintln(w, ". Nothing was raised.")
	if len(res.Alerts) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRST EVENT\tLAST EVENT\tTYPE\tSEVERITY\tEVENTS\tDEDUP\tTITLE")
	for _, al := range res.Alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", al.FirstEventAt.UTC().Format("2006-01-02 15:04:05"),
			al.LastEventAt.UTC().Format("2006-01-02 15:04:05"), t(al.Type), t(al.Severity), al.Events,
			t(alertShorten(al.Dedup, 60)), t(alertShorten(firstLineOf(al.Title), 100)))
	}
	return tw.Flush()
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
