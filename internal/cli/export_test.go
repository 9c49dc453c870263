package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/export"
)

// export parquet reads the database read-only and writes the day's
// partition and the manifest; a second run replaces it.
func TestExportParquet(t *testing.T) {
	db := seededLake(t)
	out := filepath.Join(t.TempDir(), "parquet")
	vars := map[string]string{"OPWATCH_DB": db}
	for range 2 {
		stdout, errOut, code := runCLI(t, vars, "", "export", "parquet", "--since", "2026-11-30", "--until", "2026-12-01", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if !strings.HasPrefix(stdout, "exported 1 events of 2026-11-30..2026-11-30 into 1 files") {
			t.Errorf("stdout %q", stdout)
		}
	}
	m, err := export.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Partitions) != 1 || m.Partitions[0].Files[0].Path != "p_log_type=OnePassword.SignInAttempt/dt=2026-11-30/part-0000.parquet" {
		t.Errorf("manifest partitions %+v", m.Partitions)
	}
	// The ECS mapping goes to its own directory; into the Panther one it is refused.
	if _, errOut, code := runCLI(t, vars, "", "export", "parquet", "--since", "2026-11-30", "--until", "2026-12-01", "--out", out+"-ecs", "--mapping", "ecs"); code != 0 {
		t.Errorf("--mapping ecs: exit %d\n%s", code, errOut)
	}
	if _, _, code := runCLI(t, vars, "", "export", "parquet", "--since", "2026-11-30", "--out", out, "--mapping", "ecs"); code == 0 {
		t.Errorf("an ECS export into a Panther directory succeeded")
	}
	if _, errOut, code := runCLI(t, vars, "", "export", "parquet", "--since", "2026-11-30", "--until", "2026-12-01", "--out", out+"-ocsf", "--mapping", "ocsf"); code != 0 {
		t.Errorf("--mapping ocsf: exit %d\n%s", code, errOut)
	}
	for _, args := range [][]string{
		{"export", "parquet", "--out", out},
		{"export", "parquet", "--since", "2026-11-30", "--out", out, "--mapping", "cef"},
		{"export", "parquet", "--since", "2026-12-01", "--until", "2026-11-30", "--out", out},
		{"export", "parquet", "--since", "yesterday", "--out", out},
		{"export", "csv"},
	} {
		if _, errOut, code := runCLI(t, vars, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

// --log-types takes the feature names a source's log_types take, and
// refuses an unknown one as a usage error.
func TestExportLogTypeNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.db")
	lakeWithSource(t, path, "acme")
	out := t.TempDir()
	if _, errOut, code := runCLI(t, nil, "", "export", "parquet", "--db", path, "--since", "2d", "--out", out, "--log-types", "signinattempts, ItemUsages"); code != 0 {
		t.Errorf("--log-types signinattempts,ItemUsages: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, nil, "", "export", "parquet", "--db", path, "--since", "2d", "--out", out, "--log-types", "bogus"); code != 2 || !strings.Contains(errOut, "bogus") {
		t.Errorf("--log-types bogus: exit %d, %s; want a usage error naming it", code, errOut)
	}
}
