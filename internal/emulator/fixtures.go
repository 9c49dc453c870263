package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Fixtures are real (or real-looking) payloads gathered from public
// integrations (shared/fixtures/onepassword, see its SOURCES.md). LoadFixtures
// serves them beside the generated data, so that clients meet the shapes and
// values seen in the wild, not only the emulator's own.

// fixtureSpread bounds how far back a loaded fixture's event time lies: the
// payloads are years old, older than the 120 days the API keeps, so their
// times are moved to just before the load, keeping their spacing up to this.
const fixtureSpread = 24 * time.Hour

// maxFixtureBytes bounds one fixture file.
const maxFixtureBytes = 16 << 20

// LoadFixtures reads the fixture files in dir (*.json response envelopes and
// *.ndjson event lines, whose names contain signinattempts, itemusages or
// auditevents; other files are skipped) and appends their events to
// account's streams ("" for the default account), ingested now, in file
// order, as InjectLate does. It returns how many events it loaded per
// feature.
//
// Each event is served in both API versions: a v1-shaped payload gets the
// account's account_uuid (and actor_type "user" for audit events) on v2; a
// v2-shaped one loses the v2 fields on v1. It is normalised as SOURCES.md
// warns: the documentation's client "ip" becomes "ip_address", Panther's
// "YYYY-MM-DD HH:MM:SS" times become RFC 3339, Panther's p_* fields go, and
// its time moves to within a day before now (its login_time with it). An
// event without a uuid, or repeating one already loaded, is skipped, and so
// is one whose values v1 cannot carry (see v2Only).
func (e *Emulator) LoadFixtures(account, dir string) (map[string]int, error) {
	a, err := e.account(account)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("emulator: read the fixtures: %w", err)
	}
	var names []string
	for _, de := range entries {
		n := de.Name()
		if de.Type().IsRegular() && (strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".ndjson")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	loaded := map[string]int{}
	seen := map[string]bool{}
	for f := range numFeatures {
		for _, x := range a.injected[f].snapshot() {
			seen[featureNames[f]+" "+x.uuid] = true
		}
	}
	for _, n := range names {
		f := -1
		for i, name := range featureNames {
			if strings.Contains(n, name) {
				f = i
			}
		}
		if f < 0 {
			continue
		}
		events, err := readFixture(filepath.Join(dir, n))
		if err != nil {
			return loaded, fmt.Errorf("emulator: fixture %s: %w", n, err)
		}
		now := e.now().UnixNano()
		var newest int64
		for _, ev := range events {
			newest = max(newest, ev.ts)
		}
		for _, ev := range events {
			if ev.uuid == "" || seen[featureNames[f]+" "+ev.uuid] {
				continue
			}
			shift := now - newest
			if newest-ev.ts > int64(fixtureSpread) {
				shift = now - int64(fixtureSpread) - ev.ts
			}
			v1, v2, err := ev.render(a.uuid, f, shift)
			if err != nil {
				e.log.Debug("fixture event skipped", "file", n, "uuid", ev.uuid, "reason", err.Error())
				continue
			}
			if _, err := a.injected[f].add(injected{ts: ev.ts + shift, raw: [2][]byte{v1, v2}, uuid: ev.uuid}, now, nil); err != nil {
				return loaded, err
			}
			seen[featureNames[f]+" "+ev.uuid] = true
			loaded[featureNames[f]]++
		}
	}
	return loaded, nil
}

// A jsonMember is one key and value of a JSON object, so that objects keep their
// key order when rewritten.
type jsonMember struct {
	key   string
	value json.RawMessage
}

type jsonObject []jsonMember

func parseObject(raw []byte) (jsonObject, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var o jsonObject
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		if _, dup := o.get(k); dup {
			return nil, fmt.Errorf("key %q twice", k)
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		o = append(o, jsonMember{k, v})
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the jsonObject")
	}
	return o, nil
}

func (o jsonObject) get(k string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == k {
			return m.value, true
		}
	}
	return nil, false
}

func (o jsonObject) str(k string) string {
	var s string
	if v, ok := o.get(k); ok {
		json.Unmarshal(v, &s)
	}
	return s
}

func (o jsonObject) without(keys ...string) jsonObject {
	var out jsonObject
	for _, m := range o {
		drop := strings.HasPrefix(m.key, "p_") // Panther's own fields
		for _, k := range keys {
			drop = drop || m.key == k
		}
		if !drop {
			out = append(out, m)
		}
	}
	return out
}

// set replaces k's value, or appends k.
func (o jsonObject) set(k string, v []byte) jsonObject {
	for i := range o {
		if o[i].key == k {
			o[i].value = v
			return o
		}
	}
	return append(o, jsonMember{k, v})
}

func (o jsonObject) appendTo(b []byte) ([]byte, error) {
	b = append(b, '{')
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.key)
		b = append(b, ':')
		var c bytes.Buffer
		if err := json.Compact(&c, m.value); err != nil {
			return nil, err
		}
		b = append(b, c.Bytes()...)
	}
	return append(b, '}'), nil
}

// editSub rewrites the object under key k with fn, if there is one.
func (o jsonObject) editSub(k string, fn func(jsonObject) jsonObject) (jsonObject, error) {
	v, ok := o.get(k)
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return o, nil
	}
	sub, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	b, err := fn(sub).appendTo(nil)
	if err != nil {
		return nil, err
	}
	return o.set(k, b), nil
}

// fixtureEvent is one event of a fixture file.
type fixtureEvent struct {
	o    jsonObject
	uuid string
	ts   int64
}

// readFixture reads a response envelope (an object with items) or lines of
// events.
func readFixture(path string) ([]fixtureEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFixtureBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFixtureBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFixtureBytes)
	}
	var raws []json.RawMessage
	if o, err := parseObject(data); err == nil {
		if items, ok := o.get("items"); ok {
			if err := json.Unmarshal(items, &raws); err != nil {
				return nil, fmt.Errorf("items: %w", err)
			}
		} else {
			raws = append(raws, json.RawMessage(data))
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, maxFixtureBytes)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				raws = append(raws, json.RawMessage(bytes.Clone(line)))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	var out []fixtureEvent
	for i, raw := range raws {
		o, err := parseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		ts, err := fixtureTime(o.str("timestamp"))
		if err != nil {
			return nil, fmt.Errorf("event %d: timestamp: %w", i+1, err)
		}
		out = append(out, fixtureEvent{o: o.without(), uuid: o.str("uuid"), ts: ts})
	}
	return out, nil
}

// fixtureTime parses an RFC 3339 time or Panther's "2006-01-02 15:04:05.999".
func fixtureTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, upperTZ(s))
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02 15:04:05.999999999", s); err2 != nil {
			return 0, err
		}
	}
	return clampUnixNano(t), nil
}

// render returns the event in its v1 and v2 shapes, moved in time by shift.
func (ev *fixtureEvent) render(account string, f int, shift int64) (v1, v2 []byte, err error) {
	o := append(jsonObject(nil), ev.o...)
	for _, k := range []string{"type", "action", "object_type"} {
		if v2Only(o.str(k)) {
			return nil, nil, fmt.Errorf("%s %q has no v1 form", k, o.str(k))
		}
	}
	o = o.set("timestamp", appendTime(nil, ev.ts+shift))
	// The documentation's examples spell the client's ip_address "ip".
	if o, err = o.editSub("client", func(c jsonObject) jsonObject {
		if ip, ok := c.get("ip"); ok {
			if _, has := c.get("ip_address"); !has {
				for i := range c {
					if c[i].key == "ip" {
						c[i] = jsonMember{"ip_address", ip}
					}
				}
			}
		}
		return c
	}); err != nil {
		return nil, nil, err
	}
	if o, err = o.editSub("session", func(s jsonObject) jsonObject {
		if t, err := fixtureTime(s.str("login_time")); err == nil {
			s = s.set("login_time", appendTime(nil, t+shift))
		}
		return s
	}); err != nil {
		return nil, nil, err
	}

	users := []string{"target_user", "user", "actor_details"}
	one := o.without("account_uuid", "actor_type", "actor_account_uuid")
	for _, k := range users {
		if one, err = one.editSub(k, func(u jsonObject) jsonObject { return u.without("user_type", "user_account_uuid") }); err != nil {
			return nil, nil, err
		}
	}
	two := o
	if _, ok := two.get("account_uuid"); !ok {
		if f == auditEvents {
			two = two.set("actor_type", []byte(`"user"`))
		}
		two = two.set("account_uuid", appendString(nil, account))
	}
	if v1, err = one.appendTo(nil); err != nil {
		return nil, nil, err
	}
	if v2, err = two.appendTo(nil); err != nil {
		return nil, nil, err
	}
	return v1, v2, nil
}
