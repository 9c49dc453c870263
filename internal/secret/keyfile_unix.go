//go:build unix

package secret

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// O_NOFOLLOW closes the gap between the Lstat that refused symlinks and
// the open.
const openKeyFlags = os.O_RDONLY | syscall.O_NOFOLLOW

// checkKeyFile refuses a key file that others can access or that another
// user owns (a 0600 key planted in a shared directory would otherwise be
// used, and its owner could read every token sealed with it).
func checkKeyFile(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s can be accessed by other users (mode %04o): run chmod 600 %s", ErrUnsafeKeyFile, path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != os.Geteuid() {
			return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d): whoever owns it can read the tokens it seals; use a key file you created",
				ErrUnsafeKeyFile, path, uid, os.Geteuid())
		}
	}
	return nil
}

// checkKeyDir refuses a directory in which others could replace the key
// file: one every user can write without the sticky bit, or one owned by
// another user (root excepted). A group-writable directory is allowed, as
// user-private groups make that common.
func checkKeyDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory of the secret key file: %w", err)
	}
	if m := fi.Mode(); m&0o002 != 0 && m&fs.ModeSticky == 0 {
		return fmt.Errorf("%w: its directory %s can be written by every user, who could replace the key: keep the key in a directory only you can write, or run chmod o-w %s",
			ErrUnsafeKeyFile, dir, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
			return fmt.Errorf("%w: its directory %s belongs to uid %d, who could replace the key: keep the key in a directory you own",
				ErrUnsafeKeyFile, dir, uid)
		}
	}
	return nil
}

// WarnReadable returns a warning when the regular file at path (a token
// file) can be read or changed by other users, or "" when it cannot, or
// when it cannot be checked (reading it will report that).
func WarnReadable(path string) string {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Sprintf("token file %s can be accessed by other users (mode %04o): run chmod 600 %s", path, perm, path)
	}
	return ""
}
