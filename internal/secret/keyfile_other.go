//go:build !unix

package secret

import (
	"io/fs"
	"os"
)

const openKeyFlags = os.O_RDONLY

// Without Unix modes and owners, only the symlink and regular-file checks
// (in readKeyFile) apply; access is left to the platform's ACLs.
func checkKeyFile(string, fs.FileInfo) error { return nil }

func checkKeyDir(string) error { return nil }

// WarnReadable has nothing to check without Unix modes.
func WarnReadable(string) string { return "" }
