package logtype

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/jsonscan"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// minimal is the smallest event every log type accepts.
const minimal = `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z"}`

func TestParse(t *testing.T) {
	si, iu, ae := SignInAttempt(), ItemUsage(), AuditEvent()
	tests := []struct {
		name    string
		lt      *LogType
		raw     string
		want    Event // Raw is always raw when there is no error
		wantErr string
	}{
		// Documented shapes.
		{name: "sign-in v1", lt: si, raw: signInV1, want: Event{
			UUID: "HGIF4OEWXDTVWKEQDIWTKV26HU", Time: utc("2024-08-11T14:28:03Z"),
			IPs: []string{"203.0.113.7"}, Emails: []string{"ada@example.com"}}},
		{name: "sign-in v2", lt: si, raw: signInV2, want: Event{
			UUID: "56YE2TYN2VFYRLNSHKPW5NVT5E", Time: utc("2025-03-01T16:32:50.24645983Z"),
			IPs: []string{"2001:db8::7"}, Emails: []string{"grace@example.com"}}},
		{name: "item usage v1 with offset", lt: iu, raw: itemUsageV1, want: Event{
			UUID: "MCQODBBWJD5HISKYNP3HJPV2DV", Time: utc("2024-08-30T21:57:42.484Z"),
			IPs: []string{"203.0.113.7"}, Emails: []string{"ada@example.com"}}},
		{name: "item usage v2", lt: iu, raw: itemUsageV2, want: Event{
			UUID: "5HBWJDWCQADISKY2DVBNP3HJPV", Time: utc("2025-07-28T19:10:00.123456789Z"),
			IPs: []string{"198.51.100.23"}, Emails: []string{"ada@example.com"}}},
		{name: "audit event v1", lt: ae, raw: auditV1, want: Event{
			UUID: "3UQOGUC7DVOCN4OZP2MDKHFLSG", Time: utc("2024-10-24T21:16:52.827288935Z"),
			IPs: []string{"192.0.2.254"}, Emails: []string{"ada@example.com", "grace@example.com"}}},
		{name: "audit event v2", lt: ae, raw: auditV2, want: Event{
			UUID: "WUI6VO2US6XYKRUILGXAKNIZ5L", Time: utc("2025-07-28T19:32:38.4407491Z"),
			IPs: []string{"2001:0db8:85a3:0000:0000:8a2e:0370:7334"}, Emails: []string{"ada@example.com"}}},
		{name: "only the required fields", lt: ae, raw: minimal, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "spaces around and inside", lt: si, raw: " \n\t{ \"uuid\" : \"U1\" ,\r\n \"timestamp\" : \"2025-01-02T03:04:05Z\" } \n",
			want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},

		// Required fields.
		{name: "missing uuid", lt: si, raw: `{"timestamp":"2025-01-02T03:04:05Z"}`, wantErr: "uuid: required, but missing"},
		{name: "empty uuid", lt: iu, raw: `{"uuid":"","timestamp":"2025-01-02T03:04:05Z"}`, wantErr: "uuid: is empty; a non-empty string is required"},
		{name: "null uuid", lt: ae, raw: `{"uuid":null,"timestamp":"2025-01-02T03:04:05Z"}`, wantErr: "uuid: is null; a string is required"},
		{name: "number uuid", lt: ae, raw: `{"uuid":42,"timestamp":"2025-01-02T03:04:05Z"}`, wantErr: "uuid: expected a string, got a number"},
		{name: "missing timestamp", lt: si, raw: `{"uuid":"U1"}`, wantErr: "timestamp: required, but missing"},
		{name: "missing both: first in schema order", lt: si, raw: `{}`, wantErr: "uuid: required, but missing"},
		{name: "unparseable timestamp", lt: si, raw: `{"uuid":"U1","timestamp":"yesterday"}`, wantErr: `timestamp: not an RFC 3339 time: "yesterday"`},
		{name: "Panther's lake format is not RFC 3339", lt: iu, raw: `{"uuid":"U1","timestamp":"2022-02-23 22:11:50.591"}`, wantErr: `timestamp: not an RFC 3339 time: "2022-02-23 22:11:50.591"`},
		{name: "timestamp without zone", lt: iu, raw: `{"uuid":"U1","timestamp":"2022-02-23T22:11:50"}`, wantErr: `timestamp: not an RFC 3339 time: "2022-02-23T22:11:50"`},
		{name: "timestamp 30 February", lt: iu, raw: `{"uuid":"U1","timestamp":"2024-02-30T22:11:50Z"}`, wantErr: `timestamp: not an RFC 3339 time: "2024-02-30T22:11:50Z"`},
		{name: "timestamp as a number", lt: iu, raw: `{"uuid":"U1","timestamp":1700000000}`, wantErr: `timestamp: expected an RFC 3339 time string, got a number`},
		{name: "timestamp null", lt: iu, raw: `{"uuid":"U1","timestamp":null}`, wantErr: `timestamp: is null; an RFC 3339 time string is required`},

		// Times.
		{name: "negative offset to UTC", lt: si, raw: `{"uuid":"U1","timestamp":"2020-06-11T16:32:50-03:00"}`, want: Event{UUID: "U1", Time: utc("2020-06-11T19:32:50Z")}},
		{name: "positive offset across midnight", lt: si, raw: `{"uuid":"U1","timestamp":"2021-01-01T01:30:00.5+05:30"}`, want: Event{UUID: "U1", Time: utc("2020-12-31T20:00:00.5Z")}},
		{name: "more than nine fractional digits", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05.1234567899Z"}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05.123456789Z")}},
		{name: "leap day", lt: si, raw: `{"uuid":"U1","timestamp":"2024-02-29T00:00:00Z"}`, want: Event{UUID: "U1", Time: utc("2024-02-29T00:00:00Z")}},
		{name: "escaped timestamp", lt: si, raw: `{"uuid":"U1","timestamp":"\u0032025-01-02T03:04:05Z"}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},

		// Types at depth.
		{name: "ip_address a number", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","client":{"ip_address":1234}}`, wantErr: "client.ip_address: expected a string, got a number"},
		{name: "target_user a string", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","target_user":"ada"}`, wantErr: "target_user: expected an object, got a string"},
		{name: "email an object", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","target_user":{"email":{"a":1}}}`, wantErr: "target_user.email: expected a string, got an object"},
		{name: "latitude a string", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","location":{"latitude":"43.6"}}`, wantErr: "location.latitude: expected a number, got a string"},
		{name: "login_time not a time", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","session":{"login_time":"2025-13-01T00:00:00Z"}}`, wantErr: `session.login_time: not an RFC 3339 time: "2025-13-01T00:00:00Z"`},
		{name: "used_version a fraction", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","used_version":1.5}`, wantErr: "used_version: expected an integer, got 1.5"},
		{name: "used_version an exponent", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","used_version":1e3}`, wantErr: "used_version: expected an integer, got 1e3"},
		{name: "used_version a boolean", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","used_version":true}`, wantErr: "used_version: expected an integer, got a boolean"},
		{name: "aux_id beyond int64", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","aux_id":9223372036854775808}`, wantErr: "aux_id: 9223372036854775808 does not fit in a 64-bit integer"},
		{name: "aux_id huge", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","aux_id":123456789012345678901234567890}`, wantErr: "aux_id: 123456789012345678901234567890 does not fit in a 64-bit integer"},
		{name: "latitude beyond float64", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","location":{"latitude":1e400}}`, wantErr: "location.latitude: 1e400 does not fit in a 64-bit floating-point number"},
		{name: "int64 limits and big floats fit", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","aux_id":-9223372036854775808,"location":{"latitude":1.7e308,"longitude":-1e-400}}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "huge numbers in unknown fields", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","x":1e99999,"y":123456789012345678901234567890}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "first problem wins", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","country":1,"category":2}`, wantErr: "country: expected a string, got a number"},

		// null and unknown values.
		{name: "details null", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","details":null,"client":null,"location":null,"country":null}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "null indicators", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","actor_details":{"email":null},"session":{"ip":null}}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "unknown fields at every depth", lt: si, raw: `{"uuid":"U1","new":{"a":[1,2.5e-3,{"b":null,"c":[true,false]}],"d":""},"timestamp":"2025-01-02T03:04:05Z","client":{"ip_address":"203.0.113.9","future":{"x":1}},"details":{"value":"Europe","rule":"r1"},"p_log_type":"OnePassword.SignInAttempt"}`,
			want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z"), IPs: []string{"203.0.113.9"}}},
		{name: "unknown enum values", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","category":"brand_new_category","type":"u2f_timout"}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "documentation typo client.ip is unknown", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","client":{"ip":"13.227.95.22"}}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "key case matters", lt: si, raw: `{"UUID":"U2","uuid":"U1","Timestamp":1,"timestamp":"2025-01-02T03:04:05Z"}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},

		// Not an object, not JSON.
		{name: "array", lt: si, raw: `[` + minimal + `]`, wantErr: "not a JSON object: the event is an array"},
		{name: "string", lt: si, raw: `"U1"`, wantErr: "not a JSON object: the event is a string"},
		{name: "number", lt: si, raw: ` 42 `, wantErr: "not a JSON object: the event is a number"},
		{name: "null", lt: si, raw: `null`, wantErr: "not a JSON object: the event is null"},
		{name: "empty", lt: si, raw: ``, wantErr: "not valid JSON: the event is empty"},
		{name: "only spaces", lt: si, raw: " \n ", wantErr: "not valid JSON: the event is empty"},
		{name: "trailing comma", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z",}`, wantErr: `not valid JSON: unexpected '}' looking for an object key at offset 48`},
		{name: "unquoted key", lt: si, raw: `{uuid:"U1"}`, wantErr: `not valid JSON: unexpected 'u' looking for an object key at offset 1`},
		{name: "single quotes", lt: si, raw: `{'uuid':'U1'}`, wantErr: `not valid JSON: unexpected '\'' looking for an object key at offset 1`},
		{name: "cut short", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01`, wantErr: "not valid JSON: unexpected end of input in string at offset 33"},
		{name: "cut after value", lt: si, raw: `{"uuid":"U1"`, wantErr: "not valid JSON: unexpected end of input after object value at offset 12"},
		{name: "trailing garbage", lt: si, raw: minimal + ` x`, wantErr: "not valid JSON: unexpected data after the event at offset 49"},
		{name: "two objects", lt: si, raw: minimal + minimal, wantErr: "not valid JSON: unexpected data after the event at offset 48"},
		{name: "syntax error after a type error", lt: si, raw: `{"uuid":1,"timestamp":"2025-01-02T03:04:05Z",`, wantErr: "not valid JSON: unexpected end of input looking for an object key at offset 45"},
		{name: "raw newline in string", lt: si, raw: "{\"uuid\":\"U\n1\"}", wantErr: "not valid JSON: control character 0x0a in string at offset 10"},
		{name: "bad escape", lt: si, raw: `{"uuid":"U\x41"}`, wantErr: `not valid JSON: unexpected 'x' after backslash in string at offset 11`},
		{name: "short unicode escape", lt: si, raw: `{"uuid":"U\u41"}`, wantErr: `not valid JSON: unexpected '"' in \u escape at offset 14`},
		{name: "leading zero", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","used_version":01}`, wantErr: `not valid JSON: unexpected '1' after object value at offset 64`},
		{name: "bare minus", lt: iu, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","used_version":-}`, wantErr: `not valid JSON: unexpected '}' in number at offset 64`},
		{name: "misspelt literal", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","details":nul}`, wantErr: `not valid JSON: unexpected '}' in literal null at offset 61`},
		{name: "not UTF-8", lt: si, raw: "{\"uuid\":\"U\xff1\",\"timestamp\":\"2025-01-02T03:04:05Z\"}", wantErr: "not UTF-8 text: invalid byte 0xff at offset 10"},
		{name: "byte order mark", lt: si, raw: "\xef\xbb\xbf" + minimal, wantErr: "not valid JSON: unexpected byte 0xef looking for a value at offset 0"},

		// Escapes.
		{name: "escaped uuid", lt: si, raw: `{"uuid":"\u0041B\"C\\\/","timestamp":"2025-01-02T03:04:05Z"}`, want: Event{UUID: `AB"C\/`, Time: utc("2025-01-02T03:04:05Z")}},
		{name: "escaped email and IP", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","target_user":{"email":"ada\u0040example.com"},"client":{"ip_address":"203.0.113.\u0037"}}`,
			want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z"), IPs: []string{"203.0.113.7"}, Emails: []string{"ada@example.com"}}},
		{name: "escaped key", lt: si, raw: `{"\u0075uid":"U1","times\u0074amp":"2025-01-02T03:04:05Z","client":{"ip_\u0061ddress":"203.0.113.7"}}`,
			want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z"), IPs: []string{"203.0.113.7"}}},
		{name: "surrogate pair and lone surrogate", lt: si, raw: `{"uuid":"\ud83d\ude00-\ud800-\udc00\u0041","timestamp":"2025-01-02T03:04:05Z"}`,
			want: Event{UUID: "\U0001F600-\uFFFD-\uFFFDA", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "UTF-8 text", lt: si, raw: `{"uuid":"Ünïcødé ✓ 😀","timestamp":"2025-01-02T03:04:05Z","target_user":{"name":"Zoë","email":"zoë@exämple.com"}}`,
			want: Event{UUID: "Ünïcødé ✓ 😀", Time: utc("2025-01-02T03:04:05Z"), Emails: []string{"zoë@exämple.com"}}},

		// Duplicate keys: every occurrence is checked, the last one counts.
		{name: "duplicate uuid", lt: si, raw: `{"uuid":"FIRST","timestamp":"2025-01-02T03:04:05Z","uuid":"LAST"}`, want: Event{UUID: "LAST", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "duplicate timestamp", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","timestamp":"2026-01-02T03:04:05Z"}`, want: Event{UUID: "U1", Time: utc("2026-01-02T03:04:05Z")}},
		{name: "duplicate object forgets the first", lt: si, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","client":{"ip_address":"192.0.2.1"},"target_user":{"email":"a@x"},"client":{"os_name":"MacOSX"}}`,
			want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z"), Emails: []string{"a@x"}}},
		{name: "object then null", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","session":{"ip":"192.0.2.1"},"session":null}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z")}},
		{name: "duplicate indicator", lt: ae, raw: `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","session":{"ip":"192.0.2.1","ip":"192.0.2.2"}}`, want: Event{UUID: "U1", Time: utc("2025-01-02T03:04:05Z"), IPs: []string{"192.0.2.2"}}},
		{name: "bad first occurrence", lt: si, raw: `{"uuid":1,"uuid":"U1","timestamp":"2025-01-02T03:04:05Z"}`, wantErr: "uuid: expected a string, got a number"},
		{name: "empty first occurrence", lt: si, raw: `{"uuid":"","uuid":"U1","timestamp":"2025-01-02T03:04:05Z"}`, wantErr: "uuid: is empty; a non-empty string is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := tt.lt.Parse([]byte(tt.raw))
			if tt.wantErr != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Parse() error = %v, want a *ValidationError %q", err, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Fatalf("Parse() error = %q, want %q", err.Error(), tt.wantErr)
				}
				if !cmp.Equal(ev, Event{}) {
					t.Errorf("Parse() returned %+v with an error, want a zero Event", ev)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if string(ev.Raw) != tt.raw {
				t.Errorf("Raw = %q, want the input unchanged", ev.Raw)
			}
			ev.Raw = nil
			if diff := cmp.Diff(tt.want, ev); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
			if ev.Time.Location() != time.UTC {
				t.Errorf("Time is in %v, want UTC", ev.Time.Location())
			}
		})
	}
}

// Every event accepted above must be valid JSON and read the same through
// encoding/json; the fuzz test checks this more widely.
func TestParseAgreesWithEncodingJSON(t *testing.T) {
	for _, raw := range []string{signInV1, signInV2, itemUsageV1, itemUsageV2, auditV1, auditV2} {
		var m struct {
			UUID      string    `json:"uuid"`
			Timestamp time.Time `json:"timestamp"`
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		for _, lt := range All() {
			ev, err := lt.Parse([]byte(raw))
			if err != nil {
				t.Fatalf("%s: %v", lt.Name, err)
			}
			if ev.UUID != m.UUID || !ev.Time.Equal(m.Timestamp) {
				t.Errorf("%s: got %q %v, encoding/json reads %q %v", lt.Name, ev.UUID, ev.Time, m.UUID, m.Timestamp)
			}
		}
	}
}

// json.Valid rejects nesting deeper than 10,000 levels, so Parse does too.
func TestParseNestingLimit(t *testing.T) {
	nest := func(levels int) []byte {
		// The event object is level 1; the arrays in field x make the rest.
		return []byte(`{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","x":` +
			strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `}`)
	}
	for _, levels := range []int{2, jsonscan.MaxDepth, jsonscan.MaxDepth + 1} {
		raw := nest(levels)
		_, err := SignInAttempt().Parse(raw)
		if valid := json.Valid(raw); (err == nil) != valid {
			t.Errorf("%d levels: Parse error %v, json.Valid %v", levels, err, valid)
		}
	}
	_, err := SignInAttempt().Parse(nest(jsonscan.MaxDepth + 1))
	if err == nil || !strings.Contains(err.Error(), "nested more than 10000 levels deep") {
		t.Errorf("too deep: error %v, want one about nesting", err)
	}
	// The limit holds in known objects too.
	deep := []byte(`{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z","details":{"x":` +
		strings.Repeat("[", jsonscan.MaxDepth-2) + strings.Repeat("]", jsonscan.MaxDepth-2) + `}}`)
	if _, err := SignInAttempt().Parse(deep); (err == nil) != json.Valid(deep) {
		t.Errorf("deep in details: Parse error %v, json.Valid %v", err, json.Valid(deep))
	}
}

// A LogType built by hand, without the constructors, parses the same.
func TestParseUncompiled(t *testing.T) {
	lt := &LogType{Name: "X", Fields: SignInAttempt().Fields}
	ev, err := lt.Parse([]byte(signInV2))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := SignInAttempt().Parse([]byte(signInV2))
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("mismatch (-compiled +uncompiled):\n%s", diff)
	}
}

// Plans are shared: Parse must be safe to call from many goroutines.
func TestParseConcurrent(t *testing.T) {
	lt := AuditEvent()
	want, err := lt.Parse([]byte(auditV2))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 200 {
				ev, err := lt.Parse([]byte(auditV2))
				if err != nil || ev.UUID != want.UUID || !ev.Time.Equal(want.Time) ||
					!slices.Equal(ev.IPs, want.IPs) || !slices.Equal(ev.Emails, want.Emails) {
					errs <- errors.New("concurrent Parse gave a different result")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
