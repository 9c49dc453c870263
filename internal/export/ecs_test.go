package export

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
)

const auditEvent = `{"uuid":"%s","timestamp":"%s","actor_uuid":"A1","actor_details":{"uuid":"A1","name":"Ann Admin","email":"ann@example.com"},` +
	`"action":"grant","object_type":"uva","object_uuid":"V9","aux_uuid":"U7","aux_info":"R","session":{"uuid":"S9","ip":"198.51.100.4","device_uuid":"D1"}}`

// The ECS mapping writes what Elastic's 1Password pipelines make of each
// log type, and leaves the renamed fields out of onepassword.*.
func TestECSMapping(t *testing.T) {
	l := testLake()
	at := day(10, 9)
	l.add("OnePassword.AuditEvent", at, fmt.Sprintf(auditEvent, "a1", at.Format(time.RFC3339Nano)), []string{"198.51.100.4"}, []string{"ann@example.com"})
	out := t.TempDir()
	m := exportTest(t, l, out, func(o *Options) { o.Mapping = MappingECS })
	if m.LastExport.Mapping != MappingECS || m.Partitions[0].Mapping != MappingECS {
		t.Errorf("manifest mapping %q %q", m.LastExport.Mapping, m.Partitions[0].Mapping)
	}
	read := func(lt string) readRow {
		_, rows := readFile(t, filepath.Join(out, "p_log_type="+lt, "dt=2026-11-10", "part-0000.parquet"))
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", lt)
		}
		return rows[0]
	}
	sub := func(r readRow, path string) any {
		var v any = map[string]any(r)
		for _, k := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	check := func(lt string, want map[string]any, absent ...string) {
		t.Helper()
		r := read(lt)
		for path, w := range want {
			if got := sub(r, path); fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s %s = %v, want %v", lt, path, got, w)
			}
		}
		for _, path := range absent {
			i := strings.LastIndex(path, ".")
			parent, _ := sub(r, path[:max(i, 0)]).(map[string]any)
			if i < 0 {
				parent = r
			}
			if _, ok := parent[path[i+1:]]; ok {
				t.Errorf("%s has a column %s", lt, path)
			}
		}
		if ts(r["@timestamp"]).IsZero() || r[RawColumn] == nil {
			t.Errorf("%s: @timestamp %v, p_raw %v", lt, r["@timestamp"], r[RawColumn])
		}
	}
	check("OnePassword.SignInAttempt", map[string]any{
		"ecs.version": ECSVersion, "event.kind": "event", "event.category": []any{"authentication"}, "event.type": []any{"info"},
		"event.action": "success", "event.outcome": "success", "event.dataset": "1password.signin_attempts",
		"user.id": "U1", "user.full_name": "Ann", "user.name": "Ann", "user.email": "ann@example.com",
		"source.ip": "192.0.2.7", "source.geo.city_name": "Toronto", "source.geo.location.lat": 43.5,
		"related.user": []any{"U1", "ann@example.com", "Ann"}, "related.ip": []any{"192.0.2.7"},
		"host.os.name": "MacOSX", "onepassword.client.app_name": "1Password for Mac", "onepassword.uuid": "s10 0",
		"p_log_type": "OnePassword.SignInAttempt",
	}, "onepassword.target_user", "onepassword.client.ip_address", "onepassword.location", "onepassword.category", "onepassword.timestamp", "os")
	check("OnePassword.ItemUsage", map[string]any{
		"event.category": []any{"file"}, "event.type": []any{"access"}, "event.action": "reveal", "event.outcome": nil,
		"user.email": "bob@example.com", "user.name": nil, "source.ip": "2001:db8::1", "related.ip": []any{"2001:db8::1"},
		"onepassword.used_version": int64(7), "onepassword.item_uuid": "I1",
	}, "onepassword.user", "onepassword.action", "host")
	check("OnePassword.AuditEvent", map[string]any{
		"event.category": []any{"configuration"}, "event.action": "grant", "user.id": "A1", "user.name": "Ann Admin",
		"user.email": "ann@example.com", "source.ip": "198.51.100.4", "related.user": []any{"Ann Admin", "A1", "U7"},
		"onepassword.actor_details.uuid": "A1", "onepassword.session.uuid": "S9", "onepassword.aux_info": "R",
	}, "onepassword.actor_uuid", "onepassword.actor_details.email", "onepassword.session.ip", "onepassword.action")

	// Another mapping in the same directory is refused.
	if _, err := Run(t.Context(), l, Options{Out: out, Since: day(10, 0), Until: day(11, 0)}); err == nil {
		t.Error("a Panther export into an ECS directory was accepted")
	}
	if _, err := os.Stat(filepath.Join(out, ManifestName)); err != nil {
		t.Fatal(err)
	}
	for _, lt := range logtype.All() {
		if _, err := NewECSTable(lt); err != nil {
			t.Error(err)
		}
	}
}
