package detect

import (
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// Typical events of each log type, in the Events API's wire form: a
// successful and a failed sign-in, an item usage, an audit event.
var benchEvents = []struct{ lt, raw string }{
	{"OnePassword.SignInAttempt", `{"uuid":"56YE2TYN2VFYRLNSHKPW5NVT5A","session_uuid":"A5K6COGVRVEJXJW3XQZGS7VAMM","timestamp":"2024-03-01T12:00:00.123456Z","category":"success","type":"credentials_ok","country":"CA","details":null,"target_user":{"uuid":"IR7VJHJ36JHINBFAD7V2T5MP3E","name":"Ada Lovelace","email":"ada@example.com","type":"user"},"client":{"app_name":"1Password for Mac","app_version":"81032003","platform_name":"Chrome","platform_version":"122.0","os_name":"MacOSX","os_version":"14.3","ip_address":"198.51.100.7"},"location":{"country":"CA","region":"Ontario","city":"Toronto","latitude":43.65,"longitude":-79.38}}`},
	{"OnePassword.SignInAttempt", `{"uuid":"56YE2TYN2VFYRLNSHKPW5NVT5E","session_uuid":"A5K6COGVRVEJXJW3XQZGS7VAMM","timestamp":"2024-03-01T12:00:00.123456Z","category":"credentials_failed","type":"password_secret_bad","country":"CA","details":null,"target_user":{"uuid":"IR7VJHJ36JHINBFAD7V2T5MP3E","name":"Ada Lovelace","email":"ada@example.com","type":"user"},"client":{"app_name":"1Password for Mac","app_version":"81032003","platform_name":"Chrome","platform_version":"122.0","os_name":"MacOSX","os_version":"14.3","ip_address":"198.51.100.7"},"location":{"country":"CA","region":"Ontario","city":"Toronto","latitude":43.65,"longitude":-79.38}}`},
	{"OnePassword.ItemUsage", `{"uuid":"SDGD3I4AJYO6RMHRK2OOZQ4V4E","timestamp":"2024-03-01T12:00:01.5Z","used_version":2,"vault_uuid":"7TUOHZ6ZKBS5IBM7R5PNRKVFOA","item_uuid":"ecd1d435c26440dc930ddfbbef201a12","action":"reveal","user":{"uuid":"IR7VJHJ36JHINBFAD7V2T5MP3E","name":"Ada Lovelace","email":"ada@example.com"},"client":{"app_name":"1Password Browser Extension","app_version":"20240","platform_name":"Chrome","platform_version":"122","os_name":"MacOSX","os_version":"14.3","ip_address":"198.51.100.7"},"location":{"country":"CA","region":"Ontario","city":"Toronto","latitude":43.65,"longitude":-79.38}}`},
	{"OnePassword.AuditEvent", `{"uuid":"56YE2TYN2VFYRLNSHKPW5NVT5F","timestamp":"2024-03-01T12:00:02Z","actor_uuid":"IR7VJHJ36JHINBFAD7V2T5MP3E","actor_details":{"uuid":"IR7VJHJ36JHINBFAD7V2T5MP3E","name":"Ada Lovelace","email":"ada@example.com"},"action":"join","object_type":"gm","object_uuid":"pf8soyakgngrphytsyjed4ae3u","object_details":{"uuid":"pf8soyakgngrphytsyjed4ae3u","name":"Engineering","email":""},"aux_id":12345,"aux_uuid":"ZRQCUD6A65AKHFETOUFO7NL4OM","aux_details":{"uuid":"ZRQCUD6A65AKHFETOUFO7NL4OM","name":"Bob","email":"bob@example.com"},"aux_info":"A","session":{"uuid":"A5K6COGVRVEJXJW3XQZGS7VAMM","login_time":"2024-03-01T11:00:00Z","device_uuid":"lc5fqgbrcm4plajd2qqdwqlgsm","ip":"198.51.100.7"},"location":{"country":"CA","region":"Ontario","city":"Toronto","latitude":43.65,"longitude":-79.38}}`},
}

func storedEvents(b *testing.B) []store.StoredEvent {
	var out []store.StoredEvent
	for i, e := range benchEvents {
		p, err := logtype.ByName(e.lt).Parse([]byte(e.raw))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, store.StoredEvent{Seq: int64(i + 1), LogType: e.lt, UUID: p.UUID, EventTime: p.Time, ParseTime: p.Time,
			SourceID: "src", SourceLabel: "main", RowID: "0123456789abcdef0123456789abcdef", IPs: p.IPs, Emails: p.Emails, Raw: p.Raw})
	}
	return out
}

// BenchmarkEvaluate: one simple rule on one already-wrapped event.
func BenchmarkEvaluate(b *testing.B) {
	s, err := LoadDir("testdata/rules")
	if err != nil {
		b.Fatal(err)
	}
	r := s.Rule("Example.Unusual.Client")
	ev := NewEvent(storedEvents(b)[0], nil)
	st := MemState{}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if o := r.Evaluate(ev, st, now); o.Err != nil {
			b.Fatal(o.Err)
		}
	}
}

// BenchmarkPackPerEvent: every enabled built-in rule of each event's log
// type on a freshly wrapped event (decoded once, shared by the rules), the
// three log types in turn. ns/op is per event.
func BenchmarkPackPerEvent(b *testing.B) {
	s, err := LoadBuiltin()
	if err != nil {
		b.Fatal(err)
	}
	evs := storedEvents(b)
	st := MemState{}
	now := time.Now()
	rules := 0
	for _, e := range evs {
		rules += len(s.ForLogType(e.LogType))
	}
	b.ReportMetric(float64(rules)/float64(len(evs)), "rules/event")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		se := evs[i%len(evs)]
		i++
		ev := NewEvent(se, nil)
		for _, r := range s.ForLogType(se.LogType) {
			if o := r.Evaluate(ev, st, now); o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
}

// BenchmarkRules: each enabled built-in rule alone, on each event of its
// log types (decoded already): which rules cost the most.
func BenchmarkRules(b *testing.B) {
	s, err := LoadBuiltin()
	if err != nil {
		b.Fatal(err)
	}
	evs := storedEvents(b)
	now := time.Now()
	for _, se := range evs {
		ev := NewEvent(se, nil)
		for _, r := range s.ForLogType(se.LogType) {
			b.Run(r.ID, func(b *testing.B) {
				st := MemState{}
				b.ReportAllocs()
				for b.Loop() {
					if o := r.Evaluate(ev, st, now); o.Err != nil {
						b.Fatal(o.Err)
					}
				}
			})
		}
	}
}

// BenchmarkPackMix: as BenchmarkPackPerEvent, over a mix nearer a real
// account's (item usages dominate; a failed sign-in is one event in ten):
// 6 item usages, 2 successful sign-ins, 1 failed, 1 audit event.
func BenchmarkPackMix(b *testing.B) {
	s, err := LoadBuiltin()
	if err != nil {
		b.Fatal(err)
	}
	evs := storedEvents(b) // success, failure, item usage, audit
	mix := []store.StoredEvent{evs[2], evs[0], evs[2], evs[2], evs[1], evs[2], evs[0], evs[2], evs[3], evs[2]}
	st := MemState{}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		se := mix[i%len(mix)]
		i++
		ev := NewEvent(se, nil)
		for _, r := range s.ForLogType(se.LogType) {
			if o := r.Evaluate(ev, st, now); o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
}

// BenchmarkDecode: wrapping and decoding one stored event (done once per
// event, whatever the number of rules).
func BenchmarkDecode(b *testing.B) {
	evs := storedEvents(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := NewEvent(evs[i%len(evs)], nil).Value(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPackMixGuards: BenchmarkPackMix with the rules' guards and
// without them (each module as it was before guards).
func BenchmarkPackMixGuards(b *testing.B) {
	for _, guards := range []bool{true, false} {
		b.Run(map[bool]string{true: "guards", false: "no-guards"}[guards], func(b *testing.B) {
			s, err := LoadBuiltin()
			if err != nil {
				b.Fatal(err)
			}
			if !guards {
				for _, r := range s.Rules() {
					m := *r.mod
					m.guard = nil
					r.mod = &m
				}
			}
			evs := storedEvents(b)
			mix := []store.StoredEvent{evs[2], evs[0], evs[2], evs[2], evs[1], evs[2], evs[0], evs[2], evs[3], evs[2]}
			st := MemState{}
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				se := mix[i%len(mix)]
				i++
				ev := NewEvent(se, nil)
				for _, r := range s.ForLogType(se.LogType) {
					if o := r.Evaluate(ev, st, now); o.Err != nil {
						b.Fatal(o.Err)
					}
				}
			}
		})
	}
}
