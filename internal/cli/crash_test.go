package cli

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// TestMain lets the test binary act as the opwatch command, so tests can run
// it as a child process (and kill it) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("OPWATCH_TEST_AS_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// opwatchCmd returns a command running opwatch with args in the test binary.
func opwatchCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "OPWATCH_TEST_AS_MAIN=1"), env...)
	return cmd
}

// TestPullSurvivesKill9 kills `opwatch pull` with SIGKILL at random points
// of a large pull, restarts it, and checks the final store holds exactly the
// emulator's events: no loss, no duplicate.
func TestPullSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test runs at full size only")
	}
	n := 100000
	em, err := emulator.Start(emulator.Options{Seed: 42, Events: n, Span: 24 * time.Hour,
		RateLimitPerMinute: -1, RateLimitPerHour: -1}, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "crash.db")
	env := []string{"OPWATCH_DB=" + db, "CRASH_TOKEN=" + tok, "OPWATCH_LOG_LEVEL=error"}
	if out, err := opwatchCmd(t, env, "source", "add", "--name", "crash", "--token-env", "CRASH_TOKEN",
		"--base-url", em.URL(), "--lookback", "48h").CombinedOutput(); err != nil {
		t.Fatalf("source add: %v\n%s", err, out)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for attempt := 0; ; attempt++ {
		cmd := opwatchCmd(t, env, "pull")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if attempt >= 10 {
			if err := <-done; err != nil {
				t.Fatalf("final pull: %v\n%s", err, out.String())
			}
			break
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("pull failed on its own: %v\n%s", err, out.String())
			}
		case <-time.After(time.Duration(30+rng.IntN(370)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			continue
		}
		break
	}
	if kills < 5 {
		t.Fatalf("only %d pulls were killed mid-way: the test proved too little (pulls finished too fast)", kills)
	}
	t.Logf("killed %d pulls", kills)
	// One more pull after the crashes must find nothing missing.
	if out, err := opwatchCmd(t, env, "pull").CombinedOutput(); err != nil {
		t.Fatalf("pull after crashes: %v\n%s", err, out)
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, lt := range logtype.All() {
		var want, got []string
		em.Each("", lt.Feature, 2, func(uuid string, _ []byte) bool { want = append(want, uuid); return true })
		sort.Strings(want)
		err := st.Query(ctx, fmt.Sprintf("SELECT uuid FROM events WHERE log_type = '%s' ORDER BY uuid", lt.Name),
			func(_ []string, v []any) error { got = append(got, v[0].(string)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != n {
			t.Fatalf("%s: emulator has %d events, want %d", lt.Name, len(want), n)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: store differs from emulator after %d kills (%d vs %d)", lt.Name, kills, len(want), len(got))
		}
	}
	// The store's driver is registered as "sqlite"; integrity_check is not
	// something the read-only query verb allows.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var integrity string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	if integrity != "ok" {
		t.Errorf("integrity_check: %s", integrity)
	}
}
