package export

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
)

// FuzzExportRaw writes one hostile event through the whole export and reads
// it back: the writer never panics, the file is valid Parquet, and p_raw
// holds the event byte for byte.
func FuzzExportRaw(f *testing.F) {
	deep := strings.Repeat(`{"client":`, 12000) + "1" + strings.Repeat("}", 12000)
	f.Add(uint8(0), []byte(`{"uuid":"a","timestamp":"2026-11-10T01:02:03Z"}`))
	f.Add(uint8(0), []byte(deep))
	f.Add(uint8(1), []byte(`{"uuid":"`+strings.Repeat("x", 1<<16)+`","timestamp":"2026-11-10T01:02:03Z"}`))
	f.Add(uint8(2), []byte("{\"uuid\":\"\\u0000\\ud800\",\"aux_info\":\"\x00\xff\xfe\",\"session\":{\"login_time\":\"2026-13-99T00:00:00Z\",\"ip\":[1]}}"))
	f.Add(uint8(2), []byte(`{"aux_id":1e400,"aux_id":-9223372036854775809,"location":{"latitude":1e999},"actor_details":"x"}`))
	f.Add(uint8(1), []byte(`{"used_version":3.5,"user":[],"client":{"ip_address":{"a":"b"}},"location":{"city":"Zürich 🏔 ‮"}}`))
	f.Add(uint8(0), []byte(`not json at all`))
	f.Add(uint8(0), []byte(``))
	f.Add(uint8(0), []byte(`[1,2,3]`))
	f.Add(uint8(4), []byte(`{"category":"success","target_user":{"uuid":1,"name":null},"client":{"os_name":["x"]},"location":{"latitude":"n","city":{}}}`))
	f.Add(uint8(6), []byte(`{"actor_details":{"name":"a"},"actor_uuid":"a","object_type":"uva","aux_uuid":"a","session":{"ip":7}}`))
	f.Add(uint8(5), []byte(`null`))
	f.Add(uint8(0), []byte(`{"uuid":"a"} trailing`))
	types := logtype.All()
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		lt := types[int(which)%len(types)]
		l := &lake{}
		at := day(10, 1)
		e := l.add(lt.Name, at, "", []string{"192.0.2.1", string(raw)}, []string{string(raw)})
		e.Raw = raw
		e.SourceLabel = string(raw)
		out := t.TempDir()
		mapping := MappingPanther
		if which&4 != 0 {
			mapping = MappingECS
		}
		m, err := Run(context.Background(), l, Options{Out: out, Since: at, Until: at.Add(time.Hour), Mapping: mapping,
			now: func() time.Time { return at }, noSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Partitions) != 1 || len(m.Partitions[0].Files) != 1 {
			t.Fatalf("manifest: %+v", m.Partitions)
		}
		_, rows := readFile(t, filepath.Join(out, filepath.FromSlash(m.Partitions[0].Files[0].Path)))
		if len(rows) != 1 {
			t.Fatalf("%d rows", len(rows))
		}
		got, _ := rows[0][RawColumn].(string)
		if !bytes.Equal([]byte(got), raw) {
			t.Fatalf("p_raw changed:\n got %q\nwant %q", got, raw)
		}
		if rows[0]["p_source_label"] != string(raw) {
			t.Fatalf("p_source_label changed")
		}
		ents, _ := os.ReadDir(filepath.Join(out, filepath.FromSlash(m.Partitions[0].Path)))
		if len(ents) != 1 {
			t.Fatalf("partition holds %d files", len(ents))
		}
	})
}
