package segment_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

func sample() []store.StoredEvent {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	return []store.StoredEvent{
		{Seq: 1, Account: "acct", SourceID: "src", LogType: "OnePassword.SignInAttempt", UUID: "U1", EventTime: at, ParseTime: at.Add(time.Second),
			RowID: "row", SourceLabel: "Zoë \"prod\"\n", IPs: []string{"192.0.2.1", "2001:db8::1"}, Emails: []string{"jane@example.com"},
			Raw: []byte(`{"uuid":"U1", "name" : "Zoë \u00e9 \"x\"\n", "n":[1,2.5e3,{"a":null}],"t":true}`)},
		{Seq: 7, Account: "", SourceID: "src", LogType: "OnePassword.SignInAttempt", UUID: "U\u2028", EventTime: at.Add(time.Hour), ParseTime: at,
			Raw: []byte(`not json at all "\x01`)},
		{Seq: 9, LogType: "t", UUID: "u", EventTime: at, ParseTime: at, Raw: []byte(` {"padded":1} `)},
	}
}

func TestRoundTrip(t *testing.T) {
	in := sample()
	text, err := segment.Encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var c segment.Codec
	z, err := c.Compress(nil, text)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.Decompress(nil, z)
	if err != nil || !bytes.Equal(back, text) {
		t.Fatalf("zstd round trip: %v", err)
	}
	out, err := segment.Decode(back)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, text)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
	// The raw event is embedded as it is: a reader of the JSON sees it.
	if !bytes.Contains(text, in[0].Raw) {
		t.Errorf("the raw object is not embedded verbatim:\n%s", text)
	}
}

func TestEncodeRefusesNonUTF8(t *testing.T) {
	e := sample()[:1]
	e[0].UUID = "\xff"
	if _, err := segment.Encode(nil, e); err == nil {
		t.Error("Encode took a uuid that is not UTF-8")
	}
}

func TestDecodeCorrupt(t *testing.T) {
	for _, bad := range []string{"", "{}", "[", "[{}]", `[{"seq":1}]`, `[1]`, `[{"seq":"x"}]`, "[] x"} {
		if _, err := segment.Decode([]byte(bad)); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("Decode(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
	var c segment.Codec
	if _, err := c.Decompress(nil, []byte("not zstd")); !errors.Is(err, segment.ErrCorrupt) {
		t.Errorf("Decompress(garbage) = %v, want ErrCorrupt", err)
	}
}

// Any event's raw bytes and text round-trip byte for byte (or are refused
// when not UTF-8); any input to Decode fails cleanly or decodes.
func FuzzRoundTrip(f *testing.F) {
	for _, e := range sample() {
		f.Add(e.Raw, e.UUID, e.SourceLabel, "192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, raw []byte, uuid, label, ip string) {
		at := time.Unix(0, int64(len(raw))*1e9+int64(len(uuid))).UTC()
		in := []store.StoredEvent{{Seq: 3, Account: "a", SourceID: "s", LogType: "l", UUID: uuid, EventTime: at, ParseTime: at,
			RowID: label, SourceLabel: label, IPs: []string{ip}, Raw: raw}}
		text, err := segment.Encode(nil, in)
		if err != nil {
			return // text that is not UTF-8
		}
		out, err := segment.Decode(text)
		if err != nil {
			t.Fatalf("Decode(Encode(...)): %v\n%q", err, text)
		}
		if len(out) != 1 || !bytes.Equal(out[0].Raw, raw) || out[0].UUID != uuid || out[0].SourceLabel != label || out[0].IPs[0] != ip {
			t.Fatalf("round trip changed the event: %q -> %+v", raw, out)
		}
	})
}

func FuzzDecode(f *testing.F) {
	text, _ := segment.Encode(nil, sample())
	f.Add(text)
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := segment.Decode(data)
		if err == nil {
			// What decodes encodes again, and decodes the same.
			again, err := segment.Encode(nil, evs)
			if err != nil {
				return
			}
			if _, err := segment.Decode(again); err != nil {
				t.Fatalf("re-encoded segment does not decode: %v", err)
			}
		}
	})
}

// Elements finds each event's text, which DecodeOne reads as Decode does.
func TestElements(t *testing.T) {
	in := sample()
	text, err := segment.Encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var got []store.StoredEvent
	err = segment.Elements(text, func(el []byte) error {
		if seq, ok := segment.ElementSeq(el); !ok || seq != in[len(got)].Seq {
			t.Errorf("ElementSeq(element %d) = %d, %t; want %d", len(got), seq, ok, in[len(got)].Seq)
		}
		e, err := segment.DecodeOne(el)
		if err != nil {
			return err
		}
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("Elements+DecodeOne (-in +out):\n%s", diff)
	}
	for _, bad := range []string{"", "{}", "[{", `[{"seq":1}`, "[1 2]"} {
		if err := segment.Elements([]byte(bad), func([]byte) error { return nil }); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("Elements(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzElements(f *testing.F) {
	text, _ := segment.Encode(nil, sample())
	f.Add(text)
	f.Fuzz(func(t *testing.T, data []byte) {
		all, errAll := segment.Decode(data)
		var each []store.StoredEvent
		errEach := segment.Elements(data, func(el []byte) error {
			e, err := segment.DecodeOne(el)
			if seq, ok := segment.ElementSeq(el); err == nil && (!ok || seq != e.Seq) {
				t.Fatalf("ElementSeq = %d, %t; the event decodes with seq %d", seq, ok, e.Seq)
			}
			each = append(each, e)
			return err
		})
		if errAll == nil && (errEach != nil || len(each) != len(all)) {
			t.Fatalf("Decode read %d events, Elements+DecodeOne %d (%v)", len(all), len(each), errEach)
		}
	})
}

func TestField(t *testing.T) {
	text, err := segment.Encode(nil, sample())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	segment.Elements(text, func(el []byte) error {
		v, ok := segment.Field(el, "p_any_emails")
		got = append(got, fmt.Sprint(string(v), " ", ok))
		return nil
	})
	want := []string{`["jane@example.com"] true`, "null true", "null true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Field(p_any_emails) (-want +got):\n%s", diff)
	}
	if _, ok := segment.Field([]byte(`{"seq":1}`), "p_any_emails"); ok {
		t.Error("Field found a field that is not there")
	}
}
