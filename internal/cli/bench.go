package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store/engine"
)

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "detect" {
		return runBenchDetect(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "replicas" {
		return runBenchReplicas(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "search" {
		return runBenchSearch(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "lake" {
		return runBenchLake(ctx, e, args[1:])
	}
	fs := e.flags("bench", "bench ingest [--events N] [--mode full|client] [--dir DIR]",
		"Start the emulator in-process on loopback (rate limits off), pull N events of each type\n"+
			"through the whole path (HTTP, decode, validate, normalize, store) into a fresh database,\n"+
			"and print events/s, wall time and peak RSS (of this process: emulator included).\n"+
			"--mode client only pages and decodes into Go structs: the baseline to compare with.\n"+
			"The database is its own (in --dir), or with --db postgres://… an empty PostgreSQL\n"+
			"database (the engines compared in one run).")
	n := fs.Int("events", 100000, "events of each type")
	mode := fs.String("mode", "full", "full (everything opwatch does) or client (page and decode only)")
	dir := fs.String("dir", "", "directory for the database (default a temporary one, removed after)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "ingest" {
		fs.Usage()
		return usagef("name what to measure: opwatch bench ingest")
	}
	if err := wantArgs(fs, pos, 1, 1, ""); err != nil {
		return err
	}
	if *n < 1 {
		return usagef("--events %d: want at least 1", *n)
	}
	if *mode != "full" && *mode != "client" {
		return usagef("unknown --mode %q: want full or client", *mode)
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	em, tok, err := benchEmulator(*n)
	if err != nil {
		return err
	}
	defer em.Close()
	fmt.Fprintf(e.stdout, "bench ingest: %d events of each type (%d in all), mode %s, GOMAXPROCS %d\n",
		*n, 3**n, *mode, runtime.GOMAXPROCS(0))
	var total int
	var took time.Duration
	switch *mode {
	case "client":
		total, took, err = benchClient(ctx, em.URL(), tok)
	case "full":
		total, took, err = benchFull(ctx, e, *dir, em.URL(), tok)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "events:     %d\nwall:       %s\nevents/s:   %.0f\npeak RSS:   %s\n",
		total, took.Round(time.Millisecond), float64(total)/took.Seconds(), peakRSS())
	if total != 3**n {
		return fmt.Errorf("stored %d events, want %d", total, 3**n)
	}
	return nil
}

func benchFull(ctx context.Context, e *env, dir, baseURL, tok string) (int, time.Duration, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "opwatch-bench-")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	be := *e
	if strings.HasPrefix(e.db, "postgres://") || strings.HasPrefix(e.db, "postgresql://") {
		be.keyFile = filepath.Join(dir, "bench.key")
	} else {
		be.db = filepath.Join(dir, "bench.db")
		// The bench measures a fresh database and serves every source in it:
		// never one that exists (it could hold real sources and their tokens).
		if _, err := os.Lstat(be.db); err == nil {
			return 0, 0, fmt.Errorf("%s exists: bench ingest needs a fresh database; remove it or give another --dir", be.db)
		}
		be.keyFile = "" // beside the bench database, and removed with it
	}
	be.logLevel = "warn"
	a, err := be.openWrite(ctx, engine.Migrate, keyIfEmpty)
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	if srcs, err := a.store.ListSources(ctx); err != nil || len(srcs) > 0 {
		return 0, 0, fmt.Errorf("%s holds sources: bench ingest needs an empty database (%v)", dbName(be.db), err)
	}
	s := config.Source{Name: "bench", BaseURL: baseURL, Lookback: config.Duration(48 * time.Hour)}
	if _, err := a.sources.Add(ctx, s, tok); err != nil {
		return 0, 0, err
	}
	in := ingest.New(ingest.Config{Store: a.store, Secrets: a.secrets, Logger: a.log, UserAgent: userAgent()})
	start := time.Now()
	results, err := in.Pull(ctx, nil)
	took := time.Since(start)
	total := 0
	for _, r := range results {
		total += r.Inserted
	}
	return total, took, err
}

// benchClient is the baseline: page through the three streams and decode
// each event into a Go struct, storing nothing.
func benchClient(ctx context.Context, baseURL, tok string) (int, time.Duration, error) {
	c, err := onepassword.New(onepassword.Options{Token: tok, BaseURL: baseURL})
	if err != nil {
		return 0, 0, err
	}
	type user struct{ UUID, Name, Email string }
	type event struct {
		UUID       string    `json:"uuid"`
		Timestamp  time.Time `json:"timestamp"`
		Category   string    `json:"category"`
		Type       string    `json:"type"`
		Action     string    `json:"action"`
		TargetUser *user     `json:"target_user"`
		User       *user     `json:"user"`
		Actor      *user     `json:"actor_details"`
		Client     *struct {
			AppName   string `json:"app_name"`
			IPAddress string `json:"ip_address"`
		} `json:"client"`
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 3)
	start := time.Now()
	for i, f := range onepassword.AllFeatures() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := onepassword.Request{Limit: 1000, StartTime: time.Now().Add(-48 * time.Hour)}
			errs[i] = c.Drain(ctx, f, req, func(p onepassword.Page) error {
				for _, raw := range p.Items {
					var ev event
					if err := json.Unmarshal(raw, &ev); err != nil {
						return err
					}
				}
				total.Add(int64(len(p.Items)))
				return nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	return int(total.Load()), time.Since(start), nil
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				return strings.TrimSpace(rest)
			}
			return fmt.Sprintf("%.1f MB", float64(kb)/1024)
		}
	}
	return "unknown"
}

// startCPUProfile writes a CPU profile to path ("" for none) until the
// returned function is called.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// benchEmulator starts an in-process emulator with n events of each type
// over a day, rate limits off (the figure is opwatch's, not 1Password's
// 600 requests a minute), and a token for it.
func benchEmulator(n int) (*emulator.Emulator, string, error) {
	em, err := emulator.Start(emulator.Options{Seed: 1, Events: n, RateLimitPerMinute: -1, RateLimitPerHour: -1,
		Span: 24 * time.Hour}, "127.0.0.1:0", false)
	if err != nil {
		return nil, "", err
	}
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		em.Close()
		return nil, "", err
	}
	return em, tok, nil
}
