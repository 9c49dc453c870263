package emulator

import (
	"strconv"
	"time"
)

// tables are the weighted catalogues every account draws from. The v1
// tables leave out the values that came with the v2 endpoints (v1 serves what
// spec 1.2 lists), so a v1 event that drew one draws again from them.
type tables struct {
	audit      []auditKind
	auditW     weighted
	auditV1W   weighted
	outcomes   []signInOutcome
	outcomeW   weighted
	outcomeV1W weighted
	actions    []string
	actionW    weighted
	actionV1W  weighted
	// guiActionW and guiActionV1W leave out the server-side actions, for
	// members without the CLI.
	guiActionW, guiActionV1W weighted
}

// v2Only reports the values absent from spec 1.2, the last spec of the v1
// endpoints (reference §5.2 to §5.5): the sign-in type federated (1.4.0),
// the audit actions expire, launchi and unlink and the object type mngdacc
// (most likely 1.3.0), and the item usage action other.
func v2Only(value string) bool {
	switch value {
	case "federated", "expire", "launchi", "unlink", "mngdacc", "other":
		return true
	}
	return false
}

func newTables() *tables {
	t := &tables{audit: auditCatalogue(), outcomes: signInOutcomes()}
	w, w1 := make([]int, len(t.audit)), make([]int, len(t.audit))
	for i, k := range t.audit {
		w[i] = k.weight
		if !v2Only(k.action) && !v2Only(k.objectType) {
			w1[i] = k.weight
		}
	}
	t.auditW, t.auditV1W = newWeighted(w), newWeighted(w1)
	w, w1 = make([]int, len(t.outcomes)), make([]int, len(t.outcomes))
	for i, o := range t.outcomes {
		w[i] = o.weight
		if !v2Only(o.typ) {
			w1[i] = o.weight
		}
	}
	t.outcomeW, t.outcomeV1W = newWeighted(w), newWeighted(w1)
	var aw []int
	t.actions, aw = itemActions()
	w1 = make([]int, len(aw))
	for i, a := range t.actions {
		if !v2Only(a) {
			w1[i] = aw[i]
		}
	}
	t.actionW, t.actionV1W = newWeighted(aw), newWeighted(w1)
	gw, gw1 := make([]int, len(aw)), make([]int, len(aw))
	for i, a := range t.actions {
		if !isServerAction(a) {
			gw[i], gw1[i] = aw[i], w1[i]
		}
	}
	t.guiActionW, t.guiActionV1W = newWeighted(gw), newWeighted(gw1)
	return t
}

// account is one 1Password account: its data, its streams and its limits.
type account struct {
	uuid     string
	pop      *population
	streams  [numFeatures]stream
	injected [numFeatures]injectedList
	limiter  *limiter
	msp      bool
	t        *tables
	tl       *timeline // the emulator's, to find a member's latest sign-in
	sched    *schedule // planted scenarios; nil when off
}

// appendEvent appends event i of feature f, whose timestamp is ts (Unix ns),
// in the shape of API version 1 or 2. It is a pure function of the account,
// the options, f and i.
func (a *account) appendEvent(b []byte, f, i int, ts int64, version int) []byte {
	switch f {
	case signInAttempts:
		return a.appendSignIn(b, i, ts, version == 2)
	case itemUsages:
		return a.appendItemUsage(b, i, ts, version == 2)
	default:
		return a.appendAudit(b, i, ts, version == 2)
	}
}

// appendRaw appends s quoted; for ids and IP addresses, which need no escapes.
func appendRaw(b []byte, s []byte) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendQuotedID(b []byte, h1, h2 uint64, upper bool) []byte {
	b = append(b, '"')
	b = appendID(b, h1, h2, upper)
	return append(b, '"')
}

// pickPerson picks from a list of people indexes.
func (r *rng) pickPerson(list []int) int { return list[r.intn(len(list))] }

func (a *account) appendSignIn(b []byte, i int, ts int64, v2 bool) []byte {
	var f signInFacts
	a.signIn(i, ts, &f)
	return a.renderSignIn(b, &f, ts, v2)
}

// renderSignIn encodes a sign-in attempt.
func (a *account) renderSignIn(b []byte, f *signInFacts, ts int64, v2 bool) []byte {
	p := a.pop
	o := f.o
	typ := o.typ
	if !v2 && v2Only(typ) {
		typ = "credentials_ok" // spec 1.2 has no federated type
	}
	pl := &p.places[f.place]
	ip := f.ip[:f.ipn]
	pp := &p.people[f.who]

	b = append(b, `{"uuid":`...)
	b = appendQuotedID(b, f.u1, f.u2, true)
	b = append(b, `,"session_uuid":`...)
	b = appendQuotedID(b, f.s1, f.s2, true)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts)
	if !v2 {
		b = append(b, `,"country":`...)
		b = appendString(b, pl.p.iso)
	}
	b = append(b, `,"category":"`...)
	b = append(b, o.category...)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if v2 {
		b = append(b, `,"country":`...)
		b = appendString(b, pl.p.iso)
	}
	b = append(b, `,"details":`...)
	switch {
	case o.category != "firewall_failed" && o.category != "firewall_reported_success" || o.typ == "all_blocked":
		b = append(b, "null"...)
	case o.typ == "continent_blocked":
		b = append(b, `{"value":`...)
		b = appendString(b, pl.p.continent)
		b = append(b, '}')
	case o.typ == "country_blocked":
		b = append(b, `{"value":`...)
		b = appendString(b, pl.p.iso)
		b = append(b, '}')
	default: // ip_blocked, anonymous_blocked
		b = append(b, `{"value":`...)
		b = appendRaw(b, ip)
		b = append(b, '}')
	}
	b = append(b, `,"target_user":`...)
	if v2 {
		b = append(b, pp.v2...)
	} else {
		b = append(b, pp.details...)
	}
	b = append(b, `,"client":`...)
	b = append(b, f.clientJSON(p)...)
	b = appendRaw(b, ip)
	b = append(b, '}')
	if !f.noLocation {
		b = append(b, `,"location":`...)
		b = append(b, pl.byISO...)
	}
	if v2 {
		b = append(b, `,"account_uuid":`...)
		b = append(b, p.accountJSON...)
	}
	return append(b, '}')
}

// isServerAction reports the item actions done through the CLI, an SDK or
// Connect, never through a GUI app.
func isServerAction(action string) bool {
	switch action {
	case "server-fetch", "server-update", "server-create":
		return true
	}
	return false
}

// usageFacts is what an item usage says, before it is encoded.
type usageFacts struct {
	u1, u2     uint64
	who        int
	vault      int
	itemKey    uint64
	version    int
	device     int
	place      int
	ip         string
	action     string
	noLocation bool
}

func (a *account) appendItemUsage(b []byte, i int, ts int64, v2 bool) []byte {
	var f usageFacts
	if i >= 0 && a.sched != nil && a.sched.itemUsage(a, i, ts, &f) {
		return a.renderItemUsage(b, &f, ts, v2)
	}
	s := &a.streams[itemUsages]
	p := a.pop
	r := s.eventRNG(i)
	f.u1, f.u2 = r.next(), r.next()

	// Someone who is somewhere (not on the way); a service account else.
	who, place := -1, 0
	for try := 0; try < 4 && who < 0; try++ {
		switch {
		case r.chance(0.1):
			who = r.pickPerson(p.services)
		case a.msp && r.chance(0.02):
			who = r.pickPerson(p.externals)
		default:
			who = r.pickPerson(p.users)
		}
		var here bool
		if place, here = a.where(who, ts); !here {
			who = -1
		}
	}
	if who < 0 {
		who = r.pickPerson(p.services)
		place = p.people[who].home
	}
	pp := &p.people[who]
	f.who, f.place = who, place
	f.vault = pp.shared[r.intn(len(pp.shared))]
	if pp.private >= 0 && r.chance(0.35) {
		f.vault = pp.private
	}
	v := &p.vaults[f.vault]
	f.itemKey, f.version = v.item(r.intn(v.items))
	cli := -1 // a CLI device of the member's, for server-side actions
	for _, d := range pp.devices {
		if p.devices[d].kind == kindCLI {
			cli = d
		}
	}
	if pp.service {
		switch x := r.intn(100); {
		case x < 80:
			f.action = "server-fetch"
		case x < 92:
			f.action = "server-update"
		default:
			f.action = "server-create"
		}
	} else {
		w, w1 := a.t.actionW, a.t.actionV1W
		if cli < 0 {
			w, w1 = a.t.guiActionW, a.t.guiActionV1W
		}
		f.action = a.t.actions[r.pickW(w)]
		if !v2 && v2Only(f.action) {
			f.action = a.t.actions[r.pickW(w1)]
		}
	}
	f.device = pp.devices[r.intn(len(pp.devices))]
	if !pp.service {
		if isServerAction(f.action) {
			f.device = cli
		} else if p.devices[f.device].kind == kindCLI {
			f.device = pp.devices[0] // the computer's app: GUI actions come from GUI apps
		}
	}
	f.ip = p.ipAt(who, f.device, place)
	f.noLocation = r.chance(0.01)
	return a.renderItemUsage(b, &f, ts, v2)
}

// renderItemUsage encodes an item usage.
func (a *account) renderItemUsage(b []byte, f *usageFacts, ts int64, v2 bool) []byte {
	p := a.pop
	pp := &p.people[f.who]
	b = append(b, `{"uuid":`...)
	b = appendQuotedID(b, f.u1, f.u2, true)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts)
	b = append(b, `,"used_version":`...)
	b = strconv.AppendInt(b, int64(f.version), 10)
	b = append(b, `,"vault_uuid":"`...)
	b = append(b, p.vaults[f.vault].uuid...)
	b = append(b, `","item_uuid":`...)
	b = appendQuotedID(b, f.itemKey, mix(f.itemKey), false)
	b = append(b, `,"user":`...)
	if v2 {
		b = append(b, pp.v2...)
	} else {
		b = append(b, pp.details...)
	}
	b = append(b, `,"client":`...)
	b = append(b, p.devices[f.device].client...)
	b = append(b, '"')
	b = append(b, f.ip...)
	b = append(b, '"')
	b = append(b, '}')
	if !f.noLocation {
		b = append(b, `,"location":`...)
		b = append(b, p.places[f.place].byName...)
	}
	b = append(b, `,"action":"`...)
	b = append(b, f.action...)
	b = append(b, '"')
	if v2 {
		b = append(b, `,"account_uuid":`...)
		b = append(b, p.accountJSON...)
	}
	return append(b, '}')
}

func (a *account) appendAudit(b []byte, i int, ts int64, v2 bool) []byte {
	if i >= 0 && a.sched != nil {
		if b2, ok := a.sched.audit(a, b, i, ts, v2); ok {
			return b2
		}
	}
	s := &a.streams[auditEvents]
	p := a.pop
	r := s.eventRNG(i)
	u1, u2 := r.next(), r.next()
	k := &a.t.audit[r.pickW(a.t.auditW)]
	if !v2 && (v2Only(k.action) || v2Only(k.objectType)) {
		k = &a.t.audit[r.pickW(a.t.auditV1W)]
	}

	// An actor who is signed in where they are now; a few tries, then one
	// who surely is (the provisioning bridge or an admin's hour session).
	var sess sessionFacts
	who := -1
	for try := 0; try < 6 && who < 0; try++ {
		switch k.actor {
		case actorAdmin:
			if a.msp && r.chance(0.2) {
				who = r.pickPerson(p.externals)
			} else {
				who = r.pickPerson(p.admins)
			}
		case actorSCIM:
			who = p.scim
		case actorMember:
			if k.action == "patch" && r.chance(0.15) {
				who = r.pickPerson(p.services)
			} else {
				who = r.pickPerson(p.users)
			}
		default:
			who = r.pickPerson(p.users)
			if k.objectType == "user" && (k.action == "join" || k.action == "verify") {
				who = r.pickPerson(p.joiners)
			}
		}
		if !a.session(who, ts, &sess) {
			who = -1
		}
	}
	if who < 0 {
		who = p.admins[0]
		if k.actor == actorMember && k.action == "patch" {
			who = p.services[0]
		}
		sess.s1, sess.s2 = a.hourSession(who, ts)
		sess.login = ts - int64(mix(sess.s1)%uint64(20*time.Minute))
		sess.device = p.people[who].devices[0]
		sess.place = p.people[who].home
		sess.ipn = copy(sess.ip[:], p.devices[sess.device].ip)
	}
	actor := &p.people[who]
	sh := sess.s1
	// A member other than the actor.
	other := func() *person {
		m := r.pickPerson(p.users)
		if m == who {
			m = p.users[(indexOfInt(p.users, m)+1)%len(p.users)]
		}
		return &p.people[m]
	}
	group := func() string { return p.groups[numSpecialGroups+r.intn(len(p.groups)-numSpecialGroups)] }

	b = append(b, `{"uuid":`...)
	b = appendQuotedID(b, u1, u2, true)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts)
	b = append(b, `,"actor_uuid":"`...)
	b = append(b, actor.uuid...)
	b = append(b, `","actor_details":`...)
	if v2 {
		b = append(b, actor.v2...)
	} else {
		b = append(b, actor.details...)
	}
	b = append(b, `,"action":"`...)
	b = append(b, k.action...)
	b = append(b, `","object_type":"`...)
	b = append(b, k.objectType...)
	b = append(b, `","object_uuid":`...)

	// The object, and the member it concerns (for device and aux fields).
	owner := actor
	switch k.object {
	case objNone:
		b = append(b, `""`...)
	case objUser, objSelf:
		target := actor
		if k.object == objUser {
			target = other()
			switch k.action {
			case "activate", "provsn", "sendts", "resendts":
				target = &p.people[r.pickPerson(p.joiners)]
			case "suspend", "delete", "reactive":
				target = &p.people[r.pickPerson(p.leavers)]
			}
		}
		b = append(b, '"')
		b = append(b, target.uuid...)
		b = append(b, `","object_details":`...)
		b = append(b, target.details...)
	case objVault:
		vi := r.intn(numShared)
		if len(actor.shared) > 0 {
			vi = actor.shared[r.intn(len(actor.shared))]
		}
		if actor.private >= 0 && r.chance(0.3) {
			vi = actor.private
		}
		b = append(b, '"')
		b = append(b, p.vaults[vi].uuid...)
		b = append(b, '"')
	case objGroup:
		b = append(b, '"')
		b = append(b, group()...)
		b = append(b, '"')
	case objDevice:
		if k.actor != actorSelf {
			owner = &p.people[r.pickPerson(p.users)]
		}
		b = append(b, '"')
		b = append(b, p.devices[owner.devices[r.intn(len(owner.devices))]].uuid...)
		b = append(b, '"')
	case objItem:
		v := &p.vaults[r.intn(len(p.vaults))]
		key, _ := v.item(r.intn(v.items))
		b = appendQuotedID(b, key, mix(key), false)
	case objAccount:
		b = append(b, p.accountJSON...)
	case objService:
		b = append(b, '"')
		b = append(b, p.people[r.pickPerson(p.services)].uuid...)
		b = append(b, '"')
	case objUpper:
		b = appendQuotedID(b, r.next(), r.next(), true)
	case objLower:
		b = appendQuotedID(b, r.next(), r.next(), false)
	}

	switch k.aux {
	case auxSession:
		b = append(b, `,"aux_uuid":`...)
		b = appendQuotedID(b, sh, sess.s2, true)
	case auxMember:
		m := other()
		b = append(b, `,"aux_id":`...)
		b = strconv.AppendInt(b, m.numID, 10)
		b = append(b, `,"aux_uuid":"`...)
		b = append(b, m.uuid...)
		b = append(b, `","aux_details":`...)
		b = append(b, m.details...)
		if r.chance(0.2) {
			b = append(b, `,"aux_info":"A"`...)
		} else {
			b = append(b, `,"aux_info":"R"`...)
		}
	case auxUser, auxOwner:
		m := owner
		if k.aux == auxUser && k.actor != actorSelf {
			m = other()
		}
		b = append(b, `,"aux_uuid":"`...)
		b = append(b, m.uuid...)
		b = append(b, `","aux_details":`...)
		b = append(b, m.details...)
	case auxGroup:
		b = append(b, `,"aux_uuid":"`...)
		b = append(b, group()...)
		b = append(b, '"')
	case auxPatch:
		b = append(b, `,"aux_id":`...)
		b = strconv.AppendInt(b, int64(1+r.intn(500)), 10)
		if r.chance(0.7) {
			b = append(b, `,"aux_info":"1,0,0,0,0"`...)
		} else {
			b = append(b, `,"aux_info":"0,1,0,0,0"`...)
		}
	case auxCount:
		b = append(b, `,"aux_id":`...)
		b = strconv.AppendInt(b, int64(1+r.intn(50)), 10)
	case auxReport:
		b = append(b, `,"aux_info":`...)
		b = appendString(b, reportNames[r.intn(len(reportNames))])
	case auxSAType:
		b = append(b, `,"aux_info":"D"`...)
	case auxToken:
		b = append(b, `,"aux_info":`...)
		b = appendString(b, tokenNames[r.intn(len(tokenNames))])
	case auxEmail:
		b = append(b, `,"aux_info":`...)
		local := asciiFold(firstNames[r.intn(len(firstNames))]) + "." + asciiFold(lastNames[r.intn(len(lastNames))])
		b = appendString(b, local+"@"+p.domain)
	case auxDomain:
		b = append(b, `,"aux_info":`...)
		b = appendString(b, p.domain)
	case auxCompany:
		b = append(b, `,"aux_info":`...)
		b = appendString(b, companyNames[r.intn(len(companyNames))])
	}

	return a.appendAuditTail(b, actor, &sess, r.chance(0.01), v2)
}

// appendAuditTail appends an audit event's session, location and account
// fields, and closes it.
func (a *account) appendAuditTail(b []byte, actor *person, sess *sessionFacts, noLocation, v2 bool) []byte {
	p := a.pop
	b = append(b, `,"session":{"uuid":`...)
	b = appendQuotedID(b, sess.s1, sess.s2, true)
	b = append(b, `,"login_time":`...)
	b = appendTime(b, sess.login)
	b = append(b, `,"device_uuid":"`...)
	b = append(b, p.devices[sess.device].uuid...)
	b = append(b, `","ip":`...)
	b = appendRaw(b, sess.ip[:sess.ipn])
	b = append(b, '}')
	if !noLocation {
		b = append(b, `,"location":`...)
		b = append(b, p.places[sess.place].byName...)
	}
	if v2 {
		accountOfActor := p.account
		if actor.external {
			b = append(b, `,"actor_type":"external_user"`...)
			accountOfActor = p.msp
		} else {
			b = append(b, `,"actor_type":"user"`...)
		}
		if a.msp {
			b = append(b, `,"actor_account_uuid":"`...)
			b = append(b, accountOfActor...)
			b = append(b, '"')
		}
		b = append(b, `,"account_uuid":`...)
		b = append(b, p.accountJSON...)
	}
	return append(b, '}')
}

func indexOfInt(list []int, v int) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return 0
}
