// Package secret seals the 1Password tokens opwatch stores, with AES-256-GCM
// under a key that lives outside the database: in OPWATCH_SECRET_KEY or in a
// key file beside it.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// EnvKey is the environment variable that holds the key, as base64 or hex.
const EnvKey = "OPWATCH_SECRET_KEY"

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

// version 1: version byte, key id (4 bytes), nonce (12 bytes), then the
// ciphertext with its tag. The header is authenticated too.
const (
	version1   = 1
	keyIDSize  = 4
	headerSize = 1 + keyIDSize
)

var (
	// ErrWrongKey means the token was sealed with another key.
	ErrWrongKey = errors.New("the secret key does not match the one the token was sealed with")
	// ErrCorrupt means the sealed token is damaged or not a sealed token.
	ErrCorrupt = errors.New("the sealed token is damaged")
)

// Box seals and opens tokens with one key. It is safe for concurrent use.
type Box struct {
	aead  cipher.AEAD
	keyID [keyIDSize]byte
	from  string // where the key came from, for messages
}

// Load returns the Box for the key in OPWATCH_SECRET_KEY (read through env)
// or, when that is unset, in keyFile, which is created with a new random key
// on first use. A key file that others can read is refused.
func Load(env func(string) string, keyFile string) (*Box, error) {
	if v := strings.TrimSpace(env(EnvKey)); v != "" {
		key, err := parseKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		return newBox(key, EnvKey)
	}
	if keyFile == "" {
		return nil, fmt.Errorf("no secret key: set %s (32 bytes as base64 or hex, e.g. from: openssl rand -base64 32) or give a key file", EnvKey)
	}
	key, err := loadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	return newBox(key, keyFile)
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	return newBox(key, "the given key")
}

func newBox(key []byte, from string) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key from %s has %d bytes; it needs %d", from, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	b := &Box{aead: aead, from: from}
	sum := sha256.Sum256(append([]byte("opwatch secret key id\x00"), key...))
	copy(b.keyID[:], sum[:])
	return b, nil
}

// parseKey reads a key written as base64 (standard or URL, padded or not) or
// hex.
func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("the key decodes to %d bytes; it needs %d (make one with: openssl rand -base64 32)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("the key is neither base64 nor hex of %d bytes (make one with: openssl rand -base64 32)", KeySize)
}

func loadKeyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
		if errors.Is(err, fs.ErrExist) { // another process just made it
			key, err = readKeyFile(path)
		}
	}
	return key, err
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s can be accessed by other users (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	key, err := parseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new random key, base64 encoded so that it can be
// moved into OPWATCH_SECRET_KEY as it is.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("create secret key file (or set %s): %w", EnvKey, err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write secret key file: %w", err)
	}
	return key, nil
}

// Seal encrypts plain with a fresh random nonce.
func (b *Box) Seal(plain []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	out := make([]byte, headerSize+ns, headerSize+ns+len(plain)+b.aead.Overhead())
	out[0] = version1
	copy(out[1:headerSize], b.keyID[:])
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("seal token: %w", err)
	}
	return b.aead.Seal(out, out[headerSize:], plain, out[:headerSize]), nil
}

// Open decrypts what Seal made. Its errors never include the plaintext.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) < headerSize+ns+b.aead.Overhead() {
		return nil, fmt.Errorf("open token: %w: too short", ErrCorrupt)
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("open token: %w: unknown format version %d (sealed by a newer opwatch?)", ErrCorrupt, sealed[0])
	}
	if !bytes.Equal(sealed[1:headerSize], b.keyID[:]) {
		return nil, fmt.Errorf("open token: %w (key from %s): use the key the token was stored with, or store the token again", ErrWrongKey, b.from)
	}
	plain, err := b.aead.Open(nil, sealed[headerSize:headerSize+ns], sealed[headerSize+ns:], sealed[:headerSize])
	if err != nil {
		return nil, fmt.Errorf("open token: %w: authentication failed", ErrCorrupt)
	}
	return plain, nil
}
