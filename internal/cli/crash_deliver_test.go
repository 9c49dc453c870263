package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// blockingReceiver is a webhook receiver that, while armed, kills the
// serve process on the first request it gets (before answering it), so
// the kill lands between send and mark whatever the machine's speed.
type blockingReceiver struct {
	mu      sync.Mutex
	cmd     *exec.Cmd // killed at the armed request
	armed   bool
	killing bool          // killed, and not yet known dead: requests are the killed process's
	started chan struct{} // closed once cmd has started (cmd.Process is set)
	killed  chan struct{}
	got     map[string]int // Idempotency-Key → requests
	inKill  []string       // keys received by the killed process
}

func (b *blockingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	// Read the body whole: the server then notices the connection closing
	// (the process killed) and ends r's context.
	io.Copy(io.Discard, r.Body)
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	<-started // cmd.Process is known before any of its requests counts
	b.mu.Lock()
	b.got[key]++
	if b.armed || b.killing {
		b.inKill = append(b.inKill, key)
		if b.armed {
			b.armed, b.killing = false, true
			b.cmd.Process.Kill() // SIGKILL: the sender never learns the answer
			close(b.killed)
		}
		b.mu.Unlock()
		// Never answered: the connection dies with the process.
		<-r.Context().Done()
		return
	}
	b.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// TestServeKill9BetweenSendAndMark: serve is killed with SIGKILL while a
// notification is at the receiver, unanswered; a new serve sends it again
// with the same Idempotency-Key, and every notification arrives. It also
// runs destinations from a configuration file (a url_env secret) and the
// delivery_lease setting.
func TestServeKill9BetweenSendAndMark(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	rcv := &blockingReceiver{got: map[string]int{}, killed: make(chan struct{}), started: make(chan struct{})}
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "kill.db")
	cfg := filepath.Join(dir, "opwatch.yaml")
	if err := os.WriteFile(cfg, []byte(`
destinations:
  - name: hook
    type: webhook
    url_env: HOOK_URL
alerts:
  delivery_lease: 5s
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"OPWATCH_DB=" + db, "HOOK_URL=" + ts.URL + "/hook", "OPWATCH_LOG_LEVEL=warn"}

	// Create the database and the destination (from the file) with a serve
	// that stops at once, then queue five alerts for it.
	first := opwatchCmd(t, env, "serve", "--config", cfg, "--listen", "off")
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := waitForDestination(t, db, "hook", first, &out1)
	first.Process.Signal(syscall.SIGTERM)
	if err := first.Wait(); err != nil {
		t.Fatalf("serve (setup): %v\n%s", err, out1.String())
	}
	dests, err := st.Destinations(ctx)
	if err != nil || len(dests) != 1 {
		t.Fatalf("destinations: %v %v", dests, err)
	}
	var want []string
	for i := range 5 {
		a := store.Alert{ID: store.NewID(), Type: store.AlertSystemError, Dedup: fmt.Sprintf("test/kill/%d", i),
			Title: fmt.Sprintf("alert %d", i), Severity: "HIGH", Status: store.AlertOpen}
		n := store.Notification{ID: store.NewID(), AlertID: a.ID, DestinationID: dests[0].ID, Kind: store.NotifyTrigger}
		if err := st.CreateSystemAlert(ctx, a, []store.Notification{n}); err != nil {
			t.Fatal(err)
		}
		want = append(want, n.ID)
	}
	st.Close()

	// Serve, killed at the first request the receiver gets.
	killed := opwatchCmd(t, env, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	var out2 bytes.Buffer
	killed.Stdout, killed.Stderr = &out2, &out2
	rcv.mu.Lock()
	rcv.cmd, rcv.armed = killed, true
	rcv.mu.Unlock()
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	close(rcv.started)
	err = killed.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Exited() {
		t.Fatalf("serve was to be killed at its first send, but ended by itself: %v\n%s", err, out2.String())
	}
	<-rcv.killed
	rcv.mu.Lock()
	rcv.killing = false // the killed process is gone: what comes now is the next one's
	inFlight := append([]string(nil), rcv.inKill...)
	rcv.mu.Unlock()

	// A new serve sends everything, the one in flight again after its lease.
	again := opwatchCmd(t, env, "serve", "--config", cfg, "--listen", "off")
	var out3 bytes.Buffer
	again.Stdout, again.Stderr = &out3, &out3
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	st = openAlerts(t, db)
	defer st.Close()
	waitFor(t, again, &out3, "every notification sent", func() bool {
		s, err := st.DestinationStats(ctx, dests[0].ID)
		return err == nil && s.Sent == len(want)
	})
	again.Process.Signal(syscall.SIGTERM)
	if err := again.Wait(); err != nil {
		t.Fatalf("serve after the kill: %v\n%s", err, out3.String())
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var got []string
	for k := range rcv.got {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the receiver got the keys %v, want exactly the notifications' ids %v", got, want)
	}
	if len(inFlight) == 0 {
		t.Fatal("nothing was in flight at the kill")
	}
	for k, n := range rcv.got {
		inKill := false
		for _, f := range inFlight {
			inKill = inKill || f == k
		}
		switch {
		case inKill && n != 2:
			t.Errorf("notification %s was at the receiver when serve was killed: received %d times, want 2 (again after the restart, same key)", k, n)
		case !inKill && n != 1:
			t.Errorf("notification %s: received %d times, want once", k, n)
		}
	}
	for _, id := range inFlight {
		ns, err := st.ListNotifications(ctx, store.NotificationFilter{DestinationID: dests[0].ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.ID == id && (n.Status != store.NotificationSent || n.Attempts != 2) {
				t.Errorf("the notification in flight: %s after %d attempts, want sent after 2", n.Status, n.Attempts)
			}
		}
	}
}

// openAlerts opens db for the test's own reads and writes.
func openAlerts(t *testing.T, db string) testStore {
	t.Helper()
	st, err := engine.Open(context.Background(), db, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	return st.(testStore)
}

// waitForDestination waits until serve (cmd) has created the database and
// the destination name.
func waitForDestination(t *testing.T, db, name string, cmd *exec.Cmd, out *bytes.Buffer) testStore {
	t.Helper()
	var st testStore
	waitFor(t, cmd, out, "the destination from the configuration", func() bool {
		if st == nil {
			s, err := engine.Open(context.Background(), db, engine.Options{Mode: engine.ReadWrite})
			if err != nil {
				return false
			}
			st = s.(testStore)
		}
		_, err := st.DestinationByName(context.Background(), name)
		return err == nil
	})
	return st
}

// waitFor polls cond until it holds. The deadline only keeps a broken
// build from hanging the suite; nothing is asserted about time.
func waitFor(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("gave up waiting for %s; serve said:\n%s", what, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testStore is the store as the test reads and writes it.
type testStore interface {
	store.Store
	Close() error
}
