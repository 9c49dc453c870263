//go:build unix

package secret

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKey(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(testKey(1))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// nobody is the uid a planted file is given; chown needs root.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
}

// D4: a 0600 key that another user planted is not used.
func TestLoadRefusesKeyOwnedByAnotherUser(t *testing.T) {
	needRoot(t)
	path := filepath.Join(keyDir(t), "opwatch.key")
	writeKey(t, path)
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{false, true} {
		_, err := Load(envOf(nil), path, create)
		if !errors.Is(err, ErrUnsafeKeyFile) || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Fatalf("err = %v, want a refusal naming the owner", err)
		}
	}
}

func TestLoadRefusesDirectoryOfAnotherUser(t *testing.T) {
	needRoot(t)
	dir := keyDir(t)
	path := filepath.Join(dir, "opwatch.key")
	writeKey(t, path)
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err := Load(envOf(nil), path, false)
	if !errors.Is(err, ErrUnsafeKeyFile) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want a refusal naming the directory", err)
	}
	// Nor is a new key made there.
	os.Remove(path)
	if _, err := Load(envOf(nil), path, true); !errors.Is(err, ErrUnsafeKeyFile) {
		t.Fatalf("create in another user's directory: err = %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key was created in another user's directory")
	}
}

func TestLoadRefusesSymlink(t *testing.T) {
	dir := keyDir(t)
	real := filepath.Join(dir, "real.key")
	writeKey(t, real)
	link := filepath.Join(dir, "opwatch.key")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	_, err := Load(envOf(nil), link, false)
	if !errors.Is(err, ErrUnsafeKeyFile) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("err = %v, want a refusal of the symlink", err)
	}
	// A dangling link is not followed to create a key where it points.
	dangling := filepath.Join(dir, "dangling.key")
	target := filepath.Join(dir, "elsewhere.key")
	os.Symlink(target, dangling)
	if _, err := Load(envOf(nil), dangling, true); !errors.Is(err, ErrUnsafeKeyFile) {
		t.Fatalf("dangling link: err = %v, want a refusal", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key was written through a dangling symlink")
	}
}

func TestLoadRefusesWorldWritableDirectory(t *testing.T) {
	dir := keyDir(t)
	path := filepath.Join(dir, "opwatch.key")
	writeKey(t, path)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Load(envOf(nil), path, false)
	if !errors.Is(err, ErrUnsafeKeyFile) || !strings.Contains(err.Error(), "every user") {
		t.Fatalf("err = %v, want a refusal of the world-writable directory", err)
	}
	// With the sticky bit (as /tmp), others cannot replace the file.
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(envOf(nil), path, false); err != nil {
		t.Fatalf("sticky world-writable directory: %v", err)
	}
	// A group-writable directory (user-private groups) is accepted.
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(envOf(nil), path, false); err != nil {
		t.Fatalf("group-writable directory: %v", err)
	}
}

func TestLoadRefusesNonRegularFile(t *testing.T) {
	dir := keyDir(t)
	path := filepath.Join(dir, "opwatch.key")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(envOf(nil), path, true); !errors.Is(err, ErrUnsafeKeyFile) {
		t.Fatalf("err = %v, want a refusal of a directory as key file", err)
	}
}

// A3: a token file others can read is worth a warning.
func TestWarnReadable(t *testing.T) {
	dir := keyDir(t)
	path := filepath.Join(dir, "token")
	os.WriteFile(path, []byte("ops_token"), 0o600)
	os.Chmod(path, 0o600)
	if w := WarnReadable(path); w != "" {
		t.Errorf("0600 token file: warning %q", w)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		os.Chmod(path, mode)
		w := WarnReadable(path)
		if !strings.Contains(w, path) || !strings.Contains(w, "chmod 600") {
			t.Errorf("mode %04o: warning %q, want one naming the file and chmod 600", mode, w)
		}
		if strings.Contains(w, "ops_token") {
			t.Errorf("warning %q contains the token", w)
		}
	}
	if w := WarnReadable(filepath.Join(dir, "missing")); w != "" {
		t.Errorf("missing file: warning %q (reading reports that)", w)
	}
	if w := WarnReadable(dir); w != "" {
		t.Errorf("not a regular file: warning %q", w)
	}
}
