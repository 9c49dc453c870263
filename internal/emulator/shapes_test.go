package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// field is one key of an event on the wire, in order.
type field struct {
	key      string
	optional bool
}

func req(keys ...string) []field {
	f := make([]field, len(keys))
	for i, k := range keys {
		f[i] = field{key: k}
	}
	return f
}

func opt(key string) field { return field{key: key, optional: true} }

func cat(parts ...[]field) []field {
	var out []field
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The key orders observed in real or documented payloads (reference §4).
var wireOrder = map[string][]field{
	"signinattempts v1": cat(req("uuid", "session_uuid", "timestamp", "country", "category", "type", "details", "target_user", "client"), []field{opt("location")}),
	"signinattempts v2": cat(req("uuid", "session_uuid", "timestamp", "category", "type", "country", "details", "target_user", "client"), []field{opt("location")}, req("account_uuid")),
	"itemusages v1":     cat(req("uuid", "timestamp", "used_version", "vault_uuid", "item_uuid", "user", "client"), []field{opt("location")}, req("action")),
	"itemusages v2":     cat(req("uuid", "timestamp", "used_version", "vault_uuid", "item_uuid", "user", "client"), []field{opt("location")}, req("action", "account_uuid")),
	"auditevents v1": cat(req("uuid", "timestamp", "actor_uuid", "actor_details", "action", "object_type", "object_uuid"),
		[]field{opt("object_details"), opt("aux_id"), opt("aux_uuid"), opt("aux_details"), opt("aux_info")}, req("session"), []field{opt("location")}),
	"auditevents v2": cat(req("uuid", "timestamp", "actor_uuid", "actor_details", "action", "object_type", "object_uuid"),
		[]field{opt("object_details"), opt("aux_id"), opt("aux_uuid"), opt("aux_details"), opt("aux_info")}, req("session"), []field{opt("location")},
		req("actor_type"), []field{opt("actor_account_uuid")}, req("account_uuid")),
}

var (
	userOrder     = cat(req("uuid", "name", "email"), []field{opt("user_type"), opt("user_account_uuid")})
	detailsOrder  = req("uuid", "name", "email")
	clientOrder   = req("app_name", "app_version", "platform_name", "platform_version", "os_name", "os_version", "ip_address")
	locationOrder = req("country", "region", "city", "latitude", "longitude")
	sessionOrder  = req("uuid", "login_time", "device_uuid", "ip")
)

// object is a JSON object with its keys in wire order.
type object struct {
	keys   []string
	values map[string]json.RawMessage
}

func decodeObject(t testing.TB, raw []byte) object {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	o := object{values: map[string]json.RawMessage{}}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", raw)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		k := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if _, dup := o.values[k]; dup {
			t.Fatalf("duplicate key %q in %s", k, raw)
		}
		o.keys = append(o.keys, k)
		o.values[k] = v
	}
	return o
}

// checkOrder reports whether keys follow want: every required key present,
// optional ones only where listed, nothing else.
func checkOrder(keys []string, want []field) error {
	i := 0
	for _, f := range want {
		if i < len(keys) && keys[i] == f.key {
			i++
			continue
		}
		if !f.optional {
			return fmt.Errorf("keys %v: missing or misplaced %q", keys, f.key)
		}
	}
	if i != len(keys) {
		return fmt.Errorf("keys %v: unexpected %q", keys, keys[i])
	}
	return nil
}

func (o object) str(t testing.TB, k string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(o.values[k], &s); err != nil {
		t.Fatalf("%s = %s: not a string", k, o.values[k])
	}
	return s
}

func (o object) sub(t testing.TB, k string, order []field) object {
	t.Helper()
	s := decodeObject(t, o.values[k])
	if err := checkOrder(s.keys, order); err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return s
}

func checkID(t testing.TB, what, s string, upper bool) {
	t.Helper()
	alpha := base32Lower
	if upper {
		alpha = base32Upper
	}
	if len(s) != 26 || strings.Trim(s, alpha) != "" {
		t.Fatalf("%s %q: want a 26-character base32 id (upper case %v)", what, s, upper)
	}
}

func checkTime(t testing.TB, what, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || tm.UTC().Format(time.RFC3339Nano) != s {
		t.Fatalf("%s %q: want RFC 3339 UTC with trimmed nanoseconds", what, s)
	}
	return tm
}

// checkEvent checks one event's shape and returns it decoded.
func checkEvent(t testing.TB, feature string, version int, msp bool, raw []byte) object {
	t.Helper()
	o := decodeObject(t, raw)
	if err := checkOrder(o.keys, wireOrder[fmt.Sprintf("%s v%d", feature, version)]); err != nil {
		t.Fatalf("%s v%d: %v\n%s", feature, version, err, raw)
	}
	checkID(t, "uuid", o.str(t, "uuid"), true)
	checkTime(t, "timestamp", o.str(t, "timestamp"))
	if version == 2 {
		checkID(t, "account_uuid", o.str(t, "account_uuid"), true)
	}
	checkUser := func(k string) {
		u := o.sub(t, k, userOrder)
		checkID(t, k+".uuid", u.str(t, "uuid"), true)
		if !strings.Contains(u.str(t, "email"), "@") {
			t.Fatalf("%s.email %q", k, u.str(t, "email"))
		}
		_, typed := u.values["user_type"]
		if typed != (msp && version == 2) {
			t.Fatalf("%s: user_type present = %v in %s v%d, MSP %v", k, typed, feature, version, msp)
		}
		if typed {
			if ut := u.str(t, "user_type"); ut != "user" && ut != "external_user" {
				t.Fatalf("%s.user_type %q", k, ut)
			}
			checkID(t, k+".user_account_uuid", u.str(t, "user_account_uuid"), true)
		}
	}
	if _, ok := o.values["location"]; ok {
		o.sub(t, "location", locationOrder)
	}
	switch feature {
	case "signinattempts":
		checkID(t, "session_uuid", o.str(t, "session_uuid"), true)
		checkUser("target_user")
		o.sub(t, "client", clientOrder)
		cat := o.str(t, "category")
		if strings.HasPrefix(cat, "firewall_") && o.str(t, "type") != "all_blocked" {
			d := o.sub(t, "details", req("value"))
			if d.str(t, "value") == "" {
				t.Fatalf("firewall sign-in with empty details.value: %s", raw)
			}
		} else if string(o.values["details"]) != "null" {
			t.Fatalf("details = %s, want null for %s: %s", o.values["details"], cat, raw)
		}
	case "itemusages":
		checkID(t, "vault_uuid", o.str(t, "vault_uuid"), false)
		checkID(t, "item_uuid", o.str(t, "item_uuid"), false)
		var v int
		if err := json.Unmarshal(o.values["used_version"], &v); err != nil || v < 1 {
			t.Fatalf("used_version %s", o.values["used_version"])
		}
		checkUser("user")
		o.sub(t, "client", clientOrder)
	case "auditevents":
		checkID(t, "actor_uuid", o.str(t, "actor_uuid"), true)
		checkUser("actor_details")
		if o.sub(t, "actor_details", userOrder).str(t, "uuid") != o.str(t, "actor_uuid") {
			t.Fatalf("actor_details.uuid differs from actor_uuid: %s", raw)
		}
		o.str(t, "object_uuid") // always present, maybe ""
		for _, k := range []string{"object_details", "aux_details"} {
			if _, ok := o.values[k]; ok {
				o.sub(t, k, detailsOrder)
			}
		}
		s := o.sub(t, "session", sessionOrder)
		checkID(t, "session.uuid", s.str(t, "uuid"), true)
		checkID(t, "session.device_uuid", s.str(t, "device_uuid"), false)
		login := checkTime(t, "session.login_time", s.str(t, "login_time"))
		if ts := checkTime(t, "timestamp", o.str(t, "timestamp")); login.After(ts) {
			t.Fatalf("session began after the event: %s", raw)
		}
		if version == 2 {
			at := o.str(t, "actor_type")
			if at != "user" && (at != "external_user" || !msp) {
				t.Fatalf("actor_type %q (MSP %v)", at, msp)
			}
			if _, ok := o.values["actor_account_uuid"]; ok != msp {
				t.Fatalf("actor_account_uuid present = %v with MSP %v", ok, msp)
			}
		}
	}
	return o
}

func TestEventShapes(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 200
	}
	for _, msp := range []bool{false, true} {
		e, err := New(Options{Seed: 3, Events: n, MSP: msp, Now: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range featureNames {
			for _, version := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/v%d/msp=%v", f, version, msp), func(t *testing.T) {
					count := 0
					e.Each("", f, version, func(uuid string, raw []byte) bool {
						o := checkEvent(t, f, version, msp, raw)
						if o.str(t, "uuid") != uuid {
							t.Fatalf("Each gave uuid %q for event %s", uuid, o.str(t, "uuid"))
						}
						count++
						return true
					})
					if count != n {
						t.Errorf("Each yielded %d events, want %d", count, n)
					}
				})
			}
		}
	}
}

// TestServedEqualsEach checks that pages carry exactly the bytes Each gives.
func TestServedEqualsEach(t *testing.T) {
	e := start(t, Options{Seed: 5, Events: 300, Now: newClock().Now})
	tok := token(t, e, TokenOptions{})
	for _, path := range eventPaths {
		f, version := featureOf(path)
		var want [][]byte
		e.Each("", f, version, func(_ string, raw []byte) bool { want = append(want, raw); return true })
		p := fetch(t, e, tok, path, everything)
		if len(p.Items) != len(want) {
			t.Fatalf("%s: %d items, want %d", path, len(p.Items), len(want))
		}
		for i := range want {
			if !bytes.Equal(p.Items[i], want[i]) {
				t.Fatalf("%s item %d:\n got %s\nwant %s", path, i, p.Items[i], want[i])
			}
		}
	}
}
