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
			dir := t.TempDir()
			box, err := Load(envOf(map[string]string{EnvKey: tt.value}), filepath.Join(dir, "k"))
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
			sealed, err := ref.Seal([]byte("tok"))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := box.Open(sealed); err != nil || string(got) != "tok" {
				t.Fatalf("Open = %q, %v: the env key is not the key given", got, err)
			}
		})
	}
}

func TestLoadCreatesKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "opwatch.key")
	box, err := Load(envOf(nil), path)
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
	sealed, err := box.Seal([]byte("token"))
	if err != nil {
		t.Fatal(err)
	}
	// A second Load reads the same key.
	again, err := Load(envOf(nil), path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed); err != nil || string(got) != "token" {
		t.Fatalf("reloaded key cannot open: %q, %v", got, err)
	}
	// The file's key can move into the environment as it is.
	fromEnv, err := Load(envOf(map[string]string{EnvKey: string(text)}), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv.Open(sealed); err != nil {
		t.Fatalf("key file content used as %s: %v", EnvKey, err)
	}
}

func TestLoadRefusesKeyFileOthersCanRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "opwatch.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(testKey(1))), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, err := Load(envOf(nil), path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v, want a refusal telling to chmod 600", err)
	}
}

func TestLoadBadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "opwatch.key")
	os.WriteFile(path, []byte("not a key\n"), 0o600)
	if _, err := Load(envOf(nil), path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestLoadNoKeyAtAll(t *testing.T) {
	if _, err := Load(envOf(nil), ""); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Fatalf("err = %v, want one telling to set %s", err, EnvKey)
	}
}

func TestSealOpen(t *testing.T) {
	box, _ := New(testKey(2))
	plain := []byte("eyJhbGciOiJFUzI1NiIsImtpZCI6InNlY3JldCJ9.payload.signature")
	a, err := box.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := box.Seal(plain)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same token are equal: the nonce is not fresh")
	}
	if bytes.Contains(a, plain[:16]) {
		t.Error("sealed token contains the plaintext")
	}
	for _, s := range [][]byte{a, b} {
		got, err := box.Open(s)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	empty, _ := box.Seal(nil)
	if got, err := box.Open(empty); err != nil || len(got) != 0 {
		t.Fatalf("empty token: Open = %q, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	box, _ := New(testKey(3))
	other, _ := New(testKey(4))
	plain := []byte("ops_secret_token_value")
	sealed, _ := box.Seal(plain)
	flip := func(i int) []byte {
		s := bytes.Clone(sealed)
		s[i] ^= 1
		return s
	}
	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		want   error
	}{
		{"other key", other, sealed, ErrWrongKey},
		{"tampered ciphertext", box, flip(len(sealed) - 20), ErrCorrupt},
		{"tampered nonce", box, flip(headerSize + 1), ErrCorrupt},
		{"tampered key id", box, flip(1), ErrWrongKey},
		{"unknown version", box, flip(0), ErrCorrupt},
		{"truncated", box, sealed[:10], ErrCorrupt},
		{"empty", box, nil, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
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
	sealed, _ := box.Seal([]byte("token"))
	f.Add(sealed)
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := box.Open(data)
		if err == nil && string(plain) != "token" {
			// Only a real sealed token opens; GCM makes forging one infeasible.
			t.Fatalf("opened forged input to %q", plain)
		}
	})
}
