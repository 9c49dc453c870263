package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve checks the configuration's export section before it opens
// anything: a bad schedule creates no database.
func TestServeRefusesBadExportSchedule(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "opwatch.yaml")
	for _, c := range []struct{ yaml, want string }{
		{"export:\n  every: 10s\n  lookback: 2d\n  out: " + dir + "/x\n", "export.every"},
		{"export:\n  every: 1h\n  lookback: 2d\n", "export.out"},
		{"export:\n  every: 1h\n  out: " + dir + "/x\n", "export.lookback"},
		{"export:\n  every: 1h\n  lookback: 2d\n  out: s3://\n  s3_region: eu-west-1\n", "s3://"},
	} {
		if err := os.WriteFile(cfg, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(dir, "never.db")
		_, errOut, code := runCLI(t, nil, "", "serve", "--db", db, "--config", cfg, "--listen", "off")
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, %s; want a refusal naming %s", c.yaml, code, errOut, c.want)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%q: a refused configuration created the database", c.yaml)
		}
	}
}
