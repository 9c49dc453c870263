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
	s := &a.streams[signInAttempts]
	p := a.pop
	r := s.eventRNG(i)
	u1, u2, s1, s2 := r.next(), r.next(), r.next(), r.next()
	o := &a.t.outcomes[r.pickW(a.t.outcomeW)]
	if !v2 && v2Only(o.typ) {
		o = &a.t.outcomes[r.pickW(a.t.outcomeV1W)]
	}

	var who int
	switch {
	case o.typ == "service_account_sso_denied":
		who = r.pickPerson(p.services)
	case a.msp && r.chance(0.03):
		who = r.pickPerson(p.externals)
	case o.category == "success" && r.chance(0.03):
		who = r.pickPerson(p.services)
	default:
		who = r.pickPerson(p.users)
	}
	pp := &p.people[who]
	d := &p.devices[pp.devices[r.intn(len(pp.devices))]]
	place := d.place
	var ipBuf [48]byte
	ip := append(ipBuf[:0], d.ip...)
	hostile := false
	switch o.category {
	case "credentials_failed", "firewall_failed", "firewall_reported_success":
		hostile = r.chance(0.5)
	case "mfa_failed":
		hostile = r.chance(0.2)
	}
	switch {
	case hostile:
		// Someone else, elsewhere, on some other client.
		place = len(offices) + r.intn(len(elsewhere))
		ip = appendIP(ipBuf[:0], &r, p.places[place].p)
		d = &p.devices[r.intn(len(p.devices))]
	case r.chance(0.05):
		place = r.intn(len(offices)) // travelling
		ip = appendIP(ipBuf[:0], &r, p.places[place].p)
	}
	pl := &p.places[place]
	noLocation := r.chance(0.01)

	b = append(b, `{"uuid":`...)
	b = appendQuotedID(b, u1, u2, true)
	b = append(b, `,"session_uuid":`...)
	b = appendQuotedID(b, s1, s2, true)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts)
	if !v2 {
		b = append(b, `,"country":`...)
		b = appendString(b, pl.p.iso)
	}
	b = append(b, `,"category":"`...)
	b = append(b, o.category...)
	b = append(b, `","type":"`...)
	b = append(b, o.typ...)
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
	b = append(b, d.client...)
	b = appendRaw(b, ip)
	b = append(b, '}')
	if !noLocation {
		b = append(b, `,"location":`...)
		b = append(b, pl.byISO...)
	}
	if v2 {
		b = append(b, `,"account_uuid":`...)
		b = append(b, p.accountJSON...)
	}
	return append(b, '}')
}

func (a *account) appendItemUsage(b []byte, i int, ts int64, v2 bool) []byte {
	s := &a.streams[itemUsages]
	p := a.pop
	r := s.eventRNG(i)
	u1, u2 := r.next(), r.next()

	var who int
	switch {
	case r.chance(0.1):
		who = r.pickPerson(p.services)
	case a.msp && r.chance(0.02):
		who = r.pickPerson(p.externals)
	default:
		who = r.pickPerson(p.users)
	}
	pp := &p.people[who]
	vi := pp.shared[r.intn(len(pp.shared))]
	if pp.private >= 0 && r.chance(0.35) {
		vi = pp.private
	}
	v := &p.vaults[vi]
	itemKey, version := v.item(r.intn(v.items))
	var action string
	if pp.service {
		switch x := r.intn(100); {
		case x < 80:
			action = "server-fetch"
		case x < 92:
			action = "server-update"
		default:
			action = "server-create"
		}
	} else {
		action = a.t.actions[r.pickW(a.t.actionW)]
		if !v2 && v2Only(action) {
			action = a.t.actions[r.pickW(a.t.actionV1W)]
		}
	}
	d := &p.devices[pp.devices[r.intn(len(pp.devices))]]
	place := d.place
	var ipBuf [48]byte
	ip := append(ipBuf[:0], d.ip...)
	if !pp.service && r.chance(0.04) {
		place = r.intn(len(offices))
		ip = appendIP(ipBuf[:0], &r, p.places[place].p)
	}
	noLocation := r.chance(0.01)

	b = append(b, `{"uuid":`...)
	b = appendQuotedID(b, u1, u2, true)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts)
	b = append(b, `,"used_version":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, `,"vault_uuid":"`...)
	b = append(b, v.uuid...)
	b = append(b, `","item_uuid":`...)
	b = appendQuotedID(b, itemKey, mix(itemKey), false)
	b = append(b, `,"user":`...)
	if v2 {
		b = append(b, pp.v2...)
	} else {
		b = append(b, pp.details...)
	}
	b = append(b, `,"client":`...)
	b = append(b, d.client...)
	b = appendRaw(b, ip)
	b = append(b, '}')
	if !noLocation {
		b = append(b, `,"location":`...)
		b = append(b, p.places[place].byName...)
	}
	b = append(b, `,"action":"`...)
	b = append(b, action...)
	b = append(b, '"')
	if v2 {
		b = append(b, `,"account_uuid":`...)
		b = append(b, p.accountJSON...)
	}
	return append(b, '}')
}

func (a *account) appendAudit(b []byte, i int, ts int64, v2 bool) []byte {
	s := &a.streams[auditEvents]
	p := a.pop
	r := s.eventRNG(i)
	u1, u2 := r.next(), r.next()
	k := &a.t.audit[r.pickW(a.t.auditW)]
	if !v2 && (v2Only(k.action) || v2Only(k.objectType)) {
		k = &a.t.audit[r.pickW(a.t.auditV1W)]
	}

	var who int
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
	}
	actor := &p.people[who]

	// A session lasts the hour: events of one actor in one hour share it.
	bucket := ts / int64(time.Hour)
	sh := mix(s.key + uint64(who)<<40 + uint64(bucket))
	login := bucket*int64(time.Hour) - int64(mix(sh)%uint64(20*time.Minute))
	sd := &p.devices[actor.devices[sh%uint64(len(actor.devices))]]
	place := sd.place
	var ipBuf [48]byte
	ip := append(ipBuf[:0], sd.ip...)
	if (sh>>32)%25 == 0 {
		rs := newRNG(sh)
		place = rs.intn(len(offices))
		ip = appendIP(ipBuf[:0], &rs, p.places[place].p)
	}

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
			target = &p.people[r.pickPerson(p.users)]
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
		b = append(b, p.groups[r.intn(len(p.groups))]...)
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
		b = appendQuotedID(b, sh, mix(sh^1), true)
	case auxMember:
		m := &p.people[r.pickPerson(p.users)]
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
			m = &p.people[r.pickPerson(p.users)]
		}
		b = append(b, `,"aux_uuid":"`...)
		b = append(b, m.uuid...)
		b = append(b, `","aux_details":`...)
		b = append(b, m.details...)
	case auxGroup:
		b = append(b, `,"aux_uuid":"`...)
		b = append(b, p.groups[r.intn(len(p.groups))]...)
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

	b = append(b, `,"session":{"uuid":`...)
	b = appendQuotedID(b, sh, mix(sh^1), true)
	b = append(b, `,"login_time":`...)
	b = appendTime(b, login)
	b = append(b, `,"device_uuid":"`...)
	b = append(b, sd.uuid...)
	b = append(b, `","ip":`...)
	b = appendRaw(b, ip)
	b = append(b, '}')
	if !r.chance(0.01) {
		b = append(b, `,"location":`...)
		b = append(b, p.places[place].byName...)
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
