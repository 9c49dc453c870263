package secret

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrUnsafeKeyFile means a key file (or its directory) could have been
// read, planted or replaced by someone else, so it is not used.
var ErrUnsafeKeyFile = errors.New("unsafe secret key file")

// maxKeyFile bounds what is read from a key file: a key is 44 bytes of
// base64; anything much longer is not a key.
const maxKeyFile = 4096

// readKeyFile reads and checks an existing key file. A missing file is
// returned as an error wrapping fs.ErrNotExist, so Load can decide whether
// to create it.
func readKeyFile(path string) ([]byte, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		// A link can be turned to another key by whoever can write where it
		// points, and hides where the key really is.
		return nil, fmt.Errorf("%w: %s is a symbolic link: give the real path of the key file", ErrUnsafeKeyFile, path)
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUnsafeKeyFile, path)
	}
	if err := checkKeyDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, openKeyFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open secret key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		return nil, fmt.Errorf("%w: %s was replaced while being read", ErrUnsafeKeyFile, path)
	}
	if err := checkKeyFile(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
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
// moved into OPWATCH_SECRET_KEY as it is. It never replaces a file: an
// existing one (made meanwhile by another process) is fs.ErrExist.
func createKeyFile(path string) ([]byte, error) {
	if err := checkKeyDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	key := make([]byte, KeySize)
	rand.Read(key)
	// O_EXCL also refuses a dangling symlink, so the key cannot be written
	// where a link points.
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
