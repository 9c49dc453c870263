package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// kdfParams are argon2id's costs. The defaults are OWASP's first
// recommendation (19 MiB, two passes, one lane): a few tens of
// milliseconds here, and little memory per sign-in on a small server.
type kdfParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen uint32
	keyLen  uint32
}

var defaultKDF = kdfParams{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// Bounds on what a stored hash may ask for: a damaged or planted hash must
// not make one sign-in take gigabytes or minutes.
const (
	maxKDFMemory  = 256 * 1024 // KiB
	maxKDFTime    = 16
	maxKDFThreads = 16
)

// hashPassword returns password's argon2id hash in the PHC string format
// ($argon2id$v=19$m=..,t=..,p=..$salt$key, unpadded standard base64),
// which other tools read.
func hashPassword(p kdfParams, password string) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// errBadHash: a stored hash that is not an argon2id PHC string this package
// can check.
var errBadHash = errors.New("the stored password hash is not argon2id in PHC form")

// decodeHash parses a PHC string made by hashPassword, strictly.
func decodeHash(phc string) (p kdfParams, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, errBadHash
	}
	var vals [3]uint64
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], want)
		if !ok || v == "" || v[0] == '+' || v[0] == '-' || (len(v) > 1 && v[0] == '0') {
			return p, nil, nil, errBadHash
		}
		if vals[i], err = strconv.ParseUint(v, 10, 32); err != nil {
			return p, nil, nil, errBadHash
		}
	}
	p.memory, p.time = uint32(vals[0]), uint32(vals[1])
	if vals[2] > maxKDFThreads || vals[2] < 1 || p.time < 1 || p.time > maxKDFTime ||
		p.memory < 8*uint32(vals[2]) || p.memory > maxKDFMemory {
		return p, nil, nil, errBadHash
	}
	p.threads = uint8(vals[2])
	if salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errBadHash
	}
	if key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	p.saltLen, p.keyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// verifyPassword reports whether password matches the PHC hash, comparing
// in constant time. A hash it cannot read is errBadHash (and no match).
func verifyPassword(phc, password string) (bool, error) {
	p, salt, key, err := decodeHash(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
