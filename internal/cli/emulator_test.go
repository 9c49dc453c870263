package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

func TestRunEmulatorServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runEmulator(ctx, testEnv(w, &stderr, nil), []string{"--events", "3", "--features", "itemusages", "--seed", "9"})
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the JSON line: %v (stderr: %s)", err, stderr.String())
	}
	go io.Copy(io.Discard, out)
	var got struct {
		BaseURL string `json:"base_url"`
		Token   string `json:"token"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil || !strings.HasPrefix(got.BaseURL, "http://127.0.0.1:") || got.Token == "" {
		t.Fatalf("first line %q: want {base_url, token}", line)
	}
	req, _ := http.NewRequest("POST", got.BaseURL+"/api/v2/itemusages", strings.NewReader(`{"start_time":"2020-01-01T00:00:00Z"}`))
	req.Header.Set("Authorization", "Bearer "+got.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Items []json.RawMessage }
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(page.Items) != 3 {
		t.Errorf("item usages: %d with %d items, want 200 with 3", resp.StatusCode, len(page.Items))
	}
	// The token only has the features asked for.
	req, _ = http.NewRequest("POST", got.BaseURL+"/api/v2/auditevents", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+got.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("audit events with an item usage token: %v %v, want 401", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runEmulator after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runEmulator did not return after cancel")
	}
	if strings.Contains(stderr.String(), got.Token) {
		t.Error("the token appears in the log")
	}
}

// testEnv is an env with the given output and environment variables.
func testEnv(stdout, stderr io.Writer, vars map[string]string) *env {
	return &env{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: func(k string) string { return vars[k] }}
}

func TestRunEmulatorFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--features", "users"},
		{"--features", ""},
		{"--features", " , "},
		{"--features", "none,itemusages"},
		{"--fault-500", "1.5"},
		{"--fault-500", "0.7", "--fault-drop", "0.7"},
		{"--events", "-1"},
		{"--log-level", "loud"},
		{"--listen", "256.0.0.1:0"},
		{"extra"},
		{"--cursor-model", "newest-first"},
	} {
		var stdout, stderr bytes.Buffer
		err := runEmulator(context.Background(), testEnv(&stdout, &stderr, nil), args)
		var ue usageError
		var fe flagError
		if !errors.As(err, &ue) && !errors.As(err, &fe) {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed %q", args, stdout.String())
		}
	}
	var help bytes.Buffer
	if err := runEmulator(context.Background(), testEnv(&help, io.Discard, nil), []string{"-h"}); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(help.String(), "-rate-limit-minute") || !strings.Contains(help.String(), "-cursor-model") {
		t.Errorf("-h: %v\n%s", err, help.String())
	}
}

// --cursor-model chooses how the emulator's cursors treat late events.
func TestEmulatorCursorModelFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want emulator.CursorModel
	}{
		{nil, emulator.CursorKeepsStart},
		{[]string{"--cursor-model", "keep-start"}, emulator.CursorKeepsStart},
		{[]string{"--cursor-model", "ingestion-order"}, emulator.CursorIngestionOrder},
	} {
		c, err := emulatorConfig(testEnv(io.Discard, io.Discard, nil), tt.args)
		if err != nil || c.opts.CursorModel != tt.want {
			t.Errorf("%v: %v, %v; want %v", tt.args, c.opts.CursorModel, err, tt.want)
		}
	}
}

// --no-account-claim prints a token without the 1password.com/auuid claim.
func TestEmulatorNoAccountClaimFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--no-account-claim"}, true},
	} {
		c, err := emulatorConfig(testEnv(io.Discard, io.Discard, nil), tt.args)
		if err != nil || c.token.NoAccountClaim != tt.want {
			t.Errorf("%v: NoAccountClaim %v, %v; want %v", tt.args, c.token.NoAccountClaim, err, tt.want)
		}
	}
	// End to end: the printed token's claims hold no account.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runEmulator(ctx, testEnv(w, io.Discard, nil), []string{"--events", "1", "--rate", "0", "--no-account-claim"})
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	var got struct{ Token string }
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(got.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("the token is not a JWT: %d parts", len(parts))
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(claims), "1password.com/auuid") || !strings.Contains(string(claims), "1password.com/fts") {
		t.Errorf("claims %s: want features and no account", claims)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runEmulator: %v", err)
	}
}

// --features none prints a token that grants no feature (the wizard's
// "grants none of …" refusal is tried with it), where nil would grant all.
func TestEmulatorFeaturesNone(t *testing.T) {
	for _, tt := range []struct {
		flag string
		want []string
	}{
		{"none", []string{}},
		{" none ", []string{}},
		{"itemusages, auditevents", []string{"itemusages", "auditevents"}},
	} {
		c, err := emulatorConfig(testEnv(io.Discard, io.Discard, nil), []string{"--features", tt.flag})
		if err != nil || c.token.Features == nil || !slices.Equal(c.token.Features, tt.want) {
			t.Errorf("--features %q: %#v, %v; want %#v", tt.flag, c.token.Features, err, tt.want)
		}
	}
	// End to end: introspection of the printed token lists no feature.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runEmulator(ctx, testEnv(w, io.Discard, nil), []string{"--events", "1", "--rate", "0", "--features", "none"})
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	var got struct {
		BaseURL string `json:"base_url"`
		Token   string `json:"token"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", got.BaseURL+"/api/v2/auth/introspect", nil)
	req.Header.Set("Authorization", "Bearer "+got.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ Features []string }
	err = json.NewDecoder(resp.Body).Decode(&in)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || in.Features == nil || len(in.Features) != 0 {
		t.Errorf("introspection: %d, features %#v, %v; want 200 and []", resp.StatusCode, in.Features, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runEmulator: %v", err)
	}
}
