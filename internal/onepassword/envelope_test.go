package onepassword

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/jsonscan"
)

func TestDecodePage(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Page
		wantErr string
	}{
		{
			name: "page",
			body: `{"cursor":"abc","has_more":true,"items":[{"uuid":"A","n":1.5e3,"x":[true,false,null]}, {"uuid":"B"}]}`,
			want: Page{Cursor: "abc", HasMore: true, Items: rawItems([]string{`{"uuid":"A","n":1.5e3,"x":[true,false,null]}`, `{"uuid":"B"}`})},
		},
		{
			name: "key order and whitespace",
			body: "\n{ \"items\" : [ ] ,\r\n\t\"has_more\" : false , \"cursor\" : \"c\" }\n",
			want: Page{Cursor: "c"},
		},
		{name: "empty items, cursor kept", body: `{"cursor":"cursor_1","has_more":false,"items":[]}`, want: Page{Cursor: "cursor_1"}},
		{name: "null items and has_more", body: `{"cursor":"c","has_more":null,"items":null}`, want: Page{Cursor: "c"}},
		{name: "unknown fields skipped", body: `{"cursor":"c","next":{"a":[1,{"b":"\u00e9"}]},"has_more":true}`, want: Page{Cursor: "c", HasMore: true}},
		{
			name: "items that are not objects are kept raw",
			body: `{"cursor":"c","items":["str",12,null,[1],{"a":"b"}]}`,
			want: Page{Cursor: "c", Items: rawItems([]string{`"str"`, `12`, `null`, `[1]`, `{"a":"b"}`})},
		},
		{name: "escaped cursor", body: `{"cursor":"a\/b\u0041\n"}`, want: Page{Cursor: "a/bA\n"}},
		{name: "escaped key", body: `{"curs\u006fr":"c"}`, want: Page{Cursor: "c"}},
		{name: "last duplicate wins", body: `{"cursor":5,"cursor":"c","items":[1],"items":[2,3]}`, want: Page{Cursor: "c", Items: rawItems([]string{"2", "3"})}},
		{name: "null body", body: `null`, want: Page{}},
		{
			// B6: items are cut apart, not judged; each is validated once, by
			// logtype, and a bad one is quarantined instead of failing the page.
			name: "items that are not valid JSON are kept raw",
			body: "{\"cursor\":\"c\",\"items\":[{\"a\":01},{\"b\":\"\xff\"},{\"c\":\"\x01\"},{\"d\" 1},tru,{\"e\":\"\\x\"},{\"ok\":1}]}",
			want: Page{Cursor: "c", Items: rawItems([]string{`{"a":01}`, "{\"b\":\"\xff\"}", "{\"c\":\"\x01\"}", `{"d" 1}`, `tru`, `{"e":"\x"}`, `{"ok":1}`})},
		},
		{name: "brackets inside strings", body: `{"cursor":"c","items":[{"a":"]}\"["},["}"]]}`, want: Page{Cursor: "c", Items: rawItems([]string{`{"a":"]}\"["}`, `["}"]`})}},
		{name: "not an object", body: `[1,2]`, wantErr: "not a JSON object"},
		{name: "empty body", body: ``, wantErr: "empty"},
		{name: "truncated", body: `{"cursor":"c","items":[{"a":1},{"b"`, wantErr: "unexpected end of input"},
		{name: "truncated in a string", body: `{"cursor":"c","items":[{"a":"b`, wantErr: "unexpected end of input in string"},
		{name: "mismatched brackets", body: `{"cursor":"c","items":[{"a":[1}]}`, wantErr: "unexpected '}' closing array"},
		{name: "missing comma between items", body: `{"cursor":"c","items":[{} {}]}`, wantErr: "after array element"},
		{name: "empty item", body: `{"cursor":"c","items":[1,,2]}`, wantErr: "looking for a value"},
		{name: "trailing data", body: `{"cursor":"c"} {}`, wantErr: "data after"},
		{name: "cursor number", body: `{"cursor":5}`, wantErr: "cursor is not a string"},
		{name: "has_more string", body: `{"cursor":"c","has_more":"yes"}`, wantErr: "has_more is not a boolean"},
		{name: "items object", body: `{"cursor":"c","items":{}}`, wantErr: "items is not an array"},
		{name: "bad literal", body: `{"cursor":"c","has_more":tru}`, wantErr: "not valid JSON"},
		{name: "control character in the cursor", body: "{\"cursor\":\"a\x01\"}", wantErr: "control character"},
		{name: "cursor not UTF-8", body: "{\"cursor\":\"a\xff\"}", wantErr: "not UTF-8"},
		{name: "bad escape", body: `{"cursor":"a\x"}`, wantErr: "after backslash"},
		{name: "trailing comma", body: `{"cursor":"c","items":[1,]}`, wantErr: "looking for a value"},
		{name: "too deep", body: `{"items":[` + strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth) + `]}`, wantErr: "nested more than 10000 levels deep"},
		{name: "too many items", body: `{"cursor":"c","items":[` + strings.Repeat("1,", 1000) + `1]}`, wantErr: "more items than the page limit (1000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePage([]byte(tt.body), MaxPageLimit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !samePage(got, tt.want) {
				t.Errorf("got %s, want %s", showPage(got), showPage(tt.want))
			}
		})
	}
}

func samePage(a, b Page) bool {
	if a.Cursor != b.Cursor || a.HasMore != b.HasMore || len(a.Items) != len(b.Items) {
		return false
	}
	for i := range a.Items {
		if !bytes.Equal(a.Items[i], b.Items[i]) {
			return false
		}
	}
	return true
}

func showPage(p Page) string {
	var items []string
	for _, it := range p.Items {
		items = append(items, string(it))
	}
	return fmt.Sprintf("{cursor %q has_more %v items [%s]}", p.Cursor, p.HasMore, strings.Join(items, " | "))
}

// referencePage decodes with encoding/json what decodePage should accept.
func referencePage(body []byte) (Page, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Page{}, err
	}
	var p Page
	if raw, ok := m["cursor"]; ok {
		var s *string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Page{}, err
		}
		if s != nil {
			p.Cursor = *s
		}
	}
	if raw, ok := m["has_more"]; ok {
		if err := json.Unmarshal(raw, &p.HasMore); err != nil {
			return Page{}, err
		}
	}
	if raw, ok := m["items"]; ok {
		if err := json.Unmarshal(raw, &p.Items); err != nil {
			return Page{}, err
		}
	}
	return p, nil
}

// FuzzDecodePage checks decodePage against encoding/json:
//   - what encoding/json reads as a page, from UTF-8 text, decodePage reads
//     the same, items byte for byte;
//   - what decodePage accepts with items that are all valid JSON,
//     encoding/json reads the same: the cut between items is never wrong.
//
// Items that are not valid JSON are decodePage's to keep and logtype's to
// judge; bytes that are not UTF-8 outside the items are rejected.
func FuzzDecodePage(f *testing.F) {
	for _, s := range []string{
		`{"cursor":"abc","has_more":true,"items":[{"uuid":"A"},1,"x",null]}`,
		`{"items":[],"cursor":"c\u00e9","has_more":false}`,
		`{"cursor":"c","cursor":"d","items":[1],"items":null}`,
		`null`, `{}`, `[]`, `{"a":-0.5E+10}`, "{\"cursor\":\"\xff\"}", `{"Cursor":"x"}`,
		`{"items":[{"a":"]\"}"},[{}],tru,{"b" 2}]}`, "{\"items\":[\"\xff\"]}",
	} {
		f.Add([]byte(s))
	}
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodePage(body, 1<<30)
		want, werr := referencePage(body)
		if werr == nil && utf8.Valid(body) && err != nil {
			t.Fatalf("decodePage err = %v; encoding/json reads %s", err, showPage(want))
		}
		if err != nil {
			return
		}
		for _, it := range got.Items {
			if !json.Valid(it) {
				return
			}
		}
		if werr != nil {
			t.Fatalf("decodePage = %s with valid items, encoding/json err = %v", showPage(got), werr)
		}
		if !samePage(got, want) {
			t.Fatalf("decodePage = %s\nencoding/json = %s", showPage(got), showPage(want))
		}
	})
}

// benchPage is a page of n v2 audit events of realistic size.
func benchPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"cursor":"` + strings.Repeat("Q", 200) + `","has_more":true,"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"uuid":"WUI6VO2US6XYKRUILGXAK%05d","timestamp":"2025-07-28T19:32:38.4407491Z","actor_uuid":"WMHLLT3MSNBQTLCNEX3CRKXXQA","actor_details":{"uuid":"WMHLLT3MSNBQTLCNEX3CRKXXQA","name":"Peter Parker","email":"peter@acme.com"},"action":"patch","object_type":"items","object_uuid":"pxoo5tembarjvg4ezty2xtipd4","aux_id":12,"aux_info":"1,0,0,0,0","session":{"uuid":"HX6YPPZYWJG3NPKNK3RGYL2ZS4","login_time":"2025-07-28T19:32:36.506015779Z","device_uuid":"naijcvh5krz2hkmca4yw7yh4ba","ip":"2001:0db8:85a3:0000:0000:8a2e:0370:7334"},"location":{"country":"United States","region":"Oregon","city":"Portland","latitude":45.4085,"longitude":-122.7981},"actor_type":"user","account_uuid":"KHUVUCTBHVDSNDHXKDGM7UESYU"}`, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func BenchmarkDecodePage(b *testing.B) {
	body := benchPage(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodePage(body, MaxPageLimit)
		if err != nil || len(p.Items) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

// BenchmarkDecodePageStdlib is the encoding/json baseline for comparison.
func BenchmarkDecodePageStdlib(b *testing.B) {
	body := benchPage(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p struct {
			Cursor  string            `json:"cursor"`
			HasMore bool              `json:"has_more"`
			Items   []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &p); err != nil || len(p.Items) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}
