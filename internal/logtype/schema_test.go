package logtype

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllOrderAndLookups(t *testing.T) {
	want := []struct{ name, table, feature string }{
		{"OnePassword.SignInAttempt", "onepassword_signinattempt", "signinattempts"},
		{"OnePassword.ItemUsage", "onepassword_itemusage", "itemusages"},
		{"OnePassword.AuditEvent", "onepassword_auditevent", "auditevents"},
	}
	all := All()
	if len(all) != len(want) {
		t.Fatalf("All() has %d log types, want %d", len(all), len(want))
	}
	for i, w := range want {
		lt := all[i]
		if lt.Name != w.name || lt.Table != w.table || lt.Feature != w.feature {
			t.Errorf("All()[%d] = %s %s %s, want %s %s %s", i, lt.Name, lt.Table, lt.Feature, w.name, w.table, w.feature)
		}
		// Panther's rule: the log type lowercased, dots made underscores.
		if table := strings.ReplaceAll(strings.ToLower(lt.Name), ".", "_"); table != lt.Table {
			t.Errorf("%s: table %s, want %s", lt.Name, lt.Table, table)
		}
		if lt.Description == "" || !strings.HasPrefix(lt.ReferenceURL, "https://") {
			t.Errorf("%s: description %q, reference %q", lt.Name, lt.Description, lt.ReferenceURL)
		}
		if got := ByName(w.name); got == nil || got.Name != w.name {
			t.Errorf("ByName(%q) = %v", w.name, got)
		}
		if got := ByFeature(w.feature); got == nil || got.Name != w.name {
			t.Errorf("ByFeature(%q) = %v", w.feature, got)
		}
	}
	for _, bad := range []string{"", "onepassword.signinattempt", "OnePassword.Nope", "signinattempts"} {
		if ByName(bad) != nil {
			t.Errorf("ByName(%q) is not nil", bad)
		}
	}
	if ByFeature("OnePassword.SignInAttempt") != nil || ByFeature("") != nil {
		t.Error("ByFeature accepts a log type name or nothing")
	}
}

// Each call returns its own values: a caller changing one cannot change
// another's schema.
func TestAllFresh(t *testing.T) {
	a := All()
	a[0].Fields[0].Name = "changed"
	a[0].Fields[7].Fields[0].Name = "changed"
	b := All()
	if b[0].Fields[0].Name != "uuid" || b[0].Fields[7].Fields[0].Name != "uuid" {
		t.Error("a change to one All() result shows in the next")
	}
}

// walk calls fn for every field, with its dotted path.
func walk(fields []Field, prefix string, fn func(path string, f Field)) {
	for _, f := range fields {
		fn(prefix+f.Name, f)
		walk(f.Fields, prefix+f.Name+".", fn)
	}
}

func TestSchemaRules(t *testing.T) {
	types := map[FieldType]bool{String: true, Timestamp: true, BigInt: true, Float: true, Boolean: true, Object: true, Array: true}
	for _, lt := range All() {
		// The top-level order is the API's, starting uuid, then timestamp
		// (sign-in attempts have session_uuid between them).
		if lt.Fields[0].Name != "uuid" {
			t.Errorf("%s: first field %s", lt.Name, lt.Fields[0].Name)
		}
		walk(lt.Fields, "", func(path string, f Field) {
			if !types[f.Type] {
				t.Errorf("%s %s: unknown type %q", lt.Name, path, f.Type)
			}
			if required := path == "uuid" || path == "timestamp"; f.Required != required {
				t.Errorf("%s %s: required = %v, want %v", lt.Name, path, f.Required, required)
			}
			if len(f.Description) < 10 || !strings.HasSuffix(f.Description, ".") {
				t.Errorf("%s %s: description %q is not a sentence", lt.Name, path, f.Description)
			}
			if (f.Type == Object) != (len(f.Fields) > 0) {
				t.Errorf("%s %s: type %s with %d members", lt.Name, path, f.Type, len(f.Fields))
			}
			if f.Indicator != "" && f.Type != String {
				t.Errorf("%s %s: indicator on a %s", lt.Name, path, f.Type)
			}
		})
		// Names are unique within each object.
		var unique func(fields []Field, where string)
		unique = func(fields []Field, where string) {
			seen := map[string]bool{}
			for _, f := range fields {
				if seen[f.Name] {
					t.Errorf("%s: %s appears twice in %s", lt.Name, f.Name, where)
				}
				seen[f.Name] = true
				unique(f.Fields, f.Name)
			}
		}
		unique(lt.Fields, "the event")
	}
}

func TestIndicatorFields(t *testing.T) {
	want := map[string]map[string]string{
		"OnePassword.SignInAttempt": {"target_user.email": "email", "client.ip_address": "ip"},
		"OnePassword.ItemUsage":     {"user.email": "email", "client.ip_address": "ip"},
		"OnePassword.AuditEvent": {"actor_details.email": "email", "object_details.email": "email",
			"aux_details.email": "email", "session.ip": "ip"},
	}
	for _, lt := range All() {
		got := map[string]string{}
		walk(lt.Fields, "", func(path string, f Field) {
			if f.Indicator != "" {
				got[path] = f.Indicator
			}
		})
		if diff := cmp.Diff(want[lt.Name], got); diff != "" {
			t.Errorf("%s indicators (-want +got):\n%s", lt.Name, diff)
		}
		// Parse extracts them all: the uuid plus one slot per indicator.
		if n := len(lt.plan.kinds); n != len(got)+1 || n > maxSlots {
			t.Errorf("%s: the plan extracts %d values, want %d", lt.Name, n, len(got)+1)
		}
	}
}

func TestSince(t *testing.T) {
	want := map[string]map[string]string{
		"OnePassword.SignInAttempt": {"location": "1.2.0", "account_uuid": "v2",
			"target_user.user_type": "v2", "target_user.user_account_uuid": "v2"},
		"OnePassword.ItemUsage": {"location": "1.2.0", "action": "1.2.0", "account_uuid": "v2",
			"user.user_type": "v2", "user.user_account_uuid": "v2"},
		"OnePassword.AuditEvent": {"actor_type": "v2", "actor_account_uuid": "v2", "account_uuid": "v2",
			"actor_details.user_type": "v2", "actor_details.user_account_uuid": "v2"},
	}
	for _, lt := range All() {
		got := map[string]string{}
		walk(lt.Fields, "", func(path string, f Field) {
			if f.Since != "" {
				got[path] = f.Since
			}
		})
		if diff := cmp.Diff(want[lt.Name], got); diff != "" {
			t.Errorf("%s Since (-want +got):\n%s", lt.Name, diff)
		}
	}
}

// The objects of each log type have the members 1Password documents.
func TestNestedFields(t *testing.T) {
	members := func(lt *LogType, name string) []string {
		for _, f := range lt.Fields {
			if f.Name == name {
				var names []string
				for _, m := range f.Fields {
					names = append(names, m.Name)
				}
				return names
			}
		}
		return nil
	}
	user := []string{"uuid", "name", "email", "user_type", "user_account_uuid"}
	client := []string{"app_name", "app_version", "platform_name", "platform_version", "os_name", "os_version", "ip_address"}
	location := []string{"country", "region", "city", "latitude", "longitude"}
	si, iu, ae := SignInAttempt(), ItemUsage(), AuditEvent()
	for _, c := range []struct {
		lt     *LogType
		object string
		want   []string
	}{
		{si, "target_user", user}, {si, "client", client}, {si, "location", location}, {si, "details", []string{"value"}},
		{iu, "user", user}, {iu, "client", client}, {iu, "location", location},
		{ae, "actor_details", user}, {ae, "object_details", []string{"uuid", "name", "email"}},
		{ae, "aux_details", []string{"uuid", "name", "email"}}, {ae, "location", location},
		{ae, "session", []string{"uuid", "login_time", "device_uuid", "ip"}},
	} {
		if diff := cmp.Diff(c.want, members(c.lt, c.object)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.lt.Name, c.object, diff)
		}
	}
}

func TestPantherFields(t *testing.T) {
	var names []string
	for _, f := range PantherFields() {
		names = append(names, f.Name)
		if f.Description == "" {
			t.Errorf("%s has no description", f.Name)
		}
	}
	want := []string{"p_log_type", "p_row_id", "p_event_time", "p_parse_time", "p_source_id",
		"p_source_label", "p_any_ip_addresses", "p_any_emails"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("PantherFields (-want +got):\n%s", diff)
	}
}
