package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

// runEmulator serves a 1Password Events API emulator until ctx is done. It
// prints one JSON line, {"base_url": .., "token": ..}, for scripts to read.
func runEmulator(ctx context.Context, e *env, args []string) error {
	c, err := emulatorConfig(e, args)
	if err != nil {
		return err
	}
	em, err := emulator.Start(c.opts, c.listen, c.tls)
	if err != nil {
		return usageError{err}
	}
	defer em.Close()
	tok, err := em.IssueToken(c.token)
	if err != nil {
		return usageError{fmt.Errorf("--features: %w", err)}
	}
	line, err := json.Marshal(struct {
		BaseURL string `json:"base_url"`
		Token   string `json:"token"`
	}{em.URL(), tok})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.stdout, "%s\n", line); err != nil {
		return fmt.Errorf("print the emulator's address: %w", err)
	}
	<-ctx.Done()
	c.opts.Logger.Info("emulator stopping")
	if err := em.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop the emulator: %w", err)
	}
	return nil
}

// emulatorRun is what the emulator verb's flags ask for.
type emulatorRun struct {
	opts   emulator.Options
	token  emulator.TokenOptions // of the printed token
	listen string
	tls    bool
}

// emulatorConfig reads the emulator verb's flags.
func emulatorConfig(e *env, args []string) (emulatorRun, error) {
	// The global --db and --key-file are accepted and unused: the emulator
	// keeps no database. --log-level debug logs one line per request.
	fs := e.flags("emulator", "emulator [flags]", "")
	listen := fs.String("listen", "127.0.0.1:0", "`address` to listen on (port 0 picks a free port)")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a self-signed certificate, as 1Password's own clients expect")
	events := fs.Int("events", 1000, "events of each type already ingested at start, spread over --span")
	rate := fs.Float64("rate", 10, "new events of each type per minute after start (0: none)")
	seed := fs.Int64("seed", 1, "seed of the synthetic data: the same seed serves the same events")
	features := fs.String("features", "signinattempts,itemusages,auditevents", "comma-separated `list` of features the printed token grants\n"+
		"(none: a token that grants no feature, which clients should refuse)")
	span := fs.Duration("span", 24*time.Hour, "how far back the preloaded events reach")
	lateFraction := fs.Float64("late-fraction", 0.05, "`fraction` of item usages that arrive late (0: none)")
	maxLateness := fs.Duration("max-lateness", 6*time.Hour, "how late a late item usage can be")
	msp := fs.Bool("msp", false, "serve an MSP account: v2 events carry user_type, user_account_uuid, actor_account_uuid")
	scenarios := fs.Bool("scenarios", false, "plant attacks and risky admin actions (brute force, impossible travel, MFA disabled then an export, …)\n"+
		"among the benign traffic, about one every 20 minutes, for detections to catch")
	perMinute := fs.Int("rate-limit-minute", 600, "requests per minute per account (0: unlimited)")
	perHour := fs.Int("rate-limit-hour", 30000, "requests per hour per account (0: unlimited)")
	noHeaders := fs.Bool("no-rate-limit-headers", false, "send 429s without Retry-After and RateLimit-* headers")
	legacy := fs.Bool("legacy-errors", false, `send errors as {"Error":{"Message":..}} (specs 1.0-1.2)`)
	f500 := fs.Float64("fault-500", 0, "`probability` of answering 500")
	f503 := fs.Float64("fault-503", 0, "`probability` of answering 503 with Retry-After")
	fSlow := fs.Float64("fault-slow", 0, "`probability` of answering after --slow-delay")
	slowDelay := fs.Duration("slow-delay", 2*time.Second, "delay of a slow answer")
	fDrop := fs.Float64("fault-drop", 0, "`probability` of closing the connection without answering")
	fTruncate := fs.Float64("fault-truncate", 0, "`probability` of sending half a response, then closing")
	expires := fs.Duration("token-expires", 0, "lifetime of the printed token (0: never expires)")
	noAccount := fs.Bool("no-account-claim", false, "leave the 1password.com/auuid claim out of the printed token (the claim is inferred,\n"+
		"not documented, for Events API tokens): clients must learn the account by introspection")
	cursorModel := fs.String("cursor-model", emulator.CursorKeepsStart.String(),
		"what a continuing cursor serves (the real server's behaviour is undocumented):\n"+
			"keep-start: every page stays filtered by the first request's start_time, so a late event\n"+
			"older than it comes only by a new start_time; ingestion-order: only the first page is\n"+
			"filtered, later pages bring every event ingested since, however old its timestamp")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: opwatch emulator [flags]

Serve a local stand-in for the 1Password Events API: the v1 and v2 sign-in
attempt, item usage and audit event endpoints and token introspection, with
synthetic, deterministic data, bearer tokens, cursors, rate limits and
optional faults. On start it prints one JSON line on stdout,

  {"base_url":"http://127.0.0.1:PORT","token":"<bearer token>"}

then serves until interrupted (Ctrl-C or SIGTERM). Logs go to stderr.

Example:
  opwatch emulator --events 100000 --rate 600 --fault-503 0.05

Flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return emulatorRun{}, err
	}
	if err := wantArgs(fs, pos, 0, 0, ""); err != nil {
		return emulatorRun{}, err
	}
	model, err := emulator.ParseCursorModel(*cursorModel)
	if err != nil {
		return emulatorRun{}, usageError{err}
	}
	tokenFeatures, err := parseFeatures(*features)
	if err != nil {
		return emulatorRun{}, err
	}
	late := *lateFraction
	if late == 0 {
		late = -1 // Options: 0 is the default, negative is none
	}
	if *maxLateness <= 0 {
		return emulatorRun{}, usagef("--max-lateness %v: want a positive duration", *maxLateness)
	}
	if *span <= 0 {
		return emulatorRun{}, usagef("--span %v: want a positive duration", *span)
	}
	if *slowDelay <= 0 {
		return emulatorRun{}, usagef("--slow-delay %v: want a positive duration", *slowDelay)
	}
	return emulatorRun{
		opts: emulator.Options{
			Seed:               *seed,
			Events:             *events,
			Span:               *span,
			Rate:               *rate,
			LateFraction:       late,
			MaxLateness:        *maxLateness,
			MSP:                *msp,
			Scenarios:          *scenarios,
			RateLimitPerMinute: limitFlag(*perMinute),
			RateLimitPerHour:   limitFlag(*perHour),
			NoRateLimitHeaders: *noHeaders,
			LegacyErrorBody:    *legacy,
			CursorModel:        model,
			Faults: emulator.Faults{Error500: *f500, Error503: *f503, Slow: *fSlow, Drop: *fDrop,
				Truncate: *fTruncate, SlowDelay: *slowDelay},
			Logger: e.logger(),
		},
		token:  emulator.TokenOptions{Features: tokenFeatures, ExpiresIn: *expires, NoAccountClaim: *noAccount},
		listen: *listen,
		tls:    *useTLS,
	}, nil
}

// parseFeatures reads --features. "none" is a token without features
// (an empty, non-nil list: IssueToken's nil means every feature), so that a
// client's refusal of such a token can be tried; an empty flag stays an
// error, as it is more likely a script's unset variable than a wish.
func parseFeatures(flagValue string) ([]string, error) {
	if strings.TrimSpace(flagValue) == "none" {
		return []string{}, nil
	}
	var features []string
	for _, f := range strings.Split(flagValue, ",") {
		if f = strings.TrimSpace(f); f == "none" {
			return nil, usagef("--features %q: none stands alone (a token without features)", flagValue)
		} else if f != "" {
			features = append(features, f)
		}
	}
	if len(features) == 0 {
		return nil, usagef("--features is empty: want some of signinattempts, itemusages, auditevents, or none for a token without features")
	}
	return features, nil
}

// limitFlag maps the flags' "0 is unlimited" to Options' "negative is off".
func limitFlag(v int) int {
	if v <= 0 {
		return -1
	}
	return v
}
