package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// passwordOf finds the password printed on its own indented line.
func passwordOf(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^    (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no password printed:\n%s", out)
	}
	return m[1]
}

// checkPassword reports whether password is user's, by the auth service's
// own check (ChangePassword refuses a wrong old password).
func checkPassword(t *testing.T, db, user, password string) bool {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, sqlite.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByName(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	err = auth.New(auth.Config{Store: st}).ChangePassword(ctx, u.ID, password, password)
	if err != nil && !errors.Is(err, auth.ErrWrongPassword) {
		t.Fatal(err)
	}
	return err == nil
}

func TestUsersVerbs(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db}}
	cli := h.run

	out := cli(0, "", "users", "add", "Root", "--role", "admin")
	if !strings.Contains(out, "Added user root (role admin)") || !strings.Contains(out, "shown only this once") {
		t.Errorf("users add:\n%s", out)
	}
	rootPw := passwordOf(t, out)
	if !checkPassword(t, db, "root", rootPw) {
		t.Error("the printed password is not root's")
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(" spaces kept inside \r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = cli(0, "", "users", "add", "ana", "--password-file", pwFile)
	if strings.Contains(out, "spaces kept") || strings.Contains(out, "shown only") {
		t.Errorf("a password given in a file was printed:\n%s", out)
	}
	if !checkPassword(t, db, "ana", " spaces kept inside ") {
		t.Error("the file's first line, as typed, is not ana's password")
	}
	cli(0, "stdin password!\n", "users", "add", "bob", "--password-file", "-", "--role", "analyst")
	if !checkPassword(t, db, "bob", "stdin password!") {
		t.Error("the password from standard input is not bob's")
	}

	// Wrong input: usage errors (2) say what is wrong; nothing is added.
	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"users"}, "", "missing subcommand"},
		{[]string{"users", "nope"}, "", "unknown subcommand"},
		{[]string{"users", "add"}, "", "missing the new user's name"},
		{[]string{"users", "add", "a b"}, "", "lower case letters"},
		{[]string{"users", "add", "carl", "--role", "root"}, "", `role "root": want admin or analyst`},
		{[]string{"users", "add", "carl", "--password-file", "-"}, "short\n", "at least 12 characters"},
		{[]string{"users", "add", "carl", "--password-file", "-"}, "\nlater line\n", "first line is empty"},
		{[]string{"users", "remove", "root"}, "", "last admin"},
		{[]string{"users", "set-role", "root", "analyst"}, "", "last admin"},
		{[]string{"users", "set-role", "bob", "boss"}, "", "want admin or analyst"},
		{[]string{"users", "set-role", "bob"}, "", "missing the user's name and role"},
		{[]string{"tokens", "create", "x", "--expires", "soon"}, "", "--expires"},
		{[]string{"tokens", "create", "x", "--role", "god"}, "", "want admin or analyst"},
		{[]string{"tokens"}, "", "missing subcommand"},
	} {
		out := cli(2, c.stdin, c.args...)
		if !strings.Contains(out, c.want) {
			t.Errorf("opwatch %s: %q not in\n%s", strings.Join(c.args, " "), c.want, out)
		}
	}
	out = cli(1, "", "users", "add", "ROOT")
	if !strings.Contains(out, `a user named "root" exists`) || !strings.Contains(out, "reset-password root") {
		t.Errorf("a taken name:\n%s", out)
	}
	if out := cli(1, "", "users", "remove", "nobody"); !strings.Contains(out, `no user named "nobody"`) {
		t.Errorf("removing nobody:\n%s", out)
	}

	out = cli(0, "", "users", "list")
	if !regexp.MustCompile(`(?m)^ana\s+analyst\s+\S+ \S+ UTC\s+-$`).MatchString(out) || !strings.Contains(out, "root") || strings.Contains(out, "argon2") {
		t.Errorf("users list:\n%s", out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(cli(0, "", "users", "list", "--format", "json")), &rows); err != nil || len(rows) != 3 || rows[0]["name"] != "ana" {
		t.Errorf("users list --format json: %v %v", rows, err)
	}

	out = cli(0, "", "users", "reset-password", "root")
	newPw := passwordOf(t, out)
	if newPw == rootPw || !checkPassword(t, db, "root", newPw) || checkPassword(t, db, "root", rootPw) {
		t.Error("reset-password did not replace root's password with the printed one")
	}
	cli(0, "given password 12\n", "users", "reset-password", "root", "--password-file", "-")
	if !checkPassword(t, db, "root", "given password 12") {
		t.Error("reset-password --password-file - did not set it")
	}
	cli(0, "", "users", "set-role", "bob", "admin")
	cli(0, "", "users", "remove", "root") // bob is an admin now
	if out := cli(0, "", "users", "list"); strings.Contains(out, "root") {
		t.Errorf("root still listed:\n%s", out)
	}
}

func TestTokensVerbs(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db}}
	cli := h.run

	if out := cli(1, "", "tokens", "list"); !strings.Contains(out, "no database") {
		t.Errorf("tokens list without a database:\n%s", out)
	}
	out := cli(0, "", "tokens", "create", "ci pipeline", "--expires", "30d")
	tok := passwordOf(t, out)
	if !strings.HasPrefix(tok, "opw_") || len(tok) != 47 || !strings.Contains(out, "role analyst, expires ") {
		t.Fatalf("tokens create:\n%s", out)
	}
	out = cli(0, "", "tokens", "create", "admin-bot", "--role", "admin", "--expires", "0")
	if !strings.Contains(out, "never expires") {
		t.Errorf("--expires 0:\n%s", out)
	}
	h.transcript.Reset()
	out = cli(0, "", "tokens", "list")
	if !strings.Contains(out, "opw_…"+tok[len(tok)-4:]) || !strings.Contains(out, "ci pipeline") || !strings.Contains(out, "never") {
		t.Errorf("tokens list:\n%s", out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(cli(0, "", "tokens", "list", "--format", "json")), &rows); err != nil || len(rows) != 2 ||
		rows[1]["last4"] != tok[len(tok)-4:] || rows[0]["expires_at"] != nil {
		t.Errorf("tokens list --format json: %v %v", rows, err)
	}
	if out := cli(1, "", "tokens", "create", "ci pipeline"); !strings.Contains(out, "exists") {
		t.Errorf("a taken token name:\n%s", out)
	}
	cli(0, "", "tokens", "revoke", "ci pipeline")
	if out := cli(1, "", "tokens", "revoke", "ci pipeline"); !strings.Contains(out, "no API token") {
		t.Errorf("revoking twice:\n%s", out)
	}
	id, _ := rows[0]["id"].(string)
	cli(0, "", "tokens", "revoke", id)
	if strings.Contains(h.transcript.String(), tok[4:]) {
		t.Error("the token was printed again after its creation")
	}
	if out := cli(0, "", "tokens", "list"); !strings.Contains(out, "No API tokens") {
		t.Errorf("after revoking both:\n%s", out)
	}
}
