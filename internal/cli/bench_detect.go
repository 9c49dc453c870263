package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// runBenchDetect is `opwatch bench detect`: the detect stage (read,
// evaluate, commit) over N stored events with every built-in rule.
func runBenchDetect(ctx context.Context, e *env, args []string) error {
	fs := e.flags("bench detect", "bench detect [--events N] [--dir DIR] [--batch N] [--workers N]",
		"Fill a fresh database with N realistic events (the emulator in-process, through the\n"+
			"ingest path; a third of each log type), then run the detect stage over them with\n"+
			"every built-in rule, and print events/s and the wall time of detection alone.\n"+
			"The database is its own (in --dir): --db is not used.")
	n := fs.Int("events", 300000, "events in all (a third of each log type)")
	dir := fs.String("dir", "", "directory for the database (default a temporary one, removed after)")
	batch := fs.Int("batch", 1000, "events per detect batch (one commit each)")
	workers := fs.Int("workers", 0, "rules evaluated at once (default GOMAXPROCS)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the detect run to `file`")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *n < 3 {
		return usagef("--events %d: want at least 3", *n)
	}
	rules, err := detect.LoadBuiltin()
	if err != nil {
		return fmt.Errorf("load the built-in rules: %w", err)
	}
	enabled := 0
	for _, r := range rules.Rules() {
		if r.Enabled {
			enabled++
		}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "opwatch-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	be := *e
	be.db = filepath.Join(*dir, "bench.db")
	if _, err := os.Lstat(be.db); err == nil {
		return fmt.Errorf("%s exists: bench detect needs a fresh database; remove it or give another --dir", be.db)
	}
	be.keyFile = ""
	be.logLevel = "warn"
	a, err := be.openWrite(ctx, engine.ReadWrite, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()

	fmt.Fprintf(e.stdout, "bench detect: %d events (%d of each type), %d enabled built-in rules, GOMAXPROCS %d\n",
		3*(*n/3), *n/3, enabled, runtime.GOMAXPROCS(0))
	em, tok, err := benchEmulator(*n / 3)
	if err != nil {
		return err
	}
	defer em.Close()
	s := config.Source{Name: "bench", BaseURL: em.URL(), Lookback: config.Duration(48 * time.Hour)}
	if _, err := a.sources.Add(ctx, s, tok); err != nil {
		return err
	}
	fillStart := time.Now()
	in := ingest.New(ingest.Config{Store: a.store, Secrets: a.secrets, Logger: a.log, UserAgent: userAgent()})
	results, err := in.Pull(ctx, nil)
	if err != nil {
		return fmt.Errorf("fill the database: %w", err)
	}
	stored := 0
	for _, r := range results {
		stored += r.Inserted
	}
	fmt.Fprintf(e.stdout, "filled:     %d events in %s (ingest, not measured)\n", stored, time.Since(fillStart).Round(time.Millisecond))

	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	st := detect.NewStage(detect.StageConfig{Store: a.store, Rules: rules, Logger: a.log, Batch: *batch, Workers: *workers})
	var evaluated, alerts, matches, ruleErrors int
	cpu0 := processCPU()
	start := time.Now()
	for {
		res, err := st.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return err
		}
		if res.Events == 0 {
			break
		}
		evaluated += res.Events
		alerts += res.Alerts
		matches += res.Matches
		ruleErrors += res.RuleErrors
	}
	took := time.Since(start)
	cpu := processCPU() - cpu0
	fmt.Fprintf(e.stdout, "evaluated:  %d events\nalerts:     %d (%d matches, %d rule errors)\nwall:       %s\nevents/s:   %.0f\n",
		evaluated, alerts, matches, ruleErrors, took.Round(time.Millisecond), float64(evaluated)/took.Seconds())
	if cpu > 0 {
		// On a busy machine the wall time says little; the CPU time does.
		fmt.Fprintf(e.stdout, "cpu:        %s (%.0f events per CPU-second)\n", cpu.Round(time.Millisecond), float64(evaluated)/cpu.Seconds())
	}
	fmt.Fprintf(e.stdout, "peak RSS:   %s\n", peakRSS())
	if evaluated != stored {
		return fmt.Errorf("evaluated %d events, want the %d stored", evaluated, stored)
	}
	return nil
}

// processCPU is the CPU time this process has used (user and system); 0
// where the system does not tell it.
func processCPU() time.Duration { return procCPU("/proc/self/stat") }
