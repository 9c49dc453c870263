package metrics_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/metrics"
	"github.com/opwatch/opwatch/internal/metrics/metricstest"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// The embedded engine is what the collectors read in serve.
var (
	_ metrics.StreamReader   = (*sqlite.Store)(nil)
	_ metrics.OutboxReader   = (*sqlite.Store)(nil)
	_ metrics.PositionReader = (*sqlite.Store)(nil)
)

func TestCollectorsOnSQLite(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	st, err := sqlite.Open(ctx, t.TempDir()+"/m.db", sqlite.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := store.Source{ID: store.NewID(), Name: "acme", APIVersion: 2, Interval: time.Minute, Token: []byte("sealed")}
	if err := st.CreateSource(ctx, &src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	m := metrics.NewOpwatch(metrics.OpwatchOptions{Now: func() time.Time { return now.Add(time.Hour) }})
	m.CollectStreams(st)
	m.CollectOutbox(st)
	m.CollectDetectLag(st)
	var b bytes.Buffer
	if err := m.Registry().WriteText(ctx, &b); err != nil {
		t.Fatal(err)
	}
	fams, err := metricstest.Parse(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	for _, c := range []string{"streams", "outbox", "detect"} {
		if v, ok := metricstest.Value(fams, "opwatch_scrape_error", "collector", c); !ok || v != 0 {
			t.Errorf("collector %s failed on SQLite:\n%s", c, b.String())
		}
	}
	// Never polled: its freshness counts from the source's creation.
	if v, _ := metricstest.Value(fams, "opwatch_stream_last_success_age_seconds", "source", "acme", "log_type", "OnePassword.SignInAttempt"); v != 3600 {
		t.Errorf("last success age %v, want 3600", v)
	}
	if v, ok := metricstest.Value(fams, "opwatch_detect_lag_events"); !ok || v != 0 {
		t.Errorf("detect lag %v %v", v, ok)
	}
}
