package metrics

import (
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// The per-evaluation cost of the detect hook (a lookup and three atomic adds).
func BenchmarkObserveRule(b *testing.B) {
	m := NewOpwatch(OpwatchOptions{})
	ids := []string{"OnePassword.Login.From.New.Country", "OnePassword.Sensitive.Item.Accessed", "Impossible.Travel"}
	i := 0
	for b.Loop() {
		m.ObserveRule(ids[i%len(ids)], time.Microsecond, false)
		i++
	}
}

// The per-page cost of the ingest hook (two labels: a joined key).
func BenchmarkPageStored(b *testing.B) {
	m := NewOpwatch(OpwatchOptions{})
	for b.Loop() {
		m.PageStored("acme", "OnePassword.ItemUsage", store.CommitResult{Inserted: 1000})
	}
}
