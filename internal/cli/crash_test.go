package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
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

// killer serves the emulator and kills the running `opwatch pull` when the
// pull reaches a set request: so the kills land at points of the pull's
// progress, whatever the machine's speed, and their number is fixed.
type killer struct {
	h http.Handler

	mu      sync.Mutex
	cmd     *exec.Cmd
	started chan struct{} // closed once cmd is set for the current run
	pages   int           // event page requests in the current run
	at      int           // kill when pages reaches at; 0 = never
	after   bool          // kill after the page is sent (the pull is committing it), else before
	killed  bool
}

func (k *killer) arm(cmd *exec.Cmd, at int, after bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cmd, k.pages, k.at, k.after, k.killed = cmd, 0, at, after, false
	k.started = make(chan struct{})
}

func (k *killer) ready() {
	k.mu.Lock()
	close(k.started)
	k.mu.Unlock()
}

func (k *killer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		k.h.ServeHTTP(w, r)
		return
	}
	k.mu.Lock()
	started := k.started
	k.mu.Unlock()
	<-started // the process is known before any of its requests counts
	k.mu.Lock()
	k.pages++
	kill := k.at > 0 && k.pages == k.at && !k.killed
	after := k.after
	if kill {
		k.killed = true
	}
	cmd := k.cmd
	k.mu.Unlock()
	if kill && !after {
		cmd.Process.Kill() // mid-request: the page is never received
		return
	}
	k.h.ServeHTTP(w, r)
	if kill {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		cmd.Process.Kill() // the page is received: the pull is storing it
	}
}

// TestPullSurvivesKill9 kills `opwatch pull` with SIGKILL at fixed points of
// its progress (before a page is received, or while one is being stored),
// restarts it, and checks the final store holds exactly the emulator's
// events: no loss, no duplicate.
func TestPullSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test runs at full size only")
	}
	n := 30000 // 30 pages of each log type
	em, err := emulator.New(emulator.Options{Seed: 42, Events: n, Span: 24 * time.Hour,
		RateLimitPerMinute: -1, RateLimitPerHour: -1})
	if err != nil {
		t.Fatal(err)
	}
	k := &killer{h: em.Handler(), started: make(chan struct{})}
	close(k.started) // source add's requests pass
	ts := httptest.NewServer(k)
	defer ts.Close()
	em.SetHost(ts.Listener.Addr().String())
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "crash.db")
	env := []string{"OPWATCH_DB=" + db, "CRASH_TOKEN=" + tok, "OPWATCH_LOG_LEVEL=error"}
	if out, err := opwatchCmd(t, env, "source", "add", "crash", "--token-env", "CRASH_TOKEN",
		"--base-url", ts.URL, "--lookback", "48h").CombinedOutput(); err != nil {
		t.Fatalf("source add: %v\n%s", err, out)
	}

	// The n-th page request of a run, and whether the kill comes after the
	// page is sent. Three streams page at once, so these land in all of them.
	kills := []struct {
		at    int
		after bool
	}{{3, false}, {5, true}, {11, true}, {8, false}, {17, true}, {2, true}, {13, false}, {21, true}}
	for i, kp := range kills {
		cmd := opwatchCmd(t, env, "pull")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		k.arm(cmd, kp.at, kp.after)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		k.ready()
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Exited() {
			t.Fatalf("pull %d was to be killed at page request %d, but ended by itself: %v\n%s", i+1, kp.at, err, out.String())
		}
	}
	k.arm(nil, 0, false)
	k.ready()
	// The kills interrupted the pulls part way: some of the events are in,
	// not all (else they proved nothing about resuming).
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var stored int
	if err := raw.QueryRow("SELECT count(*) FROM events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == 0 || stored >= 3*n {
		t.Fatalf("%d of %d events stored after the kills; want the pulls interrupted part way", stored, 3*n)
	}
	// One more pull after the crashes must find nothing missing.
	if out, err := opwatchCmd(t, env, "pull").CombinedOutput(); err != nil {
		t.Fatalf("pull after the crashes: %v\n%s", err, out)
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
			func(_ []string, v []any) error {
				if v != nil { // nil: a result without rows
					got = append(got, v[0].(string))
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != n {
			t.Fatalf("%s: emulator has %d events, want %d", lt.Name, len(want), n)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: store differs from emulator after %d kills (%d vs %d)", lt.Name, len(kills), len(want), len(got))
		}
	}
	// The store's driver is registered as "sqlite"; integrity_check is not
	// something the read-only query verb allows.
	var integrity string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	if integrity != "ok" {
		t.Errorf("integrity_check: %s", integrity)
	}
}
