package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// runBenchReplicas measures what replicas cost at steady state: N sources
// of the emulator's accounts, polled every minute by R serve processes,
// and the CPU those use over a window once every stream has caught up.
func runBenchReplicas(ctx context.Context, e *env, args []string) error {
	fs := e.flags("bench replicas", "bench replicas [--sources 1000] [--replicas 2] [--window 3m] [--db DSN] [--dir DIR]",
		"Start the emulator in-process with one account per source (a few events each, and\n"+
			"live traffic of one event per minute per type), add --sources sources polled every\n"+
			"minute, start --replicas `opwatch serve` processes on the database, wait until every\n"+
			"stream has polled, then measure the CPU the replicas use over --window and whether\n"+
			"every stream stayed current (polled within its interval and a half). --db takes a\n"+
			"postgres:// DSN (an empty database); the default is a SQLite file in --dir.")
	n := fs.Int("sources", 1000, "sources (1Password accounts; the emulator serves at most 1000)")
	reps := fs.Int("replicas", 2, "serve processes")
	window := fs.Duration("window", 3*time.Minute, "how long to measure once caught up")
	dir := fs.String("dir", "", "directory for the database and key (default a temporary one, removed after)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *n < 1 || *n > 1000 || *reps < 1 || *reps > 16 || *window < time.Minute {
		return usagef("want 1..1000 --sources, 1..16 --replicas and a --window of at least 1m")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "opwatch-bench-replicas-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if !strings.HasPrefix(e.db, "postgres") {
		e.db = filepath.Join(*dir, "replicas.db")
	}
	e.keyFile = filepath.Join(*dir, "replicas.key")
	em, err := emulator.Start(emulator.Options{Seed: 1, Events: 5, Span: time.Hour, Rate: 1, Logger: nil}, "127.0.0.1:0", false)
	if err != nil {
		return err
	}
	defer em.Close()
	a, err := e.openWrite(ctx, engine.Migrate, keyIfEmpty)
	if err != nil {
		return err
	}
	svc := a.sourceService(source.CheckOffline)
	start := time.Now()
	for i := range *n {
		acct := ""
		if i > 0 {
			acct = fmt.Sprintf("bench-%04d", i)
		}
		tok, err := em.IssueToken(emulator.TokenOptions{Account: acct})
		if err != nil {
			a.Close()
			return err
		}
		s := config.Source{Name: fmt.Sprintf("acct-%04d", i), BaseURL: em.URL(), Interval: config.Duration(time.Minute),
			Lookback: config.Duration(time.Hour)}
		if _, err := svc.Add(ctx, s, tok); err != nil {
			a.Close()
			return fmt.Errorf("add source %s: %w", s.Name, err)
		}
	}
	a.Close()
	fmt.Fprintf(e.stdout, "bench replicas: %d sources (%d streams) at a 1-minute interval, %d replicas, database %s\n",
		*n, 3**n, *reps, dbName(e.db))
	fmt.Fprintf(e.stdout, "sources added in %s\n", time.Since(start).Round(time.Millisecond))

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	for i := range *reps {
		cmd := exec.CommandContext(ctx, exe, "serve", "--db", e.db, "--key-file", e.keyFile, "--listen", "off", "--log-level", "error")
		cmd.Env = append(os.Environ(), benchChildEnv()...)
		cmd.Stderr = e.stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start replica %d: %w", i, err)
		}
		procs = append(procs, cmd)
	}
	// Not read-only: a reader of a file without a WAL reads it as immutable.
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.Existing})
	if err != nil {
		return err
	}
	defer st.Close()
	// Caught up: every stream has polled successfully once.
	caught := time.Now()
	for {
		sts, err := st.Streams(ctx, "")
		if err != nil {
			return err
		}
		polled := 0
		for _, s := range sts {
			if !s.LastSuccessAt.IsZero() {
				polled++
			}
		}
		if polled == len(sts) {
			break
		}
		if time.Since(caught) > 10*time.Minute {
			return fmt.Errorf("after 10 minutes %d of %d streams have polled", polled, len(sts))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	fmt.Fprintf(e.stdout, "caught up:  every stream polled in %s\n", time.Since(caught).Round(time.Second))
	before := make([]time.Duration, len(procs))
	for i, p := range procs {
		before[i] = childCPU(p.Process.Pid)
	}
	t0 := time.Now()
	stale, worst := 0, time.Duration(0)
	for time.Since(t0) < *window {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
		sts, err := st.Streams(ctx, "")
		if err != nil {
			return err
		}
		now := time.Now()
		for _, s := range sts {
			age := now.Sub(s.LastSuccessAt)
			worst = max(worst, age)
			if age > 90*time.Second {
				stale++
			}
		}
	}
	took := time.Since(t0)
	var total time.Duration
	for i, p := range procs {
		used := childCPU(p.Process.Pid) - before[i]
		total += used
		fmt.Fprintf(e.stdout, "replica %d:  %s CPU over %s (%.1f%% of a core)\n", i+1, used.Round(time.Millisecond),
			took.Round(time.Second), 100*used.Seconds()/took.Seconds())
	}
	fmt.Fprintf(e.stdout, "all:        %s CPU (%.1f%% of a core; %.2f ms per stream poll)\n", total.Round(time.Millisecond),
		100*total.Seconds()/took.Seconds(), float64(total.Milliseconds())/(took.Minutes()*float64(3**n)))
	fmt.Fprintf(e.stdout, "freshness:  oldest success %s ago at worst; %d stream checks older than 90s\n", worst.Round(time.Second), stale)
	if stale > 0 {
		return errors.New("some streams fell behind their interval")
	}
	return nil
}

// benchChildEnv drops what would redirect a child away from the bench.
func benchChildEnv() []string { return []string{"OPWATCH_LOG_FORMAT=text"} }

// childCPU is the user and system CPU time of process pid so far.
func childCPU(pid int) time.Duration { return procCPU("/proc/" + strconv.Itoa(pid) + "/stat") }

// procCPU reads user and system CPU time from a /proc/PID/stat file; 0
// where there is none.
func procCPU(stat string) time.Duration {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
