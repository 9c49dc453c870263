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
	"sort"
	"strings"
	"syscall"
)

// Version is set at build time with -ldflags "-X github.com/opwatch/opwatch/internal/cli.Version=...".
var Version = "dev"

// env is the process environment, passed explicitly so tests can replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	db             string // --db
	dbSet          bool   // --db or OPWATCH_DB was given
	keyFile        string // --key-file or OPWATCH_KEY_FILE; "" = beside a local database
	logLevel       string // --log-level
}

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve": {"run ingestion until stopped (SIGINT/SIGTERM)", runServe},
		"demo":  {"start the emulator with live traffic, a demo source, and serve", runDemo},
		"emulator": {"serve a local 1Password Events API emulator", func(ctx context.Context, e *env, args []string) error {
			return runEmulator(ctx, args, e.stdout, e.stderr)
		}},
		"source":   {"add, list, show, test, update, reset or remove 1Password sources", runSource},
		"pull":     {"drain every stream once until caught up, then exit", runPull},
		"backfill": {"re-read a past window of a source alongside its live cursor", runBackfill},
		"query":    {"run a read-only SQL query over the event lake", runQuery},
		"bench":    {"measure opwatch (bench ingest --events N)", runBench},
		"migrate":  {"create or upgrade the database schema, then exit", runMigrate},
		"version":  {"print the version", runVersion},
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
	fs.SetOutput(e.stderr)
	e.globalFlags(fs)
	fs.Usage = func() { usage(e.stderr, cmds) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		usage(e.stderr, cmds)
		return 2
	}
	name := fs.Arg(0)
	if name == "help" {
		usage(e.stdout, cmds)
		return 0
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
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.stderr, "opwatch %s: %v\n", name, err)
			return 2
		}
		fmt.Fprintf(e.stderr, "opwatch %s: %v\n", name, err)
		return 1
	}
	return 0
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprint(w, `opwatch: a self-hosted security monitor for 1Password.

Usage: opwatch [--db PATH] COMMAND [flags]

Commands:
`)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprint(w, `
Global flags (also accepted after the command):
  --db PATH          database file (env OPWATCH_DB, default opwatch.db)
  --log-level LEVEL  debug, info, warn or error (env OPWATCH_LOG_LEVEL, default info)

Run 'opwatch COMMAND --help' for a command's flags.
`)
}

// globalFlags registers --db and --log-level on fs; every verb's flag set
// carries them too, so they work before or after the verb.
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
	fs.StringVar(&e.keyFile, "key-file", e.keyFile, "`file` holding the key that seals tokens (env OPWATCH_KEY_FILE; default: beside a local database; or set OPWATCH_SECRET_KEY)")
	fs.StringVar(&e.logLevel, "log-level", e.logLevel, "log `level`: debug, info, warn, error (env OPWATCH_LOG_LEVEL)")
}

// flags returns a verb's flag set with the global flags and a usage text.
func (e *env) flags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	e.globalFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: opwatch %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

func (e *env) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := e.flags("version", "version", "Print opwatch's version.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "opwatch", Version)
	return nil
}

// parseArgs parses fs's flags wherever they stand among args (before,
// between or after the positional arguments, as users type them) and
// returns the positional arguments in order. After "--" everything is
// positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
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
