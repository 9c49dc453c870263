package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// A vector from the reference implementation (Debian's argon2 CLI:
// echo -n "correct horse battery" | argon2 saltsaltsalt1234 -id -t 2 -k 19456 -p 1 -l 32 -e),
// so hashes move to and from other tools.
const referenceHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$McfjnuDazlq+xj4cXAVGpUg0zLxIcBa8UMk4NuX3lqU"

func TestVerifyReferenceVector(t *testing.T) {
	ok, err := verifyPassword(referenceHash, "correct horse battery")
	if err != nil || !ok {
		t.Fatalf("the reference hash: %v, %v; want a match", ok, err)
	}
	if ok, _ := verifyPassword(referenceHash, "correct horse batterz"); ok {
		t.Fatal("a wrong password matched")
	}
}

func TestHashPassword(t *testing.T) {
	h, err := hashPassword(defaultKDF, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Errorf("hash %q is not argon2id PHC with OWASP's costs, a 16-byte salt and a 32-byte key", h)
	}
	h2, _ := hashPassword(defaultKDF, "a long enough password")
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"a long enough password": true, "a long enough passworD": false, "": false} {
		if ok, err := verifyPassword(h, pw); err != nil || ok != want {
			t.Errorf("verify %q: %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestDecodeHashRefuses(t *testing.T) {
	good := referenceHash
	for name, h := range map[string]string{
		"empty":          "",
		"argon2i":        strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":    strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":    strings.Replace(good, "m=19456", "m=4194304", 1),
		"no passes":      strings.Replace(good, "t=2", "t=0", 1),
		"many passes":    strings.Replace(good, "t=2", "t=1000", 1),
		"no lanes":       strings.Replace(good, "p=1", "p=0", 1),
		"leading zero":   strings.Replace(good, "t=2", "t=02", 1),
		"plus sign":      strings.Replace(good, "t=2", "t=+2", 1),
		"params order":   strings.Replace(good, "m=19456,t=2,p=1", "t=2,m=19456,p=1", 1),
		"extra param":    strings.Replace(good, "p=1", "p=1,k=3", 1),
		"padded salt":    strings.Replace(good, "c2FsdHNhbHRzYWx0MTIzNA", "c2FsdHNhbHRzYWx0MTIzNA==", 1),
		"urlsafe key":    strings.Replace(good, "+", "-", 1),
		"short salt":     strings.Replace(good, "c2FsdHNhbHRzYWx0MTIzNA", "c2FsdA", 1),
		"short key":      good[:strings.LastIndex(good, "$")+1] + "AAAA",
		"extra field":    good + "$x",
		"memory < 8·p":   strings.Replace(strings.Replace(good, "m=19456", "m=8", 1), "p=1", "p=2", 1),
		"no leading $":   good[1:],
		"bcrypt":         "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"plain password": "correct horse battery",
	} {
		if _, _, _, err := decodeHash(h); !errors.Is(err, errBadHash) {
			t.Errorf("%s: %v; want errBadHash", name, err)
		}
		if ok, _ := verifyPassword(h, "correct horse battery"); ok {
			t.Errorf("%s: verified", name)
		}
	}
}

// Whatever is stored, checking it never panics, and a hash that decodes is
// exactly what hashPassword would write for its parameters.
func FuzzDecodeHash(f *testing.F) {
	f.Add(referenceHash)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, h string) {
		p, salt, key, err := decodeHash(h)
		if err != nil {
			return
		}
		if p.memory > maxKDFMemory || p.time > maxKDFTime || p.threads > maxKDFThreads || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("%q decoded to costs out of bounds: %+v", h, p)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=") || strings.Count(h, "$") != 5 {
			t.Fatalf("%q decoded but is not in PHC form", h)
		}
	})
}
