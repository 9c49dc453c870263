package alert_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/store"
)

func TestSelectPrecedence(t *testing.T) {
	dests := []store.Destination{
		{ID: "id-a", Name: "a", MinSeverity: "HIGH", Enabled: true},
		{ID: "id-b", Name: "b", AlertTypes: []string{store.AlertRule}, Enabled: true},
		{ID: "id-c", Name: "c", MinSeverity: "CRITICAL", AlertTypes: []string{store.AlertSystemError}, Enabled: true},
		{ID: "id-d", Name: "d", Enabled: false},
		{ID: "id-e", Name: "e", MinSeverity: "LOW", AlertTypes: []string{store.AlertRuleError, store.AlertSystemError}, Enabled: true},
	}
	tests := []struct {
		name    string
		a       store.Alert
		want    []string
		unknown []string
	}{
		{"rule below a's minimum", store.Alert{Type: store.AlertRule, Severity: "MEDIUM"}, []string{"b"}, nil},
		{"rule at a's minimum", store.Alert{Type: store.AlertRule, Severity: "HIGH"}, []string{"a", "b"}, nil},
		{"rule above it", store.Alert{Type: store.AlertRule, Severity: "CRITICAL"}, []string{"a", "b"}, nil},
		{"system error ignores severity filters", store.Alert{Type: store.AlertSystemError, Severity: "LOW"}, []string{"a", "c", "e"}, nil},
		{"rule error below every minimum", store.Alert{Type: store.AlertRuleError, Severity: "INFO"}, nil, nil},
		{"rule error", store.Alert{Type: store.AlertRuleError, Severity: "LOW"}, []string{"e"}, nil},
		{"destinations() by name and id, whatever the filters",
			store.Alert{Type: store.AlertRule, Severity: "INFO", Destinations: []string{"c", "id-b"}}, []string{"c", "b"}, nil},
		{"destinations() empty: nowhere", store.Alert{Type: store.AlertRule, Severity: "CRITICAL", Destinations: []string{}}, nil, nil},
		{"destinations() naming a disabled and a missing one",
			store.Alert{Type: store.AlertRule, Severity: "CRITICAL", Destinations: []string{"d", "nope"}}, nil, []string{"d", "nope"}},
		{"destinations() naming one twice", store.Alert{Type: store.AlertRule, Destinations: []string{"a", "id-a"}}, []string{"a"}, nil},
		{"unknown severity passes every filter", store.Alert{Type: store.AlertRule, Severity: "SEVERE"}, []string{"a", "b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chosen, unknown := alert.Select(dests, tc.a)
			var got []string
			for _, d := range chosen {
				got = append(got, d.Name)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(unknown, tc.unknown) {
				t.Errorf("Select = %v (unknown %v), want %v (unknown %v)", got, unknown, tc.want, tc.unknown)
			}
		})
	}
}

// listed is a DestinationLister counting its calls.
type listed struct {
	mu    sync.Mutex
	dests []store.Destination
	calls int
	err   error
}

func (l *listed) Destinations(context.Context) ([]store.Destination, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	return slices.Clone(l.dests), l.err
}

// countWarn counts warnings.
type countWarn struct {
	mu   sync.Mutex
	msgs []string
}

func (c *countWarn) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *countWarn) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, r.Message)
	return nil
}
func (c *countWarn) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countWarn) WithGroup(string) slog.Handler      { return c }

func TestRouterRoutes(t *testing.T) {
	clk := &dlClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	l := &listed{dests: []store.Destination{{ID: "id-a", Name: "a", Enabled: true}}}
	warn := &countWarn{}
	r := alert.NewRouter(alert.RouterConfig{Store: l, Now: clk.Now, Logger: slog.New(warn)})
	a := store.Alert{ID: "al-1", Type: store.AlertRule, Severity: "LOW"}

	ns, err := r.Route(context.Background(), a)
	if err != nil || len(ns) != 1 {
		t.Fatalf("Route = %+v, %v", ns, err)
	}
	n := ns[0]
	if n.ID == "" || n.AlertID != "al-1" || n.DestinationID != "id-a" || n.Kind != store.NotifyTrigger {
		t.Fatalf("notification %+v: want a new trigger of al-1 to id-a", n)
	}

	// The destinations are read again only after Refresh (default 5s).
	l.mu.Lock()
	l.dests = append(l.dests, store.Destination{ID: "id-b", Name: "b", Enabled: true})
	l.mu.Unlock()
	if ns, _ := r.Route(context.Background(), a); len(ns) != 1 || l.calls != 1 {
		t.Fatalf("within Refresh: %d notifications, %d loads; want 1 and 1", len(ns), l.calls)
	}
	clk.Advance(6 * time.Second)
	if ns, _ := r.Route(context.Background(), a); len(ns) != 2 {
		t.Fatalf("after Refresh: %d notifications, want 2", len(ns))
	}

	// A name no destination has is logged once, however often it is named.
	typo := store.Alert{ID: "al-2", RuleID: "R", Destinations: []string{"sco"}}
	for range 3 {
		if ns, err := r.Route(context.Background(), typo); err != nil || len(ns) != 0 {
			t.Fatalf("Route(typo) = %+v, %v", ns, err)
		}
	}
	if len(warn.msgs) != 1 || !strings.Contains(warn.msgs[0], "does not exist") {
		t.Fatalf("warnings %q, want one", warn.msgs)
	}

	// A store that cannot be read fails the route (the detect stage
	// retries its batch): an alert is not stored unsent by mistake.
	clk.Advance(time.Minute)
	l.err = errors.New("disk on fire")
	if _, err := r.Route(context.Background(), a); err == nil {
		t.Fatal("Route succeeded without destinations")
	}
}
