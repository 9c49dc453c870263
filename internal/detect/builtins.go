package detect

import (
	"bytes"
	"strconv"

	"encoding/json"
	"errors"
	"fmt"
	"github.com/opwatch/opwatch/internal/jsonscan"
	"math"
	"math/big"
	"sort"
	"time"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// State is a rule's persisted memory, as the stage keeps it (over the store
// and its uncommitted batch). Values are opaque bytes: the engine encodes
// them, expiry included, so an expired value reads as absent by the event's
// p_parse_time whatever the wall clock; expires is for the stage to drop
// values (zero: never).
type State interface {
	Get(ruleID, key string) ([]byte, bool)
	Put(ruleID, key string, v []byte, expires time.Time)
	Delete(ruleID, key string)
}

// evalCtx is what the predeclared helpers need during one evaluation.
type evalCtx struct {
	ruleID string
	st     State
	base   time.Time // TTLs count from here: the event's p_parse_time
}

const ctxKey = "opwatch.eval"

func ctxOf(thread *starlark.Thread, name string) (*evalCtx, error) {
	c, _ := thread.Local(ctxKey).(*evalCtx)
	if c == nil || c.st == nil {
		return nil, fmt.Errorf("%s: rule state is only available while a rule evaluates an event", name)
	}
	return c, nil
}

// A state value is stored as {"x":EXPIRY,"v":VALUE}: EXPIRY in Unix
// nanoseconds (0: never), VALUE the JSON of the value. Written and read by
// hand: the state is on the hot path of stateful rules.
const statePrefix = `{"x":`

func stateRead(c *evalCtx, key string) ([]byte, int64, bool) {
	b, ok := c.st.Get(c.ruleID, key)
	if !ok {
		return nil, 0, false
	}
	rest, ok := bytes.CutPrefix(b, []byte(statePrefix))
	if !ok {
		return nil, 0, false
	}
	i := bytes.IndexByte(rest, ',')
	if i < 0 || len(rest) < i+6 || string(rest[i:i+5]) != `,"v":` || rest[len(rest)-1] != '}' {
		return nil, 0, false
	}
	exp, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	if exp != 0 && c.base.UnixNano() >= exp {
		return nil, 0, false
	}
	return rest[i+5 : len(rest)-1], exp, true
}

func stateWrite(c *evalCtx, key string, v starlark.Value, exp int64) error {
	b := make([]byte, 0, 64)
	b = append(b, statePrefix...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"v":`...)
	b, err := appendJSON(b, v, 0)
	if err != nil {
		return err
	}
	b = append(b, '}')
	var expires time.Time
	if exp != 0 {
		expires = time.Unix(0, exp).UTC()
	}
	c.st.Put(c.ruleID, key, b, expires)
	return nil
}

// ttlExpiry reads a ttl_seconds argument (None or 0: never) and returns
// the expiry it sets, counted from the event's time (c.base).
func ttlExpiry(c *evalCtx, v starlark.Value) (int64, error) {
	if v == nil || v == starlark.None {
		return 0, nil
	}
	ttl, ok := starlark.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("ttl_seconds: want a number, got %s", v.Type())
	}
	if ttl < 0 || math.IsNaN(ttl) || ttl > 100*365*24*3600 {
		return 0, fmt.Errorf("ttl_seconds %v: want 0 (never) or a positive number of seconds", ttl)
	}
	if ttl == 0 {
		return 0, nil
	}
	return c.base.Add(time.Duration(ttl * float64(time.Second))).UnixNano(), nil
}

func newStateModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "state", Members: starlark.StringDict{
		"get": starlark.NewBuiltin("state.get", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var key string
			def := starlark.Value(starlark.None)
			if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key, "default?", &def); err != nil {
				return nil, err
			}
			c, err := ctxOf(th, b.Name())
			if err != nil {
				return nil, err
			}
			raw, _, ok := stateRead(c, key)
			if !ok {
				return def, nil
			}
			return jsonToStarlark(raw)
		}),
		"put": starlark.NewBuiltin("state.put", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var key string
			var v, ttlv starlark.Value
			if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key, "value", &v, "ttl_seconds?", &ttlv); err != nil {
				return nil, err
			}
			c, err := ctxOf(th, b.Name())
			if err != nil {
				return nil, err
			}
			exp, err := ttlExpiry(c, ttlv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			if err := stateWrite(c, key, v, exp); err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			return starlark.None, nil
		}),
		"delete": starlark.NewBuiltin("state.delete", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var key string
			if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key); err != nil {
				return nil, err
			}
			c, err := ctxOf(th, b.Name())
			if err != nil {
				return nil, err
			}
			c.st.Delete(c.ruleID, key)
			return starlark.None, nil
		}),
		"add_to_set": starlark.NewBuiltin("state.add_to_set", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var key, member string
			var ttlv starlark.Value
			if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key, "member", &member, "ttl_seconds?", &ttlv); err != nil {
				return nil, err
			}
			c, err := ctxOf(th, b.Name())
			if err != nil {
				return nil, err
			}
			newExp, err := ttlExpiry(c, ttlv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			members, exp := readSet(c, key)
			for _, m := range members {
				if m == member {
					return starlark.False, nil
				}
			}
			if members == nil { // new (or expired): the TTL starts now
				exp = newExp
			}
			members = append(members, member)
			list := make([]starlark.Value, len(members))
			for i, m := range members {
				list[i] = starlark.String(m)
			}
			return starlark.True, stateWrite(c, key, starlark.NewList(list), exp)
		}),
		"set_members": starlark.NewBuiltin("state.set_members", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var key string
			if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key); err != nil {
				return nil, err
			}
			c, err := ctxOf(th, b.Name())
			if err != nil {
				return nil, err
			}
			members, _ := readSet(c, key)
			out := make([]starlark.Value, len(members))
			for i, m := range members {
				out[i] = starlark.String(m)
			}
			return starlark.NewList(out), nil
		}),
		"incr": starlark.NewBuiltin("state.incr", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var key string
			by := 1
			var ttlv starlark.Value
			if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key, "by?", &by, "ttl_seconds?", &ttlv); err != nil {
				return nil, err
			}
			c, err := ctxOf(th, b.Name())
			if err != nil {
				return nil, err
			}
			newExp, err := ttlExpiry(c, ttlv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			var n int64
			raw, exp, ok := stateRead(c, key)
			if ok {
				if json.Unmarshal(raw, &n) != nil {
					return nil, fmt.Errorf("%s: %q holds %s, not a counter", b.Name(), key, raw)
				}
			} else {
				exp = newExp // new: the window starts now
			}
			n += int64(by)
			return starlark.MakeInt64(n), stateWrite(c, key, starlark.MakeInt64(n), exp)
		}),
	}}
}

// readSet returns a set's members (nil when absent or expired) and expiry.
func readSet(c *evalCtx, key string) ([]string, int64) {
	raw, exp, ok := stateRead(c, key)
	if !ok {
		return nil, 0
	}
	var members []string
	if json.Unmarshal(raw, &members) != nil || members == nil {
		members = []string{}
	}
	return members, exp
}

// jsonToStarlark decodes JSON into ordinary (mutable) Starlark values.
func jsonToStarlark(raw []byte) (starlark.Value, error) {
	d := &decoder{s: jsonscan.Scanner{Data: raw}, mutable: true}
	d.s.SkipWS()
	v, ok := d.value(0)
	if !ok {
		if d.s.Err != nil {
			return nil, d.s.Err
		}
		return nil, errors.New("not valid JSON")
	}
	return v, nil
}

func goToStarlark(g any) starlark.Value {
	switch x := g.(type) {
	case nil:
		return starlark.None
	case bool:
		return starlark.Bool(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return starlark.MakeInt64(i)
		}
		if b, ok := new(big.Int).SetString(string(x), 10); ok {
			return starlark.MakeBigInt(b)
		}
		f, _ := x.Float64()
		return starlark.Float(f)
	case float64:
		return starlark.Float(x)
	case int:
		return starlark.MakeInt(x)
	case string:
		return starlark.String(x)
	case []any:
		out := make([]starlark.Value, len(x))
		for i, e := range x {
			out[i] = goToStarlark(e)
		}
		return starlark.NewList(out)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(x))
		for _, k := range keys {
			_ = d.SetKey(starlark.String(k), goToStarlark(x[k]))
		}
		return d
	}
	return starlark.String(fmt.Sprint(g))
}

func parseTimeBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kw, 1, &s); err != nil {
		return nil, err
	}
	t, err := parseTime(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return unixSeconds(t), nil
}

func unixSeconds(t time.Time) starlark.Value {
	return starlark.Float(float64(t.UnixNano()) / 1e9)
}

func eventTimeBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ev starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kw, 1, &ev); err != nil {
		return nil, err
	}
	if d, ok := ev.(*Dict); ok && d.ev != nil && !d.ev.EventTime.IsZero() {
		return unixSeconds(d.ev.EventTime), nil
	}
	m, ok := ev.(starlark.Mapping)
	if !ok {
		return nil, fmt.Errorf("%s: want the event, got %s", b.Name(), ev.Type())
	}
	v, found, _ := m.Get(starlark.String("p_event_time"))
	s, isStr := v.(starlark.String)
	if !found || !isStr {
		return nil, fmt.Errorf("%s: the event has no p_event_time", b.Name())
	}
	t, err := parseTime(string(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return unixSeconds(t), nil
}

// distanceKm is the great-circle distance by the haversine formula.
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088 // mean Earth radius, km
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

func distanceBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 4 || len(kw) != 0 {
		return nil, fmt.Errorf("%s: want 4 numbers (lat1, lon1, lat2, lon2)", b.Name())
	}
	var f [4]float64
	for i, a := range args {
		x, ok := starlark.AsFloat(a)
		if !ok {
			return nil, fmt.Errorf("%s: argument %d is %s, want a number", b.Name(), i+1, a.Type())
		}
		f[i] = x
	}
	return starlark.Float(distanceKm(f[0], f[1], f[2], f[3])), nil
}

func deepGetBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%s: want the object and keys", b.Name())
	}
	def, err := unpackDeepGet(b.Name(), args, kw)
	if err != nil {
		return nil, err
	}
	return deepGet(args[0], args[1:], def), nil
}

// predeclared is what every rule and helper module sees without load().
// It holds no per-evaluation data (that rides on the thread), so one frozen
// dict serves every rule.
func predeclared() starlark.StringDict {
	parse := starlark.NewBuiltin("parse_time", parseTimeBuiltin)
	evt := starlark.NewBuiltin("event_time", eventTimeBuiltin)
	dist := starlark.NewBuiltin("distance_km", distanceBuiltin)
	d := starlark.StringDict{
		"state": newStateModule(),
		"json":  starjson.Module,
		"time": &starlarkstruct.Module{Name: "time", Members: starlark.StringDict{
			"parse_time": parse, "event_time": evt,
		}},
		"geo":         &starlarkstruct.Module{Name: "geo", Members: starlark.StringDict{"distance_km": dist}},
		"parse_time":  parse,
		"event_time":  evt,
		"distance_km": dist,
		"deep_get":    starlark.NewBuiltin("deep_get", deepGetBuiltin),
		"struct":      starlark.NewBuiltin("struct", starlarkstruct.Make),
	}
	d.Freeze()
	return d
}
