package logtype

// A plan is a schema compiled for Parse: a tree of nodes that the parser
// walks in step with the JSON object, and the list of values it extracts.
type plan struct {
	root  node
	kinds []extract // what each slot holds; the parser keeps one value per slot
}

// extract says what Parse takes out of a string field.
type extract uint8

const (
	extractUUID extract = iota + 1
	extractEmail
	extractIP
)

type node struct {
	name      string
	path      string // dotted, for errors
	typ       FieldType
	kind      kind // typ as a small number, cheaper to switch on
	required  bool
	eventTime bool // the top-level timestamp: becomes Event.Time
	slot      int  // index into the extracted values, or -1
	// lo and hi bound the slots of this node and its descendants. When an
	// object is given again (a duplicate key) or as null, its earlier
	// values are forgotten: the last occurrence wins, as in encoding/json.
	lo, hi   int
	children []node
}

func compile(fields []Field) *plan {
	pl := &plan{}
	pl.root = node{typ: Object, kind: kindObject, slot: -1}
	pl.root.children = pl.nodes(fields, "", true)
	pl.root.hi = len(pl.kinds)
	return pl
}

func (pl *plan) nodes(fields []Field, prefix string, top bool) []node {
	ns := make([]node, len(fields))
	for i, f := range fields {
		n := node{name: f.Name, path: prefix + f.Name, typ: f.Type, kind: kindOfType(f.Type), required: f.Required, slot: -1, lo: len(pl.kinds)}
		switch {
		case top && f.Name == "uuid" && f.Type == String:
			n.slot = pl.add(extractUUID)
		case top && f.Name == "timestamp" && f.Type == Timestamp:
			n.eventTime = true
		case f.Indicator == "email" && f.Type == String:
			n.slot = pl.add(extractEmail)
		case f.Indicator == "ip" && f.Type == String:
			n.slot = pl.add(extractIP)
		}
		if f.Type == Object {
			n.children = pl.nodes(f.Fields, n.path+".", false)
		}
		n.hi = len(pl.kinds)
		ns[i] = n
	}
	return ns
}

// maxSlots bounds the values a plan extracts, so that the parser keeps
// them in an array. The log types need 6 at most; a field beyond the bound
// is still checked, only not extracted.
const maxSlots = 16

type kind uint8

const (
	kindOther kind = iota // a type Parse does not check
	kindString
	kindTimestamp
	kindBigInt
	kindFloat
	kindBoolean
	kindObject
	kindArray
)

func kindOfType(t FieldType) kind {
	switch t {
	case String:
		return kindString
	case Timestamp:
		return kindTimestamp
	case BigInt:
		return kindBigInt
	case Float:
		return kindFloat
	case Boolean:
		return kindBoolean
	case Object:
		return kindObject
	case Array:
		return kindArray
	}
	return kindOther
}

func (pl *plan) add(k extract) int {
	if len(pl.kinds) == maxSlots {
		return -1
	}
	pl.kinds = append(pl.kinds, k)
	return len(pl.kinds) - 1
}

// find returns the index of the child named key, or -1. It starts at hint,
// the child after the previous key's, so keys in schema order (as 1Password
// sends them) cost one comparison each.
func (n *node) find(key []byte, hint int) int {
	c := n.children
	for i := hint; i < len(c); i++ {
		if string(key) == c[i].name {
			return i
		}
	}
	for i := 0; i < hint && i < len(c); i++ {
		if string(key) == c[i].name {
			return i
		}
	}
	return -1
}
