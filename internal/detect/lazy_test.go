package detect

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Rules read nested fields of a stored event (decoded on first read) and
// every form of get(), from several goroutines at once, as the stage's
// workers do: each sees the same values.
func TestEventLazyFieldsAndGetForms(t *testing.T) {
	r := mustRule(t, `
def rule(event):
    return (event.deep_get("client", "ip_address") == "198.51.100.7" and
        event["location"]["city"] == "Toronto" and
        event.get("target_user")["email"] == "ada@example.com" and
        event.get("nope", "d1") == "d1" and
        event.get("nope", default = "d2") == "d2" and
        event.get(key = "category") == "success" and
        event.get("CATEGORY") == "success" and
        event.get("details", 5) == None and
        event.udm("source_ip") == "198.51.100.7" and
        event.get("p_log_type") == "OnePassword.SignInAttempt" and
        len(event.keys()) > 10)
`)
	ev := NewEvent(storedEventsT(t)[0], nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if o := r.Evaluate(ev, MemState{}, time.Now()); !o.Matched || o.Err != nil {
				t.Errorf("matched %v, err %v: want a match", o.Matched, o.Err)
			}
		})
	}
	wg.Wait()
}

func storedEventsT(t *testing.T) []store.StoredEvent {
	t.Helper()
	var out []store.StoredEvent
	for _, e := range benchEvents[:1] {
		out = append(out, store.StoredEvent{Seq: 1, LogType: e.lt, Raw: []byte(e.raw), IPs: []string{"198.51.100.7"}})
	}
	return out
}

func FuzzFoldEqual(f *testing.F) {
	for _, s := range [][2]string{{"Action", "action"}, {"k", "\u212a"}, {"s", "\u017f"}, {"ab", "abc"}, {"é", "É"}, {"a\xff", "A\xff"}, {"[", "{"}, {"@", "`"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := foldEqual(a, b), strings.EqualFold(a, b); got != want {
			t.Fatalf("foldEqual(%q, %q) = %v, strings.EqualFold says %v", a, b, got, want)
		}
	})
}

// The last of duplicate keys wins, in the first one's place, as Python's
// json: at the top level (lazy) and inside objects.
func TestDuplicateKeysLastWins(t *testing.T) {
	for _, in := range []string{`{"a":1,"b":2,"a":3}`, `{"x":{"a":1,"b":2,"a":3}}`, `{"a":{"c":1},"b":2,"a":3}`} {
		v, err := decodeTop([]byte(in), true)
		if err != nil {
			t.Fatal(err)
		}
		d := v.(*Dict)
		if x, ok := d.lookup("x"); ok {
			d = x.(*Dict)
		}
		if got := d.String(); got != `{"a": 3, "b": 2}` {
			t.Errorf("%s: %s, want {\"a\": 3, \"b\": 2}", in, got)
		}
	}
}
