package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

// --no-events-alarm on add and update, its range, and source show's
// health: a token expiring within a week shows with what to do.
func TestSourceNoEventsAlarmAndHealth(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 5, Events: 10, Span: time.Hour})
	tok := issue(t, em, emulator.TokenOptions{ExpiresIn: 3 * 24 * time.Hour})
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": filepath.Join(t.TempDir(), "o.db"), "OP_TOKEN": tok, "OPWATCH_LOG_LEVEL": "warn"}}
	cli := h.run

	for _, bad := range []struct{ v, want string }{
		{"10m", "--no-events-alarm: 10m0s is outside 15m to 30d"},
		{"31d", "outside 15m to 30d"},
		{"never", "or off"},
	} {
		out := cli(2, "", "source", "add", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL(), "--no-events-alarm", bad.v)
		if !strings.Contains(out, bad.want) {
			t.Errorf("--no-events-alarm %s: want %q in:\n%s", bad.v, bad.want, out)
		}
	}
	out := cli(0, "", "source", "add", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	if !strings.Contains(out, "No-events alarm: 24h") {
		t.Errorf("source add does not say the alarm is on at 24h:\n%s", out)
	}
	out = cli(0, "", "source", "show", "acme")
	for _, want := range []string{"no-events alarm: 24h", "Health: 1 condition(s) need you", "[HIGH]", "expires", "what to do:"} {
		if !strings.Contains(out, want) {
			t.Errorf("source show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "since") {
		t.Errorf("source show dates a condition before the source existed:\n%s", out)
	}
	out = cli(0, "", "source", "update", "acme", "--no-events-alarm", "off")
	if !strings.Contains(out, "No-events alarm: off") {
		t.Errorf("update off:\n%s", out)
	}
	if out = cli(0, "", "source", "show", "acme"); !strings.Contains(out, "no-events alarm: off") {
		t.Errorf("show after off:\n%s", out)
	}
	cli(0, "", "source", "update", "--no-events-alarm", "2d", "acme")
	if out = cli(0, "", "source", "show", "acme"); !strings.Contains(out, "no-events alarm: 2d") {
		t.Errorf("show after 2d:\n%s", out)
	}
	cli(2, "", "source", "update", "acme", "--no-events-alarm", "1m")
}
