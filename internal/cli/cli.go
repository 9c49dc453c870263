// Package cli holds opwatch's verbs and wires its parts together.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Version may be set at build time with -ldflags "-X
// github.com/opwatch/opwatch/internal/cli.Version=v1.2.3". The module
// version from the build info comes first; see buildVersion.
var Version string

// env is the process environment, passed explicitly so tests can replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	db             string // --db
	dbSet          bool   // --db or OPWATCH_DB was given
	keyFile        string // --key-file or OPWATCH_KEY_FILE; "" = beside a local database
	logLevel       string // --log-level
	logFormat      string // --log-format: text or json
}

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":        {"run ingestion, detections, alert delivery and health checks until stopped", runServe},
		"demo":         {"start the emulator with live traffic, a demo source, and serve", runDemo},
		"emulator":     {"serve a local 1Password Events API emulator", runEmulator},
		"source":       {"add, list, show, test, update, reset or remove 1Password sources", runSource},
		"pull":         {"drain every stream once until caught up, then exit", runPull},
		"backfill":     {"re-read a past window of a source alongside its live cursor", runBackfill},
		"query":        {"run a read-only SQL query over the event lake", runQuery},
		"lake":         {"what the event lake holds, and compacting it (lake stats, lake compact)", runLake},
		"export":       {"write the lake as Parquet files for DuckDB, Trino, Spark, Snowflake", runExport},
		"rules":        {"test, list or evaluate detection rules (rules test --path DIR)", runRules},
		"lookup":       {"load, list or remove lookup tables that enrich events for rules", runLookup},
		"alerts":       {"list, show and triage alerts (alerts list --status open; alerts resolve ID)", runAlerts},
		"destinations": {"add, list, show, update, test or remove where alerts are sent", runDestinations},
		"users":        {"add, list, remove or reset the password of console users", runUsers},
		"tokens":       {"create, list or revoke API tokens for the HTTP API", runTokens},
		"bench":        {"measure opwatch (bench ingest --events N)", runBench},
		"status":       {"show the replicas, what each runs, and the detect stage's lag", runStatus},
		"migrate":      {"create or upgrade the database schema, then exit", runMigrate},
		"version":      {"print the version", runVersion},
	}
}

// Main runs the verb named by args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func run(ctx context.Context, args []string, e *env) int {
	cmds := commands()
	fs := flag.NewFlagSet("opwatch", flag.ContinueOnError)
	// The error is printed once, below; help asked for goes to stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	e.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(e.stdout, cmds)
			return 0
		}
		fmt.Fprintf(e.stderr, "opwatch: %v\nRun 'opwatch help' for usage.\n", err)
		return 2
	}
	// A flag's value was checked when given; the environment's is checked here.
	if _, err := parseLevel(e.logLevel); err != nil {
		fmt.Fprintf(e.stderr, "opwatch: OPWATCH_LOG_LEVEL: %v\n", err)
		return 2
	}
	if err := checkLogFormat(e.logFormat); err != nil {
		fmt.Fprintf(e.stderr, "opwatch: OPWATCH_LOG_FORMAT: %v\n", err)
		return 2
	}
	if fs.NArg() == 0 {
		usage(e.stderr, cmds)
		return 2
	}
	name := fs.Arg(0)
	if name == "help" {
		switch rest := fs.Args()[1:]; {
		case len(rest) == 0:
			usage(e.stdout, cmds)
			return 0
		case len(rest) == 1 && (rest[0] == "--help" || rest[0] == "-h" || rest[0] == "help"):
			usage(e.stdout, cmds)
			return 0
		case len(rest) <= 2 && cmds[rest[0]].run != nil:
			// `opwatch help VERB [SUB]` is `opwatch VERB [SUB] --help`, on stdout.
			he := *e
			he.stderr = e.stdout
			return run(ctx, append(rest, "--help"), &he)
		default:
			fmt.Fprintf(e.stderr, "opwatch help: unknown command %q\n\n", strings.Join(rest, " "))
			usage(e.stderr, cmds)
			return 2
		}
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(e.stderr, "opwatch: unknown command %q\n\n", name)
		usage(e.stderr, cmds)
		return 2
	}
	if err := cmd.run(ctx, e, fs.Args()[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var fe flagError
		if errors.As(err, &fe) {
			fmt.Fprintf(e.stderr, "opwatch %s: %v\nRun 'opwatch %s --help' for usage.\n", fe.name, fe.error, fe.name)
			return 2
		}
		if errors.Is(err, errInterrupted) {
			fmt.Fprintf(e.stderr, "opwatch %s: interrupted\n", name)
			return 130 // as a shell reports SIGINT
		}
		verb := name
		if (name == "source" || name == "destinations" || name == "alerts") && len(fs.Args()) > 1 && !strings.HasPrefix(fs.Arg(1), "-") {
			verb += " " + fs.Arg(1) // the subcommand the error is about
		}
		fmt.Fprintf(e.stderr, "opwatch %s: %v\n", verb, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// errInterrupted ends a verb stopped by SIGINT or SIGTERM (exit code 130).
var errInterrupted = errors.New("interrupted")

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// flagError is a flag the flag package refused (unknown, or a bad value);
// name is the verb's, for the pointer to its help.
type flagError struct {
	error
	name string
}

func (fe flagError) Unwrap() error { return fe.error }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprint(w, `opwatch: a self-hosted security monitor for 1Password.

Usage: opwatch [global flags] COMMAND [arguments] [flags]

Commands:
`)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprint(w, `  help         print this, or a command's flags (opwatch help query)

Flags may come before or after a command's arguments: 'opwatch query "SQL"
--db other.db' reads other.db. After '--' everything is an argument.

Global flags (also accepted after the command):
  --db PATH          database file (env OPWATCH_DB, default opwatch.db)
  --key-file FILE    the key that seals tokens and destination secrets (env
                     OPWATCH_KEY_FILE; default beside a local database; or set
                     OPWATCH_SECRET_KEY)
  --log-level LEVEL  debug, info, warn or error (env OPWATCH_LOG_LEVEL, default info)
  --log-format FMT   text or json, for log shippers (env OPWATCH_LOG_FORMAT,
                     default text)

Run 'opwatch COMMAND --help' for a command's flags.
`)
}

// globalFlags registers --db, --key-file and --log-level on fs; every
// verb's flag set carries them too, so they work before or after the verb.
func (e *env) globalFlags(fs *flag.FlagSet) {
	if e.db == "" {
		e.db = e.getenv("OPWATCH_DB")
		e.dbSet = e.db != ""
		if e.db == "" {
			e.db = "opwatch.db"
		}
	}
	if e.logLevel == "" {
		e.logLevel = e.getenv("OPWATCH_LOG_LEVEL")
		if e.logLevel == "" {
			e.logLevel = "info"
		}
	}
	fs.Func("db", "database `file` (env OPWATCH_DB; default opwatch.db, opwatch-demo.db for demo)", func(s string) error {
		e.db, e.dbSet = s, true
		return nil
	})
	if e.keyFile == "" {
		e.keyFile = e.getenv("OPWATCH_KEY_FILE")
	}
	fs.StringVar(&e.keyFile, "key-file", e.keyFile, "`file` holding the key that seals tokens and destination secrets (env OPWATCH_KEY_FILE; default: beside a local database; or set OPWATCH_SECRET_KEY)")
	if e.logFormat == "" {
		e.logFormat = e.getenv("OPWATCH_LOG_FORMAT")
		if e.logFormat == "" {
			e.logFormat = "text"
		}
	}
	fs.Func("log-format", "log `format`: text, or json for log shippers (env OPWATCH_LOG_FORMAT; default text)", func(s string) error {
		if err := checkLogFormat(s); err != nil {
			return errors.New("want text or json")
		}
		e.logFormat = s
		return nil
	})
	fs.Func("log-level", "log `level`: debug, info, warn or error (env OPWATCH_LOG_LEVEL; default info)", func(s string) error {
		if _, err := parseLevel(s); err != nil {
			return errors.New("want debug, info, warn or error")
		}
		e.logLevel = s
		return nil
	})
}

// parseLevel reads a log level as slog does, refusing anything else with
// the names a user can give.
func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return level, nil
}

// flags returns a verb's flag set with the global flags and a usage text.
func (e *env) flags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usageOutput{Writer: e.stderr, help: e.stdout})
	e.globalFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: opwatch %s\n\n%s\n\nFlags may come before or after the arguments.\n\nFlags:\n",
			synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

func (e *env) logger() *slog.Logger {
	level, err := parseLevel(e.logLevel)
	if err != nil {
		level = slog.LevelInfo // unreachable: run refuses a bad level first
	}
	o := &slog.HandlerOptions{Level: level}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, o))
	}
	return slog.New(slog.NewTextHandler(e.stderr, o))
}

func checkLogFormat(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("log format %q: want text or json", s)
	}
	return nil
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := e.flags("version", "version", "Print opwatch's version, and the commit it was built from when known.")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	_, err := fmt.Fprintln(e.stdout, versionText(info, ok, Version))
	return err
}

// buildVersion is opwatch's version: the module's (go install
// module@v1.2.3, or a build in a tagged checkout), else the one set with
// -ldflags, else "(devel)".
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	return moduleVersion(info, ok, Version)
}

func moduleVersion(info *debug.BuildInfo, ok bool, ldflags string) string {
	switch {
	case ok && info.Main.Version != "" && info.Main.Version != "(devel)":
		return info.Main.Version
	case ldflags != "":
		return ldflags
	}
	return "(devel)"
}

// versionText is what `opwatch version` prints, e.g.
// "opwatch v0.3.0 (rev abc1234, 2026-12-01, modified)".
func versionText(info *debug.BuildInfo, ok bool, ldflags string) string {
	s := "opwatch " + moduleVersion(info, ok, ldflags)
	if !ok {
		return s
	}
	var rev, day string
	modified := false
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.time":
			day, _, _ = strings.Cut(kv.Value, "T")
		case "vcs.modified":
			modified = kv.Value == "true"
		}
	}
	if rev == "" {
		return s
	}
	parts := []string{"rev " + rev[:min(len(rev), 7)]}
	if day != "" {
		parts = append(parts, day)
	}
	if modified {
		parts = append(parts, "modified")
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// parseArgs parses fs's flags wherever they stand among args (before,
// between or after the positional arguments, as users type them) and
// returns the positional arguments in order. After "--" everything is
// positional. A refused flag comes back as a flagError, printed once by
// run; -h and --help print the usage and return flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package would print the error and then the whole usage,
	// pushing the error out of sight; run prints the error alone.
	show, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = show; fs.SetOutput(out) }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				// Asked for: to stdout, so it pages and redirects.
				if u, ok := out.(usageOutput); ok {
					fs.SetOutput(u.help)
				} else {
					fs.SetOutput(out)
				}
				show()
				return nil, err
			}
			return nil, flagError{err, fs.Name()}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseWant is parseArgs followed by wantArgs: the usual start of a verb.
func parseWant(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	return pos, wantArgs(fs, pos, min, max, what)
}

// wantArgs refuses positional arguments a verb does not use, so nothing a
// user typed is silently ignored.
func wantArgs(fs *flag.FlagSet, pos []string, min, max int, what string) error {
	switch {
	case len(pos) < min:
		fs.Usage()
		return usagef("missing %s", what)
	case len(pos) > max:
		return usagef("unexpected argument %q (flags start with --; quote values that contain spaces)", pos[max])
	}
	return nil
}

// globalValueFlags are the global flags that take a value.
var globalValueFlags = map[string]bool{"db": true, "key-file": true, "log-level": true, "log-format": true}

// subcommand splits a verb's arguments into its subcommand and the rest,
// so that global flags may come before the subcommand too (`source --db F
// list`): they are moved after it, where its flag set reads them. Given the
// verb's subcommands, the subcommand's own flags may come first as well
// (`alerts --status open list`): the first of verbs that only flags and
// their values precede is the subcommand.
func subcommand(args []string, verbs ...string) (string, []string) {
	for i, a := range args {
		if a == "--" {
			break
		}
		if slices.Contains(verbs, a) {
			return a, append(slices.Clone(args[:i]), args[i+1:]...)
		}
		// A word that is not a flag's value ends the search.
		if !strings.HasPrefix(a, "-") && (i == 0 || !strings.HasPrefix(args[i-1], "-") || strings.Contains(args[i-1], "=")) {
			break
		}
	}
	var lead []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			if a == "--" {
				i++
				if i == len(args) {
					return "", lead
				}
			}
			return args[i], append(lead, args[i+1:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !globalValueFlags[name] {
			return a, append(lead, args[i+1:]...) // -h, or a mistake the subcommand names
		}
		lead = append(lead, a)
		if !hasValue && i+1 < len(args) {
			i++
			lead = append(lead, args[i])
		}
	}
	return "", lead
}

// usageOutput is a verb's flag output: usage shown after a mistake goes to
// stderr (Writer), usage asked for with -h to help (stdout).
type usageOutput struct {
	io.Writer
	help io.Writer
}
