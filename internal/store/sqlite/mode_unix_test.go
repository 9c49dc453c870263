//go:build unix

package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

// TestNewDatabaseIsPrivate: the lake holds members' e-mails and addresses,
// so a new database and its -wal and -shm are 0600 whatever the umask; an
// existing database keeps the mode its admin gave it, and so do its -wal
// and -shm. (Not parallel: the umask is the process's.)
func TestNewDatabaseIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	check := func(path string, want os.FileMode) {
		t.Helper()
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// A write makes sure the -wal and -shm exist.
		if err := s.CreateSource(ctx, &store.Source{Name: "acme"}, nil); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s is %v, want %v", filepath.Base(path+suffix), got, want)
			}
		}
	}
	dir := t.TempDir()
	check(filepath.Join(dir, "new.db"), 0o600)

	group := filepath.Join(dir, "group.db")
	if err := os.WriteFile(group, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	check(group, 0o640)
}
