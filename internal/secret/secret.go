// Package secret seals the 1Password tokens opwatch stores, with AES-256-GCM
// under a key that lives outside the database: in OPWATCH_SECRET_KEY or in a
// key file beside it. Each sealed token is bound to additional data (its
// source's id and endpoint settings), so a token copied to another source or
// a source whose settings were changed in the database does not open.
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
	"strings"
)

// EnvKey is the environment variable that holds the key, as base64 or hex.
const EnvKey = "OPWATCH_SECRET_KEY"

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

// Sealed formats. Version 2: version byte, key id (4 bytes), nonce (12
// bytes), then the ciphertext with its tag; GCM's additional data is the
// header followed by the caller's aad. Version 1 had no caller aad; it is
// recognised only to say so.
const (
	version1   = 1
	version2   = 2
	keyIDSize  = 4
	headerSize = 1 + keyIDSize
)

var (
	// ErrNoKey means there is no key: OPWATCH_SECRET_KEY is unset and the
	// key file is missing (and was not to be created) or was not given.
	ErrNoKey = errors.New("no secret key")
	// ErrCannotOpen means a sealed token did not open: the key changed, the
	// additional data (the source's settings) changed, or the stored bytes
	// were altered. Every Open error wraps it, so a caller can offer to
	// replace the token.
	ErrCannotOpen = errors.New("the token cannot be opened with this key")
	// ErrOldFormat means the token was sealed by an opwatch that did not
	// bind tokens to their source. It comes wrapped with ErrCannotOpen.
	ErrOldFormat = errors.New("the token was sealed in an older format")
	// ErrCorrupt means the bytes are not a sealed token at all (too short,
	// unknown format). It comes wrapped with ErrCannotOpen.
	ErrCorrupt = errors.New("the sealed token is damaged")
)

// recovery is the advice every missing or unusable key error ends with.
const recovery = "set " + EnvKey + " or give --key-file; a database holding sealed tokens needs the key that sealed them: " +
	"if it is lost, give each source a new token with `opwatch source update NAME --token-file F`"

// Box seals and opens tokens with one key. It is safe for concurrent use.
type Box struct {
	aead  cipher.AEAD
	keyID [keyIDSize]byte
	from  string // where the key came from, for messages
}

// Load returns the Box for the key in OPWATCH_SECRET_KEY (read through
// getenv) or, when that is unset, in keyFile.
//
// When keyFile does not exist, create decides: true writes a new random key
// there (mode 0600); false returns an error wrapping ErrNoKey. Only a
// command that starts a new local database should create: a key made beside
// a database that already holds sealed tokens opens none of them. keyFile ""
// means there is no key file (an engine other than a local SQLite file): the
// key must come from the environment, or ErrNoKey.
//
// A key file is refused unless it is a regular file (not a symlink) owned
// by the current user, unreadable by others, in a directory others cannot
// write (on Windows only the symlink check applies).
func Load(getenv func(string) string, keyFile string, create bool) (*Box, error) {
	if v := strings.TrimSpace(getenv(EnvKey)); v != "" {
		key, err := parseKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		return newBox(key, EnvKey)
	}
	if keyFile == "" {
		return nil, fmt.Errorf("%w: %s is unset and no key file was given: %s", ErrNoKey, EnvKey, recovery)
	}
	key, err := readKeyFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("%w: %s is unset and the key file %s does not exist: %s", ErrNoKey, EnvKey, keyFile, recovery)
		}
		key, err = createKeyFile(keyFile)
		if errors.Is(err, fs.ErrExist) { // another process just made it
			key, err = readKeyFile(keyFile)
		}
	}
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

// additional is GCM's additional data: the header, then the caller's aad.
// The header has a fixed length, so the split is unambiguous.
func additional(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// Seal encrypts plain with a fresh random nonce, bound to aad: Open needs
// the same aad. Callers pass the source's binding (its id and endpoint
// settings).
func (b *Box) Seal(plain, aad []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	out := make([]byte, headerSize+ns, headerSize+ns+len(plain)+b.aead.Overhead())
	out[0] = version2
	copy(out[1:headerSize], b.keyID[:])
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("seal token: %w", err)
	}
	return b.aead.Seal(out, out[headerSize:], plain, additional(out[:headerSize], aad)), nil
}

// Open decrypts what Seal made with the same aad. Every error wraps
// ErrCannotOpen and never includes the plaintext.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) >= 1 && sealed[0] == version1 {
		return nil, fmt.Errorf("%w: %w (before tokens were bound to their source): give the source its token again", ErrCannotOpen, ErrOldFormat)
	}
	if len(sealed) < headerSize+ns+b.aead.Overhead() {
		return nil, fmt.Errorf("%w: %w: too short", ErrCannotOpen, ErrCorrupt)
	}
	if sealed[0] != version2 {
		return nil, fmt.Errorf("%w: %w: unknown format version %d (sealed by a newer opwatch?)", ErrCannotOpen, ErrCorrupt, sealed[0])
	}
	// The key id is not secret and not proof of anything (whoever can write
	// the database can change it), so a mismatch is only a likelier cause.
	if !bytes.Equal(sealed[1:headerSize], b.keyID[:]) {
		return nil, fmt.Errorf("%w (key from %s): it was sealed under another key, or altered outside opwatch", ErrCannotOpen, b.from)
	}
	plain, err := b.aead.Open(nil, sealed[headerSize:headerSize+ns], sealed[headerSize+ns:], additional(sealed[:headerSize], aad))
	if err != nil {
		return nil, fmt.Errorf("%w (key from %s): the key changed, or the source's settings were altered outside opwatch", ErrCannotOpen, b.from)
	}
	return plain, nil
}
