package health

import (
	"testing"
	"time"
)

func TestSpellLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute:  "less than an hour",
		time.Hour:         "1 hour",
		119 * time.Minute: "1 hour",
		2 * time.Hour:     "2 hours",
		36 * time.Hour:    "1 day",
		72 * time.Hour:    "3 days",
	} {
		if got := spellLeft(d); got != want {
			t.Errorf("spellLeft(%v) = %q, want %q", d, got, want)
		}
	}
}
