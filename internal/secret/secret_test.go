package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

// keyDir returns a directory only the current user can write, as a key's
// directory must be.
func keyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

var aad = []byte("opwatch source token v1\x00src-1\x00\x00https://events.1password.com\x002\x000\x000")

func TestLoadFromEnv(t *testing.T) {
	key := testKey(7)
	tests := []struct {
		name    string
		value   string
		wantErr string
	}{
		{"base64", base64.StdEncoding.EncodeToString(key), ""},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(key), ""},
		{"base64 url", base64.URLEncoding.EncodeToString(key), ""},
		{"hex", hex.EncodeToString(key), ""},
		{"hex with spaces around", "  " + hex.EncodeToString(key) + "\n", ""},
		{"too short", base64.StdEncoding.EncodeToString(key[:16]), "16 bytes"},
		{"not an encoding", "correct horse battery staple", "neither base64 nor hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := keyDir(t)
			box, err := Load(envOf(map[string]string{EnvKey: tt.value}), filepath.Join(dir, "k"), true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), EnvKey) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, EnvKey, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The env key wins: no key file is made.
			if _, err := os.Stat(filepath.Join(dir, "k")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("key file created although %s is set", EnvKey)
			}
			ref, _ := New(key)
			sealed, err := ref.Seal([]byte("tok"), aad)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := box.Open(sealed, aad); err != nil || string(got) != "tok" {
				t.Fatalf("Open = %q, %v: the env key is not the key given", got, err)
			}
		})
	}
}

func TestLoadCreatesKeyFile(t *testing.T) {
	path := filepath.Join(keyDir(t), "opwatch.key")
	box, err := Load(envOf(nil), path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", fi.Mode().Perm())
	}
	text, _ := os.ReadFile(path)
	if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text))); err != nil || len(key) != KeySize {
		t.Errorf("key file holds %q, want base64 of %d bytes", text, KeySize)
	}
	sealed, err := box.Seal([]byte("token"), aad)
	if err != nil {
		t.Fatal(err)
	}
	// A second Load, not allowed to create, reads the same key.
	again, err := Load(envOf(nil), path, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed, aad); err != nil || string(got) != "token" {
		t.Fatalf("reloaded key cannot open: %q, %v", got, err)
	}
	// The file's key can move into the environment as it is.
	fromEnv, err := Load(envOf(map[string]string{EnvKey: string(text)}), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv.Open(sealed, aad); err != nil {
		t.Fatalf("key file content used as %s: %v", EnvKey, err)
	}
}

// A6: a verb that must not create a key says where it looked and how to
// recover, and leaves nothing behind.
func TestLoadWithoutCreateNeverMakesAKey(t *testing.T) {
	path := filepath.Join(keyDir(t), "opwatch.key")
	_, err := Load(envOf(nil), path, false)
	if !errors.Is(err, ErrNoKey) {
		t.Fatalf("err = %v, want ErrNoKey", err)
	}
	for _, want := range []string{path, EnvKey, "--key-file", "source update NAME --token-file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was created by Load(create=false)")
	}
}

// B1: an engine without a local key file takes its key from the
// environment only.
func TestLoadNoKeyFileNeedsEnv(t *testing.T) {
	for _, create := range []bool{false, true} {
		_, err := Load(envOf(nil), "", create)
		if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), EnvKey) || !strings.Contains(err.Error(), "--key-file") {
			t.Fatalf("create=%v: err = %v, want ErrNoKey telling to set %s or give --key-file", create, err, EnvKey)
		}
	}
}

func TestLoadRefusesKeyFileOthersCanRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(keyDir(t), "opwatch.key")
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(testKey(1))), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		_, err := Load(envOf(nil), path, false)
		if !errors.Is(err, ErrUnsafeKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: err = %v, want a refusal telling to chmod 600", mode, err)
		}
	}
}

func TestLoadBadKeyFile(t *testing.T) {
	path := filepath.Join(keyDir(t), "opwatch.key")
	os.WriteFile(path, []byte("not a key\n"), 0o600)
	if _, err := Load(envOf(nil), path, true); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestSealOpen(t *testing.T) {
	box, _ := New(testKey(2))
	plain := []byte("eyJhbGciOiJFUzI1NiIsImtpZCI6InNlY3JldCJ9.payload.signature")
	a, err := box.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := box.Seal(plain, aad)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same token are equal: the nonce is not fresh")
	}
	if bytes.Contains(a, plain[:16]) {
		t.Error("sealed token contains the plaintext")
	}
	for _, s := range [][]byte{a, b} {
		got, err := box.Open(s, aad)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	empty, _ := box.Seal(nil, nil)
	if got, err := box.Open(empty, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty token: Open = %q, %v", got, err)
	}
}

// D1: a sealed token opens only with the additional data it was sealed
// with, so changing a source's endpoint in the database (or moving the
// token to another source) makes it unusable instead of sending it there.
func TestOpenNeedsTheSameBinding(t *testing.T) {
	box, _ := New(testKey(6))
	sealed, _ := box.Seal([]byte("ops_token"), aad)
	for _, other := range [][]byte{
		[]byte(strings.Replace(string(aad), "https://events.1password.com", "https://attacker.example", 1)),
		[]byte(strings.Replace(string(aad), "src-1", "src-2", 1)),
		aad[:len(aad)-1],
		nil,
	} {
		got, err := box.Open(sealed, other)
		if !errors.Is(err, ErrCannotOpen) || got != nil {
			t.Fatalf("Open with aad %q = %q, %v; want ErrCannotOpen", other, got, err)
		}
		if !strings.Contains(err.Error(), "the key changed, or the source's settings were altered outside opwatch") {
			t.Errorf("error %q does not name both possible causes", err)
		}
	}
}

// Tokens sealed before the binding existed are reported as such, never
// decoded without it.
func TestOpenOldFormat(t *testing.T) {
	box, _ := New(testKey(8))
	sealed, _ := box.Seal([]byte("ops_token"), nil)
	sealed[0] = version1
	_, err := box.Open(sealed, aad)
	if !errors.Is(err, ErrCannotOpen) || !errors.Is(err, ErrOldFormat) {
		t.Fatalf("err = %v, want ErrCannotOpen and ErrOldFormat", err)
	}
	if !strings.Contains(err.Error(), "older format") {
		t.Errorf("error %q does not say the format is old", err)
	}
}

func TestOpenErrors(t *testing.T) {
	box, _ := New(testKey(3))
	other, _ := New(testKey(4))
	plain := []byte("ops_secret_token_value")
	sealed, _ := box.Seal(plain, aad)
	flip := func(i int) []byte {
		s := bytes.Clone(sealed)
		s[i] ^= 1
		return s
	}
	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		also   error
	}{
		{"other key", other, sealed, nil},
		{"tampered ciphertext", box, flip(len(sealed) - 20), nil},
		{"tampered nonce", box, flip(headerSize + 1), nil},
		{"tampered key id", box, flip(1), nil},
		{"unknown version", box, append([]byte{9}, sealed[1:]...), ErrCorrupt},
		{"truncated", box, sealed[:10], ErrCorrupt},
		{"empty", box, nil, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, aad)
			if !errors.Is(err, ErrCannotOpen) {
				t.Fatalf("err = %v, want ErrCannotOpen", err)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Fatalf("err = %v, want also %v", err, tt.also)
			}
			if got != nil {
				t.Errorf("returned %q with the error", got)
			}
			if strings.Contains(err.Error(), string(plain)) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	box, _ := New(testKey(5))
	sealed, _ := box.Seal([]byte("token"), aad)
	f.Add(sealed, aad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 2, 3}, aad)
	f.Add(sealed, []byte("other"))
	f.Fuzz(func(t *testing.T, data, ad []byte) {
		plain, err := box.Open(data, ad)
		if err != nil {
			if !errors.Is(err, ErrCannotOpen) {
				t.Fatalf("Open error %v does not wrap ErrCannotOpen", err)
			}
			return
		}
		// Only a real sealed token with its own binding opens; GCM makes
		// forging one infeasible.
		if string(plain) != "token" || !bytes.Equal(ad, aad) {
			t.Fatalf("opened forged input to %q with aad %q", plain, ad)
		}
	})
}
