package ingest

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

func TestOwnerIDRoundTrips(t *testing.T) {
	for _, p := range []process{
		{Host: "web-1.example", PID: 57, BootID: "0f0c7d7e-1111-4b2a-9d0e-3c2e1a9f8b7c", PIDNS: "pid:[4026531836]", Start: "123456"},
		{Host: "laptop", PID: 4242}, // no identity: never judged stale
	} {
		got, ok := parseOwner(ownerID(p, "ab12cd34"))
		if !ok || got != p {
			t.Errorf("parseOwner(ownerID(%+v)) = %+v, %v", p, got, ok)
		}
	}
	for _, bad := range []string{"", "garbage", "host-x-y", "-1-x", "host-1-x@a/b", "host-0-x@a/b/c"} {
		if _, ok := parseOwner(bad); ok {
			t.Errorf("parseOwner(%q) accepted", bad)
		}
	}
}

func TestStaleOwnerDecision(t *testing.T) {
	self := process{Host: "node", PID: 100, BootID: "boot-1", PIDNS: "pid:[1]", Start: "5000"}
	other := func(f func(*process)) string {
		p := process{Host: "node", PID: 57, BootID: "boot-1", PIDNS: "pid:[1]", Start: "4000"}
		f(&p)
		return ownerID(p, "r")
	}
	gone := func(int) (string, bool, error) { return "", false, nil }
	alive := func(int) (string, bool, error) { return "4000", true, nil }  // the same process
	reused := func(int) (string, bool, error) { return "9999", true, nil } // another process now has the pid
	unknown := func(int) (string, bool, error) { return "", false, errors.New("permission denied") }
	same := func(*process) {}
	cases := []struct {
		name  string
		owner string
		self  process
		look  probe
		stale bool
	}{
		{"ended process on this machine and namespace", other(same), self, gone, true},
		{"pid reused by a later process", other(same), self, reused, true},
		{"owner still running", other(same), self, alive, false},
		{"lookup fails", other(same), self, unknown, false},
		// Two containers sharing a hostname (host networking) have their own
		// pid namespaces: pid 57 missing here says nothing about theirs.
		{"same host, other pid namespace", other(func(p *process) { p.PIDNS = "pid:[2]" }), self, gone, false},
		{"same host, other boot", other(func(p *process) { p.BootID = "boot-0" }), self, gone, false},
		{"other host", other(func(p *process) { p.Host = "node2" }), self, gone, false},
		{"owner without identity (old or non-Linux)", ownerID(process{Host: "node", PID: 57}, "r"), self, gone, false},
		{"self without identity (non-Linux)", other(same), process{Host: "node", PID: 100}, gone, false},
		{"another Ingester of this process", ownerID(self, "other"), self, gone, false},
		{"earlier process with this pid", ownerID(process{Host: "node", PID: 100, BootID: "boot-1", PIDNS: "pid:[1]", Start: "10"}, "r"), self,
			func(int) (string, bool, error) { return "5000", true, nil }, true},
		{"garbage", "garbage", self, gone, false},
	}
	for _, c := range cases {
		if got := staleOwner(c.owner, c.self, c.look); got != c.stale {
			t.Errorf("%s: staleOwner(%q) = %v, want %v", c.name, c.owner, got, c.stale)
		}
	}
}

func TestSelfProcessIsLiveHere(t *testing.T) {
	self := selfProcess()
	if self.PID != os.Getpid() {
		t.Fatalf("pid %d", self.PID)
	}
	if runtime.GOOS != "linux" {
		if self.complete() {
			t.Fatal("identity complete where liveness cannot be checked")
		}
		return
	}
	if !self.complete() {
		t.Skipf("procfs does not tell this process's identity (%+v): leases wait for expiry", self)
	}
	// The real lookup agrees that this process is alive and the same one.
	if staleOwner(ownerID(self, "x"), self, lookupProcess) {
		t.Error("this process's owner id is judged stale")
	}
	start, ok, err := lookupProcess(self.PID)
	if err != nil || !ok || start != self.Start {
		t.Errorf("lookupProcess(self) = %q, %v, %v; want %q", start, ok, err, self.Start)
	}
	// A pid beyond the kernel's limit does not exist.
	if _, ok, err := lookupProcess(1 << 30); ok || err != nil {
		t.Errorf("lookupProcess(1<<30) = %v, %v", ok, err)
	}
}

func TestStatStartTime(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "57 (we ird) (x) S 1 57 57 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615"
	if got, ok := statStartTime(line); !ok || got != "987654" {
		t.Errorf("statStartTime = %q, %v; want 987654", got, ok)
	}
	for _, bad := range []string{"", "57 (x) S 1", "57 (x" + strings.Repeat(" 1", 30)} {
		if _, ok := statStartTime(bad); ok {
			t.Errorf("statStartTime(%q) accepted", bad)
		}
	}
}

// failingStore is a store.Ingest whose Streams fails.
type failingStore struct {
	store.Ingest
	err error
}

func (f failingStore) Streams(context.Context, string) ([]store.Stream, error) { return nil, f.err }

func TestRunFailsWhenTheStoreCannotListStreams(t *testing.T) {
	cause := errors.New("no such table: streams")
	in := New(Config{Store: failingStore{err: cause}})
	err := in.Run(context.Background())
	if !errors.Is(err, cause) {
		t.Fatalf("Run = %v, want the store's error", err)
	}
	// A cancelled start is a shutdown, not a failure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Run(ctx); err != nil {
		t.Fatalf("Run with a cancelled context = %v", err)
	}
}

// FuzzParseOwner: owner ids come from the database, written by any replica
// (or anyone who can write it); reading one never panics, and what parses
// is written back the same way.
func FuzzParseOwner(f *testing.F) {
	f.Add("node-57-ab12cd34@0f0c7d7e-1111-4b2a-9d0e-3c2e1a9f8b7c/pid:[4026531836]/123456")
	f.Add("laptop-4242-ab12cd34")
	f.Add("a-b-1-x@//")
	f.Add("@@@")
	f.Fuzz(func(t *testing.T, owner string) {
		p, ok := parseOwner(owner)
		if !ok {
			return
		}
		if p.PID <= 0 {
			t.Fatalf("parsed pid %d from %q", p.PID, owner)
		}
		again, ok := parseOwner(ownerID(p, "s"))
		if p.complete() && (!ok || again != p) {
			t.Fatalf("%q parsed as %+v, written back and parsed as %+v, %v", owner, p, again, ok)
		}
	})
}
