package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// status names the replicas, what each holds, and the detect stage's lag.
func TestStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	lakeWithSource(t, path, "acme")
	ctx := context.Background()
	st, err := engine.Open(ctx, path, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"h1-10-aa@boot/ns/1", "h2-20-bb"} {
		if err := st.Heartbeat(ctx, store.Replica{ID: id, Host: strings.Split(id, "-")[0], PID: 10, Version: "test"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := st.ClaimStage(ctx, "detect", "h2-20-bb", time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	src, err := st.SourceByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateSource(ctx, store.SourceChange{Source: src, LogTypes: []string{"OnePassword.SignInAttempt"}}); err != nil {
		t.Fatal(err)
	}
	sts, err := st.Streams(ctx, src.ID)
	if err != nil || len(sts) == 0 {
		t.Fatal(sts, err)
	}
	if _, err := st.ClaimStream(ctx, sts[0].ID, "h1-10-aa@boot/ns/1", time.Hour); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, errOut, code := runCLI(t, nil, "", "status", "--db", path)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"Replicas: 2 alive", "h1-10-aa ", "1 streams", "detect", "on h2-20-bb", "position 0, 0 events behind", "health", "not running"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runCLI(t, nil, "", "status", "--db", path, "--format", "json")
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("status --format json: exit %d, %v\n%s", code, err, out)
	}
	if len(r.Replicas) != 2 || r.Replicas[1].Stages[0] != "detect" || r.Replicas[0].Streams != 1 || r.Streams.Held != 1 {
		t.Errorf("json: %+v", r)
	}
	if _, _, code := runCLI(t, nil, "", "status", "--db", filepath.Join(t.TempDir(), "none.db")); code == 0 {
		t.Error("status of a missing database succeeded")
	}
	if _, _, code := runCLI(t, nil, "", "status", "--db", path, "extra"); code != 2 {
		t.Errorf("status with an argument: exit %d, want 2", code)
	}
}
