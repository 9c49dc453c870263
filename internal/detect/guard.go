package detect

import (
	"math/big"
	"sync"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// A rule's guard: the leading statements of its rule(event), compiled at
// load time to Go, so that an event the rule would reject in its first
// lines costs no Starlark call. Rules open with checks such as
//
//	action = event.get("action")
//	if action not in _ACTIONS:
//	    return False
//
// or are one such expression (return event.get("a") == "x" and ...). The
// guard runs those statements in Go, with Starlark's own operations on the
// same values (starlark.Compare, starlark.Binary, the event's get), and
// answers "rule() returns False" only when it got there without doubt.
// Anything it does not recognise, and any operation that fails (Starlark
// would raise), stops it: the rule then runs in Starlark from the start,
// so a guard never changes a result, a side effect or a rule error.
//
// Recognised: assignments to local names; if/elif/else; return; pass;
// and in expressions literals, frozen plain globals (strings, numbers,
// None, bools, and tuples, lists, dicts and sets of them), locals, the
// event's get(k[, default]) and deep_get(k, ...[, default=d]), event[k],
// type(x), ==, !=, in, not in, and, or, not, x if c else y, tuples and
// lists; the right operand of and/or may be anything (a call, say) when
// the left one decides. Nothing in it calls Starlark code or touches rule
// memory.

// guard is a rule's compiled leading statements.
type guard struct {
	body    []gstmt
	nlocals int
	// For tests: the event paths it reads (a top-level key has one
	// element), and the constants it compares them with.
	keys   [][]string
	consts []starlark.Value
}

// Outcomes of running guard statements.
const (
	gNext   = iota // fell through: go on with the next statement
	gReject        // rule() returns False
	gStop          // not sure: run the rule in Starlark
)

// rejects reports whether rule(event) returns False on this event, sure
// of it without running Starlark. top is the event as the rule sees it.
func (g *guard) rejects(top *Dict) (rejected bool) {
	env := genvPool.Get().(*genv)
	defer func() {
		// A panic here is one Starlark would hit too (a value's own
		// comparison, say): let Starlark run into it, and report it as ever.
		if recover() != nil {
			rejected = false
		}
		clear(env.locals)
		env.top = nil
		genvPool.Put(env)
	}()
	env.top = top
	if cap(env.locals) < g.nlocals {
		env.locals = make([]starlark.Value, g.nlocals)
	}
	env.locals = env.locals[:g.nlocals]
	return runStmts(g.body, env) == gReject
}

// genvPool: an evaluation's environment escapes to the statements'
// methods; reused, it costs no allocation per rule and event.
var genvPool = sync.Pool{New: func() any { return &genv{} }}

type genv struct {
	top    *Dict
	locals []starlark.Value // nil: not assigned yet
}

func runStmts(body []gstmt, env *genv) int {
	for _, s := range body {
		if r := s.run(env); r != gNext {
			return r
		}
	}
	return gNext
}

// gstmt is a compiled statement.
type gstmt interface{ run(env *genv) int }

type stopStmt struct{}

func (stopStmt) run(*genv) int { return gStop }

type assignStmt struct {
	slot int
	x    gexpr
}

func (s *assignStmt) run(env *genv) int {
	v, ok := s.x.eval(env)
	if !ok {
		return gStop
	}
	env.locals[s.slot] = v
	return gNext
}

type ifStmt struct {
	cond        gexpr
	then, other []gstmt
}

func (s *ifStmt) run(env *genv) int {
	v, ok := s.cond.eval(env)
	if !ok {
		return gStop
	}
	if v.Truth() {
		return runStmts(s.then, env)
	}
	return runStmts(s.other, env)
}

type returnStmt struct{ x gexpr }

func (s *returnStmt) run(env *genv) int {
	v, ok := s.x.eval(env)
	if ok && v == starlark.False {
		return gReject
	}
	return gStop // True or anything else: Starlark decides (and runs title() and the rest)
}

// gexpr is a compiled expression; ok false: unknown (Starlark would raise,
// or the guard cannot tell).
type gexpr interface {
	eval(env *genv) (v starlark.Value, ok bool)
}

type constExpr struct{ v starlark.Value }

func (e constExpr) eval(*genv) (starlark.Value, bool) { return e.v, true }

type localExpr struct{ slot int }

func (e localExpr) eval(env *genv) (starlark.Value, bool) {
	v := env.locals[e.slot]
	return v, v != nil // unassigned: Starlark raises "referenced before assignment"
}

type eventExpr struct{}

func (eventExpr) eval(env *genv) (starlark.Value, bool) { return env.top, true }

// getExpr is event.get("k") with a constant default: fastGet's case.
type getExpr struct {
	key string
	def starlark.Value
}

func (e *getExpr) eval(env *genv) (starlark.Value, bool) {
	if v, found := env.top.lookup(e.key); found {
		return v, true
	}
	return e.def, true
}

// deepGetExpr is event.deep_get(k1, k2, ..., default=d) with constant arguments.
type deepGetExpr struct {
	keys starlark.Tuple
	def  starlark.Value
}

func (e *deepGetExpr) eval(env *genv) (starlark.Value, bool) {
	return deepGet(env.top, e.keys, e.def), true
}

// callExpr is event.get or event.deep_get with computed arguments, through
// the very functions Starlark calls.
type callExpr struct {
	fn     methodFunc
	args   []gexpr
	kwargs []gexpr // values of keyword arguments named by names
	names  []starlark.String
}

func (e *callExpr) eval(env *genv) (starlark.Value, bool) {
	args := make(starlark.Tuple, len(e.args))
	for i, a := range e.args {
		v, ok := a.eval(env)
		if !ok {
			return nil, false
		}
		args[i] = v
	}
	var kwargs []starlark.Tuple
	for i, a := range e.kwargs {
		v, ok := a.eval(env)
		if !ok {
			return nil, false
		}
		kwargs = append(kwargs, starlark.Tuple{e.names[i], v})
	}
	v, err := e.fn(nil, env.top, args, kwargs)
	return v, err == nil
}

// indexExpr is event[k]: a missing key raises in Starlark.
type indexExpr struct{ key gexpr }

func (e *indexExpr) eval(env *genv) (starlark.Value, bool) {
	k, ok := e.key.eval(env)
	if !ok {
		return nil, false
	}
	v, found, err := env.top.Get(k)
	return v, found && err == nil
}

type typeExpr struct{ x gexpr }

func (e *typeExpr) eval(env *genv) (starlark.Value, bool) {
	v, ok := e.x.eval(env)
	if !ok {
		return nil, false
	}
	return starlark.String(v.Type()), true
}

type compareExpr struct {
	op   syntax.Token // EQL or NEQ
	x, y gexpr
}

func (e *compareExpr) eval(env *genv) (starlark.Value, bool) {
	x, ok := e.x.eval(env)
	if !ok {
		return nil, false
	}
	y, ok := e.y.eval(env)
	if !ok {
		return nil, false
	}
	b, err := starlark.Compare(e.op, x, y)
	return starlark.Bool(b), err == nil
}

type inExpr struct {
	op   syntax.Token // IN or NOT_IN
	x, y gexpr
}

func (e *inExpr) eval(env *genv) (starlark.Value, bool) {
	x, ok := e.x.eval(env)
	if !ok {
		return nil, false
	}
	y, ok := e.y.eval(env)
	if !ok {
		return nil, false
	}
	v, err := starlark.Binary(e.op, x, y)
	return v, err == nil
}

type andExpr struct{ x, y gexpr }

func (e *andExpr) eval(env *genv) (starlark.Value, bool) {
	x, ok := e.x.eval(env)
	if !ok || !bool(x.Truth()) {
		return x, ok
	}
	return e.y.eval(env)
}

type orExpr struct{ x, y gexpr }

func (e *orExpr) eval(env *genv) (starlark.Value, bool) {
	x, ok := e.x.eval(env)
	if !ok || bool(x.Truth()) {
		return x, ok
	}
	return e.y.eval(env)
}

// unknownExpr stands for an operand the guard does not follow.
type unknownExpr struct{}

func (unknownExpr) eval(*genv) (starlark.Value, bool) { return nil, false }

type notExpr struct{ x gexpr }

func (e *notExpr) eval(env *genv) (starlark.Value, bool) {
	x, ok := e.x.eval(env)
	if !ok {
		return nil, false
	}
	return !x.Truth(), true
}

type condExpr struct{ cond, t, f gexpr }

func (e *condExpr) eval(env *genv) (starlark.Value, bool) {
	c, ok := e.cond.eval(env)
	if !ok {
		return nil, false
	}
	if c.Truth() {
		return e.t.eval(env)
	}
	return e.f.eval(env)
}

// tupleExpr and listExpr build a fresh tuple or list, as Starlark does.
type tupleExpr struct {
	elems []gexpr
	list  bool
}

func (e *tupleExpr) eval(env *genv) (starlark.Value, bool) {
	vs := make([]starlark.Value, len(e.elems))
	for i, x := range e.elems {
		v, ok := x.eval(env)
		if !ok {
			return nil, false
		}
		vs[i] = v
	}
	if e.list {
		return starlark.NewList(vs), true
	}
	return starlark.Tuple(vs), true
}

// compileGuard compiles the leading statements of mod's rule(event); nil
// when the rule is not a plain def rule(event) or no statement the guard
// knows could reject an event.
func compileGuard(mod *module) *guard {
	fn, ok := mod.fns[fnRule].(*starlark.Function)
	if !ok || mod.file == nil {
		return nil
	}
	var def *resolve.Function
	for _, s := range mod.file.Stmts {
		d, ok := s.(*syntax.DefStmt)
		if !ok || d.Name.Name != fnNames[fnRule] {
			continue
		}
		if f, ok := d.Function.(*resolve.Function); ok && f.Pos == fn.Position() {
			def = f
		}
	}
	// One plain parameter: resolve() checked there is one; no default, no *.
	if def == nil || len(def.Params) != 1 || len(def.Locals) == 0 {
		return nil
	}
	param, ok := def.Params[0].(*syntax.Ident)
	if !ok || param.Binding != def.Locals[0] {
		return nil
	}
	c := &guardCompiler{mod: mod, event: def.Locals[0], slots: map[*resolve.Binding]int{}}
	body := c.stmts(def.Body)
	if !c.canReject {
		return nil
	}
	return &guard{body: body, nlocals: len(c.slots), keys: c.keys, consts: c.consts}
}

type guardCompiler struct {
	mod       *module
	event     *resolve.Binding
	slots     map[*resolve.Binding]int
	keys      [][]string
	consts    []starlark.Value
	canReject bool
}

// stmts compiles statements up to the first one it does not know, which
// becomes a stop.
func (c *guardCompiler) stmts(list []syntax.Stmt) []gstmt {
	var out []gstmt
	for _, s := range list {
		g := c.stmt(s)
		if g == nil {
			return append(out, stopStmt{})
		}
		if _, noop := g.(noopStmt); noop {
			continue
		}
		out = append(out, g)
	}
	return out
}

type noopStmt struct{}

func (noopStmt) run(*genv) int { return gNext }

func (c *guardCompiler) stmt(s syntax.Stmt) gstmt {
	switch s := s.(type) {
	case *syntax.BranchStmt:
		if s.Token == syntax.PASS {
			return noopStmt{}
		}
	case *syntax.ExprStmt:
		if _, ok := s.X.(*syntax.Literal); ok { // a docstring or comment string
			return noopStmt{}
		}
	case *syntax.AssignStmt:
		id, ok := s.LHS.(*syntax.Ident)
		if s.Op != syntax.EQ || !ok {
			return nil
		}
		b := c.local(id)
		if b == nil || b == c.event {
			return nil // the event itself rebound: not worth following
		}
		x := c.expr(s.RHS)
		if x == nil {
			return nil
		}
		slot, seen := c.slots[b]
		if !seen {
			slot = len(c.slots)
			c.slots[b] = slot
		}
		return &assignStmt{slot: slot, x: x}
	case *syntax.IfStmt:
		cond := c.expr(s.Cond)
		if cond == nil {
			return nil
		}
		return &ifStmt{cond: cond, then: c.stmts(s.True), other: c.stmts(s.False)}
	case *syntax.ReturnStmt:
		if s.Result == nil {
			return nil
		}
		x := c.expr(s.Result)
		if x == nil {
			return nil
		}
		c.canReject = true
		return &returnStmt{x: x}
	}
	return nil
}

// local is the binding of a local variable of rule(), nil for any other.
func (c *guardCompiler) local(id *syntax.Ident) *resolve.Binding {
	b, ok := id.Binding.(*resolve.Binding)
	if !ok || (b.Scope != resolve.Local && b.Scope != resolve.Cell) {
		return nil
	}
	return b
}

func (c *guardCompiler) exprs(list []syntax.Expr) []gexpr {
	out := make([]gexpr, len(list))
	for i, x := range list {
		if out[i] = c.expr(x); out[i] == nil {
			return nil
		}
	}
	return out
}

// expr compiles an expression; nil when the guard does not know it.
func (c *guardCompiler) expr(x syntax.Expr) gexpr {
	switch x := x.(type) {
	case *syntax.Literal:
		var v starlark.Value
		switch lit := x.Value.(type) {
		case string:
			if x.Token == syntax.STRING {
				v = starlark.String(lit)
			}
		case int64:
			v = starlark.MakeInt64(lit)
		case *big.Int:
			v = starlark.MakeBigInt(lit)
		case float64:
			v = starlark.Float(lit)
		}
		if v != nil {
			c.consts = append(c.consts, v)
			return constExpr{v}
		}
	case *syntax.ParenExpr:
		return c.expr(x.X)
	case *syntax.Ident:
		return c.ident(x)
	case *syntax.UnaryExpr:
		switch x.Op {
		case syntax.NOT:
			if y := c.expr(x.X); y != nil {
				return &notExpr{y}
			}
		case syntax.MINUS: // a negative number
			if y, ok := c.expr(x.X).(constExpr); ok {
				if v, err := starlark.Unary(syntax.MINUS, y.v); err == nil {
					return constExpr{v}
				}
			}
		}
	case *syntax.BinaryExpr:
		l, r := c.expr(x.X), c.expr(x.Y)
		if l != nil && r == nil && (x.Op == syntax.AND || x.Op == syntax.OR) {
			// The right operand runs only when the left one does not
			// decide: when it does, the guard can still answer.
			r = unknownExpr{}
		}
		if l == nil || r == nil {
			return nil
		}
		switch x.Op {
		case syntax.EQL, syntax.NEQ:
			return &compareExpr{op: x.Op, x: l, y: r}
		case syntax.IN, syntax.NOT_IN:
			return &inExpr{op: x.Op, x: l, y: r}
		case syntax.AND:
			return &andExpr{l, r}
		case syntax.OR:
			return &orExpr{l, r}
		}
	case *syntax.CondExpr:
		cond, t, f := c.expr(x.Cond), c.expr(x.True), c.expr(x.False)
		if cond != nil && t != nil && f != nil {
			return &condExpr{cond, t, f}
		}
	case *syntax.TupleExpr:
		if elems := c.exprs(x.List); elems != nil || len(x.List) == 0 {
			return &tupleExpr{elems: elems}
		}
	case *syntax.ListExpr:
		if elems := c.exprs(x.List); elems != nil || len(x.List) == 0 {
			return &tupleExpr{elems: elems, list: true}
		}
	case *syntax.IndexExpr:
		if c.isEvent(x.X) {
			if k := c.expr(x.Y); k != nil {
				if s, ok := k.(constExpr); ok {
					if key, ok := s.v.(starlark.String); ok {
						c.keys = append(c.keys, []string{string(key)})
					}
				}
				return &indexExpr{key: k}
			}
		}
	case *syntax.CallExpr:
		return c.call(x)
	}
	return nil
}

func (c *guardCompiler) isEvent(x syntax.Expr) bool {
	id, ok := x.(*syntax.Ident)
	return ok && id.Binding == c.event
}

func (c *guardCompiler) ident(id *syntax.Ident) gexpr {
	b, ok := id.Binding.(*resolve.Binding)
	if !ok {
		return nil
	}
	switch b.Scope {
	case resolve.Local, resolve.Cell:
		if b == c.event {
			return eventExpr{}
		}
		if slot, ok := c.slots[b]; ok {
			return localExpr{slot}
		}
		// Assigned further down, or in a branch not compiled: Starlark
		// would raise here; let it.
		return nil
	case resolve.Global:
		// Globals are frozen after the module ran, and a global cannot be
		// rebound (no GlobalReassign outside mocks, which get no guard).
		v, ok := c.mod.globals[id.Name]
		if ok && plainValue(v, 0) {
			c.consts = append(c.consts, v)
			return constExpr{v}
		}
	case resolve.Universal:
		switch id.Name {
		case "None":
			return constExpr{starlark.None}
		case "True":
			return constExpr{starlark.True}
		case "False":
			return constExpr{starlark.False}
		}
	}
	return nil
}

// plainValue: a frozen value whose comparisons and membership tests run
// no code but Starlark's own: scalars, and containers of plain values.
func plainValue(v starlark.Value, depth int) bool {
	if depth > 4 {
		return false
	}
	switch v := v.(type) {
	case starlark.NoneType, starlark.Bool, starlark.Int, starlark.Float, starlark.String:
		return true
	case starlark.Tuple:
		for _, e := range v {
			if !plainValue(e, depth+1) {
				return false
			}
		}
		return true
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			if !plainValue(v.Index(i), depth+1) {
				return false
			}
		}
		return true
	case *starlark.Dict:
		for _, kv := range v.Items() {
			if !plainValue(kv[0], depth+1) || !plainValue(kv[1], depth+1) {
				return false
			}
		}
		return true
	case *starlark.Set:
		it := v.Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			if !plainValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func (c *guardCompiler) call(x *syntax.CallExpr) gexpr {
	if id, ok := x.Fn.(*syntax.Ident); ok {
		// type(x): the universal builtin, not a global or a load() of that name.
		b, ok := id.Binding.(*resolve.Binding)
		if !ok || b.Scope != resolve.Universal || id.Name != "type" || len(x.Args) != 1 {
			return nil
		}
		if kw, ok := x.Args[0].(*syntax.BinaryExpr); ok && kw.Op == syntax.EQ {
			return nil // type(x=...): raises
		}
		if a := c.expr(x.Args[0]); a != nil {
			return &typeExpr{a}
		}
		return nil
	}
	dot, ok := x.Fn.(*syntax.DotExpr)
	if !ok || !c.isEvent(dot.X) {
		return nil
	}
	var fn methodFunc
	switch dot.Name.Name {
	case "get":
		fn = dictGet
	case "deep_get":
		fn = dictDeepGet
	default:
		return nil // udm() and the rest: not followed
	}
	ce := &callExpr{fn: fn}
	for _, a := range x.Args {
		switch a := a.(type) {
		case *syntax.BinaryExpr:
			if a.Op == syntax.EQ { // name = value
				id, ok := a.X.(*syntax.Ident)
				v := c.expr(a.Y)
				if !ok || v == nil {
					return nil
				}
				ce.names = append(ce.names, starlark.String(id.Name))
				ce.kwargs = append(ce.kwargs, v)
				continue
			}
		case *syntax.UnaryExpr:
			if a.Op == syntax.STAR || a.Op == syntax.STARSTAR {
				return nil
			}
		}
		if len(ce.kwargs) > 0 {
			return nil // positional after keyword: a compile error anyway
		}
		v := c.expr(a)
		if v == nil {
			return nil
		}
		ce.args = append(ce.args, v)
	}
	return c.fastCall(dot.Name.Name, ce)
}

// fastCall turns a call with constant arguments into its allocation-free
// form, when it is one the engine's own get and deep_get take that way.
func (c *guardCompiler) fastCall(name string, ce *callExpr) gexpr {
	consts := func(xs []gexpr) ([]starlark.Value, bool) {
		out := make([]starlark.Value, len(xs))
		for i, x := range xs {
			k, ok := x.(constExpr)
			if !ok {
				return nil, false
			}
			out[i] = k.v
		}
		return out, true
	}
	args, okA := consts(ce.args)
	kwargs, okK := consts(ce.kwargs)
	if !okA || !okK {
		return ce
	}
	var path []string
	for _, a := range args {
		s, ok := a.(starlark.String)
		if !ok {
			break
		}
		path = append(path, string(s))
		if name == "get" {
			break
		}
	}
	if len(path) > 0 {
		c.keys = append(c.keys, path)
	}
	switch name {
	case "get":
		// fastGet's forms: get(k), get(k, d), get(k, default=d).
		key, isStr := starlark.Value(nil), false
		if len(args) > 0 {
			_, isStr = args[0].(starlark.String)
			key = args[0]
		}
		switch {
		case !isStr:
		case len(args) == 1 && len(kwargs) == 0:
			return &getExpr{key: string(key.(starlark.String)), def: starlark.None}
		case len(args) == 2 && len(kwargs) == 0:
			return &getExpr{key: string(key.(starlark.String)), def: args[1]}
		case len(args) == 1 && len(kwargs) == 1 && ce.names[0] == "default":
			return &getExpr{key: string(key.(starlark.String)), def: kwargs[0]}
		}
	case "deep_get":
		def := starlark.Value(starlark.None)
		for i, n := range ce.names {
			if n != "default" {
				return ce // deep_get raises on it
			}
			def = kwargs[i]
		}
		return &deepGetExpr{keys: starlark.Tuple(args), def: def}
	}
	return ce
}
