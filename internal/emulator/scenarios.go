package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Planted scenarios are attacks and risky admin actions laid over the benign
// baseline (Options.Scenarios), so that detections have something true to
// find. They live in blocks of blockWidth consecutive indexes, shared by the
// three streams (index i of each stream is ingested at the same time): in a
// block, the scenario's events replace some baseline events, at fixed
// offsets. Blocks are a fixed number of indexes apart, so whether index i is
// planted, and what it is, is computed, never stored.
//
// The last block of the preloaded history ends just before the start, and
// the first live one begins two events after it, so a fresh demo sees both
// within its first minute.

// The kinds of planted scenarios, as Scenario.Kind names them.
const (
	ScenarioUnusualClient       = "unusual_client"             // a successful sign-in with client.app_name "Bartco 1Password Manager"
	ScenarioImpossibleTravel    = "impossible_travel"          // a member's successful sign-in at their place, then one 4,000 to 12,000 km away two events later
	ScenarioMFADisabledExport   = "mfa_disabled_then_export"   // an admin disables their MFA, exports a vault, and exports 12 items
	ScenarioOwnersAdded         = "owners_member_added"        // an admin adds a member to the Owners group
	ScenarioServiceAccount      = "service_account_created"    // an admin creates a service account, then its token 11 ms later
	ScenarioMFABypass           = "success_after_mfa_failures" // 8 MFA failures, then a success, from one new address in the member's city
	ScenarioVaultSharedEveryone = "vault_shared_with_everyone" // an admin grants the Team Members group (everyone) access to a vault
	ScenarioNewCountry          = "new_country"                // a member with history signs in from a country they have never been in
	ScenarioSuspendAfterExport  = "suspend_after_export"       // a member exports a vault and 3 items; an admin suspends them
	ScenarioRevealBurst         = "reveal_burst"               // one member reveals or copies 36 items in a row
	ScenarioPolicyChanges       = "policy_changes"             // an admin makes two changes of policyActions: SSO, firewall, sharing, MFA, Duo, service-account tokens, an invitation
	ScenarioSelfGrantReveal     = "self_grant_then_reveal"     // an admin grants themselves access to a vault, then reveals 5 of its items
	ScenarioExportAfterJoin     = "export_after_join"          // a newcomer joins, then exports a vault
	ScenarioBruteForce          = "brute_force"                // 25 failed sign-ins of one member from one foreign address
)

// scenarioKinds in the order blocks cycle through them: block 0, the first
// live one, is an unusual client (one event, an alert at once); block -1,
// the end of the history, a brute force.
var scenarioKinds = []string{
	ScenarioUnusualClient, ScenarioImpossibleTravel, ScenarioMFADisabledExport, ScenarioOwnersAdded,
	ScenarioServiceAccount, ScenarioMFABypass, ScenarioVaultSharedEveryone, ScenarioNewCountry,
	ScenarioSuspendAfterExport, ScenarioRevealBurst, ScenarioPolicyChanges, ScenarioSelfGrantReveal,
	ScenarioExportAfterJoin, ScenarioBruteForce,
}

const (
	kUnusualClient = iota
	kImpossibleTravel
	kMFADisabledExport
	kOwnersAdded
	kServiceAccount
	kMFABypass
	kVaultShared
	kNewCountry
	kSuspendAfterExport
	kRevealBurst
	kPolicyChanges
	kSelfGrantReveal
	kExportAfterJoin
	kBruteForce
	numKinds
)

const (
	blockWidth     = 40                    // indexes a block spans (the brute force needs 25 sign-ins)
	minBlockStep   = 8 * blockWidth        // blocks replace at most a few percent of the baseline
	scenarioPeriod = 20 * time.Minute      // a block every 20 minutes, when events are dense enough
	quietFor       = 16 * int64(time.Hour) // a travel scenario's member is away this long: no hop exceeds 800 km/h
	// new_country's member goes to a country at most this far, and is away
	// only as long as the trip takes at 800 km/h (at least an hour), so that
	// they have signed in at home enough before it for the rule to have
	// learned their countries (10 successful sign-ins).
	newCountryMaxKM = 4000
	tripKMH         = 800
	bruteForceN     = 25
	mfaFailuresN    = 8
	revealBurstN    = 36
	itemExportsN    = 12 // mfa_disabled_then_export's items: past Items.Exported's threshold of 10
	selfRevealsN    = 5
)

// Planted sign-in failures come from a web browser, planted unusual clients
// from an app 1Password never made.
var (
	attackerClient = []byte(`{"app_name":"1Password for Web","app_version":"2113","platform_name":"Chrome","platform_version":"131.0.6778.86","os_name":"Windows","os_version":"10.0.19045","ip_address":`)
	bartcoClient   = []byte(`{"app_name":"Bartco 1Password Manager","app_version":"1.0.3","platform_name":"Chrome","platform_version":"126.0.6478.127","os_name":"Windows","os_version":"10.0.22631","ip_address":`)
)

// policyActions are the admin settings changes policy_changes cycles
// through, two per scenario.
var policyActions = [][2]string{
	{"sso", "chngpsso"}, {"account", "updatfw"}, {"sso", "disblsso"}, {"account", "disblmfa"},
	{"sso", "enblsso"}, {"account", "uisas"}, {"sso", "chngasso"}, {"account", "disblduo"},
	{"sso", "chngdsso"}, {"sso", "addgsso"}, {"sso", "delgsso"}, {"account", "enblduo"},
	{"satoken", "trename"}, {"invite", "create"}, {"account", "updatduo"}, {"satoken", "trevoke"},
	{"sa", "expire"},
}

// schedule places an account's scenario blocks.
type schedule struct {
	key       uint64
	tl        *timeline
	events    int // preloaded events: blocks -1, -2, … end at or before this index
	preStep   int
	liveStep  int // 0: no live traffic
	liveFirst int
}

func newSchedule(tl *timeline, accountKey uint64) *schedule {
	sc := &schedule{key: mix(accountKey ^ 0x7363656e6172696f), tl: tl, events: tl.events, preStep: minBlockStep, liveFirst: tl.events + 2}
	if tl.events > 0 && tl.span > 0 {
		sc.preStep = max(minBlockStep, int(float64(scenarioPeriod)*float64(tl.events)/float64(tl.span)))
	}
	if tl.interval > 0 {
		sc.liveStep = max(minBlockStep, int(math.Min(float64(scenarioPeriod)/tl.interval, 1<<40)))
	}
	return sc
}

// kMin is the first block of the history (0 when it has none).
func (sc *schedule) kMin() int {
	if sc.events < blockWidth {
		return 0
	}
	return -(1 + (sc.events-blockWidth)/sc.preStep)
}

// base returns the first index of block k.
func (sc *schedule) base(k int) int {
	if k < 0 {
		return sc.events - blockWidth - (-k-1)*sc.preStep
	}
	return sc.liveFirst + k*sc.liveStep
}

// kAt returns the last block starting at or before index i (which may not
// exist: check against kMin, and liveStep for k >= 0).
func (sc *schedule) kAt(i int) int {
	if sc.liveStep > 0 && i >= sc.liveFirst {
		return (i - sc.liveFirst) / sc.liveStep
	}
	if i >= sc.events-blockWidth {
		return -1
	}
	return -(1 + (sc.events-blockWidth-i+sc.preStep-1)/sc.preStep)
}

// block returns the block holding index i and i's offset in it.
func (sc *schedule) block(i int) (k, o int, ok bool) {
	k = sc.kAt(i)
	if k < sc.kMin() || k >= 0 && sc.liveStep == 0 || k < 0 && i >= sc.events {
		return 0, 0, false
	}
	o = i - sc.base(k)
	return k, o, o >= 0 && o < blockWidth
}

func kindOf(k int) int { return ((k % numKinds) + numKinds) % numKinds }

// planted reports whether kind puts an event of feature f at offset o.
func planted(kind, f, o int) bool {
	switch f {
	case signInAttempts:
		switch kind {
		case kBruteForce:
			return o < bruteForceN
		case kMFABypass:
			return o <= mfaFailuresN
		case kUnusualClient, kNewCountry:
			return o == 0
		case kImpossibleTravel:
			return o == 0 || o == 2
		}
	case itemUsages:
		switch kind {
		case kMFADisabledExport:
			return o >= 4 && o < 4+itemExportsN
		case kSelfGrantReveal:
			return o >= 2 && o < 2+selfRevealsN
		case kSuspendAfterExport:
			return o >= 1 && o < 4
		case kRevealBurst:
			return o < revealBurstN
		}
	case auditEvents:
		switch kind {
		case kMFADisabledExport:
			return o == 0 || o == 3
		case kSuspendAfterExport:
			return o == 0 || o == 4 // the export, then (after the 3 items) one suspension
		case kOwnersAdded, kVaultShared, kSelfGrantReveal:
			return o == 0
		case kExportAfterJoin:
			return o == 0 || o == 2
		case kServiceAccount, kPolicyChanges:
			return o == 0 || o == 1
		}
	}
	return false
}

// follows reports whether event i of feature f is the second of a planted
// pair, timed pairGap after event i-1.
func (sc *schedule) follows(f, i int) bool {
	if f != auditEvents {
		return false
	}
	k, o, ok := sc.block(i)
	return ok && o == 1 && kindOf(k) == kServiceAccount
}

// instance is one block's cast.
type instance struct {
	k, kind, base int
	h             uint64
	victim        int // the member it happens to (or who does it, for exports)
	admin         int
}

func (sc *schedule) instance(a *account, k int) instance {
	p := a.pop
	in := instance{k: k, kind: kindOf(k), base: sc.base(k)}
	in.h = mix(sc.key ^ uint64(int64(k))*gamma)
	t0 := sc.tl.ingest(max(in.base, 0))
	if in.kind == kImpossibleTravel || in.kind == kNewCountry {
		// Travellers in a sequence that does not repeat for len(travellers)
		// trips, so that no two trips of one member overlap; they have no
		// second place, so they are always at home.
		j := 2*floorDivInt(k, numKinds) + in.kind/kNewCountry
		n := len(p.travellers)
		in.victim = p.travellers[((j*p.travelStep+int(sc.key%uint64(n)))%n+n)%n]
	} else if in.kind == kExportAfterJoin {
		in.victim = p.joiners[in.h%uint64(len(p.joiners))]
	} else {
		// Someone at one of their places, not on the way.
		in.victim = p.others[in.h%uint64(len(p.others))]
		for try := uint64(0); try < 8; try++ {
			m := p.others[mix(in.h+try)%uint64(len(p.others))]
			if _, here := p.trip(m, t0); here {
				in.victim = m
				break
			}
		}
	}
	in.admin = p.admins[(in.h>>20)%uint64(len(p.admins))]
	return in
}

// farPlace is where impossible travel's second sign-in comes from: an
// office in another country 4,000 to 12,000 km away.
func (p *population) farPlace(from int, h uint64) int {
	return p.otherCountry(from, h, 4000, 12000)
}

// newCountryPlace is where a member with history goes for new_country:
// another country within newCountryMaxKM, else the nearest one.
func (p *population) newCountryPlace(from int, h uint64) int {
	return p.otherCountry(from, h, 0, newCountryMaxKM)
}

// newCountryAway is how long new_country's member is away before and
// after the sign-in abroad: the trip's time at tripKMH, at least an hour.
func (p *population) newCountryAway(from, to int) int64 {
	km := distanceKM(p.places[from].p, p.places[to].p)
	return max(int64(time.Hour), int64(km/tripKMH*float64(time.Hour)))
}

func (p *population) otherCountry(from int, h uint64, minKM, maxKM float64) int {
	n := len(offices)
	at := p.places[from].p
	best, bestKM := -1, 0.0
	nearest, nearestKM := -1, math.Inf(1)
	for j := 0; j < n; j++ {
		c := (int(h%uint64(n)) + j) % n
		if offices[c].iso == at.iso {
			continue
		}
		d := distanceKM(at, &offices[c])
		if d >= minKM && d <= maxKM {
			return c
		}
		// Failing the range, the farthest within reach, else the nearest.
		if d <= maxKM && d > bestKM {
			best, bestKM = c, d
		}
		if d < nearestKM {
			nearest, nearestKM = c, d
		}
	}
	if best < 0 {
		return nearest
	}
	return best
}

// unusualVault is a shared vault admin m has no access to (so their
// baseline never uses it).
func (p *population) unusualVault(m int, h uint64) int {
	pp := &p.people[m]
	for j := 0; j < numShared; j++ {
		v := (int(h%numShared) + j) % numShared
		if !slices.Contains(pp.shared, v) {
			return v
		}
	}
	return int(h % numShared)
}

// attackerPlace is where brute force comes from.
func attackerPlace(h uint64) int { return len(offices) + int(h%uint64(len(elsewhere))) }

// signInTime is the time of sign-in j.
func (a *account) signInTime(j int) int64 {
	return a.tl.ingest(j) - a.streams[signInAttempts].offset(j)
}

// approxIndex is about the index ingested at t, for bounding searches.
func (sc *schedule) approxIndex(t int64) int {
	tl := sc.tl
	if t < tl.start {
		if tl.events == 0 || tl.span == 0 {
			return 0
		}
		x := float64(t-(tl.start-tl.span)) / float64(tl.span) * float64(tl.events)
		return int(math.Max(-1, math.Min(x, float64(tl.events))))
	}
	if tl.interval == 0 {
		return tl.events
	}
	return tl.events + int(math.Min(float64(t-tl.start)/tl.interval, 1<<50))
}

// absent reports whether member m is kept quiet at t by a travel scenario:
// after impossible travel's far sign-in (so that the member's return is not
// a second impossible hop), and around new_country's sign-in (the member
// is on the trip).
func (sc *schedule) absent(a *account, m int, t int64) bool {
	if a.pop.people[m].rotPos < 0 || a.pop.people[m].external {
		return false
	}
	lo := sc.kAt(max(0, sc.approxIndex(t-quietFor)-blockWidth))
	hi := sc.kAt(sc.approxIndex(t+quietFor) + blockWidth)
	lo = max(lo, sc.kMin())
	if sc.liveStep == 0 {
		hi = min(hi, -1)
	}
	for _, kind := range [2]int{kImpossibleTravel, kNewCountry} {
		k := lo + kindOf(kind-lo)
		for ; k <= hi; k += numKinds {
			in := sc.instance(a, k)
			if in.victim != m {
				continue
			}
			if kind == kImpossibleTravel {
				far := a.signInTime(in.base + 2)
				if t > far && t < far+quietFor {
					return true
				}
				continue
			}
			at := a.signInTime(in.base)
			vp := &a.pop.people[in.victim]
			away := a.pop.newCountryAway(vp.home, a.pop.newCountryPlace(vp.home, in.h))
			if t > at-away && t < at+away {
				return true
			}
		}
	}
	return false
}

// signIn fills f with planted sign-in i, if i is one.
func (sc *schedule) signIn(a *account, i int, ts int64, f *signInFacts) bool {
	k, o, ok := sc.block(i)
	if !ok || !planted(kindOf(k), signInAttempts, o) {
		return false
	}
	in := sc.instance(a, k)
	p := a.pop
	r := a.streams[signInAttempts].eventRNG(i)
	f.u1, f.u2, f.s1, f.s2 = r.next(), r.next(), r.next(), r.next()
	f.noLocation = false
	f.who = in.victim
	vp := &p.people[in.victim]
	f.device = vp.devices[0]
	f.client = nil
	home, _ := p.trip(in.victim, ts)
	f.place = home
	f.setIP(p.ipAt(in.victim, f.device, home))
	hr := newRNG(in.h ^ 0x6970) // the instance's own address
	switch in.kind {
	case kBruteForce:
		f.o = a.t.outcome("credentials_failed", "password_secret_bad")
		f.place = attackerPlace(in.h)
		f.ipn = len(appendIP(f.ip[:0], &hr, p.places[f.place].p))
		f.client = attackerClient
	case kMFABypass:
		f.o = a.t.outcome("mfa_failed", "totp_bad")
		if o == mfaFailuresN {
			f.o = a.t.outcome("success", "mfa_ok")
		}
		f.ipn = len(appendIP(f.ip[:0], &hr, p.places[home].p))
		f.client = attackerClient
	case kUnusualClient:
		f.o = a.t.outcome("success", "credentials_ok")
		f.client = bartcoClient
	case kImpossibleTravel:
		f.o = a.t.outcome("success", "credentials_ok")
		if o == 2 {
			f.place = p.farPlace(home, in.h)
			f.ipn = len(appendIP(f.ip[:0], &hr, p.places[f.place].p))
			f.client = attackerClient
		}
	case kNewCountry:
		f.o = a.t.outcome("success", "credentials_ok")
		f.place = p.newCountryPlace(vp.home, in.h)
		f.ipn = len(appendIP(f.ip[:0], &hr, p.places[f.place].p))
	}
	return true
}

// outcome returns the catalogue's entry for a category and type.
func (t *tables) outcome(category, typ string) *signInOutcome {
	for i := range t.outcomes {
		if t.outcomes[i].category == category && t.outcomes[i].typ == typ {
			return &t.outcomes[i]
		}
	}
	panic("emulator: no sign-in outcome " + category + "/" + typ)
}

// itemUsage fills f with planted item usage i, if i is one.
func (sc *schedule) itemUsage(a *account, i int, ts int64, f *usageFacts) bool {
	k, o, ok := sc.block(i)
	if !ok || !planted(kindOf(k), itemUsages, o) {
		return false
	}
	in := sc.instance(a, k)
	p := a.pop
	r := a.streams[itemUsages].eventRNG(i)
	f.u1, f.u2 = r.next(), r.next()
	f.noLocation = false
	who, n := in.victim, o
	f.action = "export"
	switch in.kind {
	case kMFADisabledExport:
		who, n = in.admin, o-4
	case kSuspendAfterExport:
		n = o - 1
	case kRevealBurst:
		f.action = "reveal"
		if o%3 == 2 {
			f.action = "secure-copy"
		}
	case kSelfGrantReveal:
		who, f.action = in.admin, "reveal"
		f.vault = p.unusualVault(in.admin, in.h)
		f.itemKey, f.version = p.vaults[f.vault].item((o - 2) % p.vaults[f.vault].items)
	}
	pp := &p.people[who]
	f.who = who
	if in.kind == kSelfGrantReveal {
		f.device = pp.devices[0]
		f.place, _ = p.trip(who, ts)
		f.ip = p.ipAt(who, f.device, f.place)
		return true
	}
	// Item n of the member's vaults, private first, in order: all distinct.
	vaults := append([]int{pp.private}, pp.shared...)
	if pp.private < 0 {
		vaults = pp.shared
	}
	total := 0
	for _, v := range vaults {
		total += p.vaults[v].items
	}
	n %= total
	for _, v := range vaults {
		if n < p.vaults[v].items {
			f.vault = v
			break
		}
		n -= p.vaults[v].items
	}
	f.itemKey, f.version = p.vaults[f.vault].item(n)
	f.device = pp.devices[0]
	f.place, _ = p.trip(who, ts)
	f.ip = p.ipAt(who, f.device, f.place)
	return true
}

// audit appends planted audit event i, if i is one.
func (sc *schedule) audit(a *account, b []byte, i int, ts int64, v2 bool) ([]byte, bool) {
	k, o, ok := sc.block(i)
	if !ok || !planted(kindOf(k), auditEvents, o) {
		return b, false
	}
	in := sc.instance(a, k)
	p := a.pop
	r := a.streams[auditEvents].eventRNG(i)
	u1, u2 := r.next(), r.next()
	actor := in.admin
	if in.kind == kSuspendAfterExport && o == 0 || in.kind == kExportAfterJoin {
		actor = in.victim
	}
	ap := &p.people[actor]
	vp := &p.people[in.victim]
	var sess sessionFacts
	if !a.session(actor, ts, &sess) {
		sess.s1, sess.s2 = a.hourSession(actor, ts)
		sess.login = ts - int64(mix(sess.s1)%uint64(20*time.Minute))
		sess.device = ap.devices[0]
		sess.place, _ = p.trip(actor, ts)
		sess.ipn = copy(sess.ip[:], p.ipAt(actor, sess.device, sess.place))
	}
	objectType, action := "", ""
	var object, aux []byte
	quoted := func(s string) []byte { return append(append([]byte{'"'}, s...), '"') }
	withDetails := func(pp *person) []byte {
		x := quoted(pp.uuid)
		x = append(x, `,"object_details":`...)
		return append(x, pp.details...)
	}
	vaultOf := func(pp *person) string {
		if pp.private >= 0 {
			return p.vaults[pp.private].uuid
		}
		return p.vaults[pp.shared[0]].uuid
	}
	switch in.kind {
	case kMFADisabledExport:
		if o == 0 {
			objectType, action, object = "user", "disblmfa", withDetails(ap)
		} else {
			objectType, action, object = "vault", "export", quoted(vaultOf(ap))
		}
	case kSuspendAfterExport:
		if o == 0 {
			objectType, action, object = "vault", "export", quoted(vaultOf(vp))
		} else {
			objectType, action, object = "user", "suspend", withDetails(vp)
		}
	case kExportAfterJoin:
		if o == 0 {
			objectType, action, object = "user", "join", withDetails(vp)
		} else {
			objectType, action, object = "vault", "export", quoted(vaultOf(vp))
		}
	case kSelfGrantReveal:
		objectType, action = "uva", "grant"
		object = quoted(p.vaults[p.unusualVault(in.admin, in.h)].uuid)
		aux = fmt.Appendf(nil, `,"aux_uuid":"%s","aux_details":%s`, ap.uuid, ap.details)
	case kOwnersAdded:
		objectType, action, object = "gm", "join", quoted(p.groups[groupOwners])
		aux = fmt.Appendf(nil, `,"aux_id":%d,"aux_uuid":"%s","aux_details":%s,"aux_info":"R"`, vp.numID, vp.uuid, vp.details)
	case kServiceAccount:
		sa := id(in.h, mix(in.h^0x7361), true)
		if o == 0 {
			objectType, action, object, aux = "sa", "create", quoted(sa), []byte(`,"aux_info":"D"`)
		} else {
			objectType, action, object = "satoken", "create", quoted(sa)
			aux = append([]byte(`,"aux_info":`), appendString(nil, tokenNames[in.h%uint64(len(tokenNames))])...)
		}
	case kVaultShared:
		objectType, action = "gva", "grant"
		object = quoted(p.vaults[in.h%numShared].uuid)
		aux = []byte(`,"aux_uuid":"` + p.groups[groupEveryone] + `"`)
	case kPolicyChanges:
		n := len(policyActions)
		pa := policyActions[((2*floorDivInt(in.k, numKinds)+o)%n+n)%n]
		objectType, action = pa[0], pa[1]
		switch objectType {
		case "account":
			object = p.accountJSON
		case "sa", "satoken":
			object = quoted(p.people[p.services[in.h%uint64(len(p.services))]].uuid)
			if objectType == "satoken" {
				aux = append([]byte(`,"aux_info":`), appendString(nil, tokenNames[in.h%uint64(len(tokenNames))])...)
			}
		case "invite":
			object = appendQuotedID(nil, in.h, mix(in.h^0x696e76), true)
			aux = append([]byte(`,"aux_info":`), appendString(nil, "new.hire"+fmt.Sprint(in.h%1000)+"@"+p.domain)...)
		default:
			object = appendQuotedID(nil, in.h, mix(in.h^0x73736f), true)
		}
		if action == "addgsso" || action == "delgsso" {
			aux = []byte(`,"aux_uuid":"` + p.groups[numSpecialGroups+int(in.h%uint64(numGroups-numSpecialGroups))] + `"`)
		}
	}
	b = append(b, `{"uuid":`...)
	b = appendQuotedID(b, u1, u2, true)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts)
	b = append(b, `,"actor_uuid":"`...)
	b = append(b, ap.uuid...)
	b = append(b, `","actor_details":`...)
	if v2 {
		b = append(b, ap.v2...)
	} else {
		b = append(b, ap.details...)
	}
	b = append(b, `,"action":"`...)
	b = append(b, action...)
	b = append(b, `","object_type":"`...)
	b = append(b, objectType...)
	b = append(b, `","object_uuid":`...)
	b = append(b, object...)
	b = append(b, aux...)
	return a.appendAuditTail(b, ap, &sess, false, v2), true
}

func floorDivInt(a, b int) int { return int(floorDiv(int64(a), int64(b))) }

// Scenario is one planted scenario, for tests to expect exact alerts.
type Scenario struct {
	Kind    string // one of the Scenario* constants
	Account string
	// Start and End are the times of its first and last events.
	Start, End time.Time
	// Actor is the uuid of who acts: the admin for admin actions, the
	// exporting member for suspend_after_export, the member signing in (or
	// attacked) for sign-in kinds and reveal_burst.
	Actor, ActorEmail string
	// Subject is the uuid of what it acts on: the member added or suspended,
	// the group (Owners, Team Members), the service account, the vault
	// shared or exported; "" for sign-in kinds.
	Subject string
	// IP is the address of the planted sign-ins that do not come from the
	// member's own device ("" for other kinds).
	IP     string
	Events []PlantedEvent
}

// PlantedEvent is one event of a scenario, as the v2 endpoint serves it.
type PlantedEvent struct {
	Feature string // signinattempts, itemusages or auditevents
	UUID    string
	Time    time.Time
	JSON    []byte
}

// Planted returns the scenarios of account ("" for the default) whose
// events have all been ingested by now, oldest first; none unless
// Options.Scenarios.
func (e *Emulator) Planted(account string) ([]Scenario, error) {
	a, err := e.account(account)
	if err != nil {
		return nil, err
	}
	sc := a.sched
	if sc == nil {
		return nil, nil
	}
	head := e.tl.head(e.now().UnixNano())
	var out []Scenario
	for k := sc.kMin(); ; k++ {
		if k >= 0 && sc.liveStep == 0 {
			break
		}
		if k < 0 && sc.base(k) < 0 {
			continue
		}
		base := sc.base(k)
		if base >= head {
			break
		}
		in := sc.instance(a, k)
		s := Scenario{Kind: scenarioKinds[in.kind], Account: a.uuid}
		complete := true
		for o := 0; o < blockWidth && complete; o++ {
			for f := 0; f < numFeatures; f++ {
				if !planted(in.kind, f, o) {
					continue
				}
				i := base + o
				if i >= head {
					complete = false
					break
				}
				ts := e.tl.ingest(i) - a.streams[f].offset(i)
				raw := a.appendEvent(nil, f, i, ts, 2)
				if f == signInAttempts {
					var sf signInFacts
					a.signIn(i, ts, &sf)
					if sf.client != nil && in.kind != kUnusualClient || in.kind == kNewCountry {
						s.IP = string(sf.ip[:sf.ipn])
					}
				}
				s.Events = append(s.Events, PlantedEvent{Feature: featureNames[f], UUID: string(raw[9:35]), Time: time.Unix(0, ts).UTC(), JSON: raw})
			}
		}
		if !complete {
			break
		}
		a.describe(&s, in)
		for _, ev := range s.Events {
			if s.Start.IsZero() || ev.Time.Before(s.Start) {
				s.Start = ev.Time
			}
			if ev.Time.After(s.End) {
				s.End = ev.Time
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// describe fills a scenario's cast.
func (a *account) describe(s *Scenario, in instance) {
	p := a.pop
	actor, subject := in.admin, ""
	vp := &p.people[in.victim]
	switch in.kind {
	case kUnusualClient, kImpossibleTravel, kMFABypass, kNewCountry, kRevealBurst, kBruteForce:
		actor = in.victim
	case kSuspendAfterExport:
		actor, subject = in.victim, vp.uuid
	case kOwnersAdded:
		subject = vp.uuid
	case kServiceAccount:
		subject = id(in.h, mix(in.h^0x7361), true)
	case kVaultShared:
		subject = p.groups[groupEveryone]
	case kMFADisabledExport:
		subject = p.people[in.admin].uuid
	case kSelfGrantReveal:
		subject = p.vaults[p.unusualVault(in.admin, in.h)].uuid
	case kExportAfterJoin:
		actor, subject = in.victim, vp.uuid
	}
	s.Actor, s.ActorEmail, s.Subject = p.people[actor].uuid, emailOf(p.people[actor].details), subject
}

// emailOf returns the email of a {"uuid":..,"name":..,"email":..} fragment.
func emailOf(details []byte) string {
	var v struct{ Email string }
	if json.Unmarshal(details, &v) != nil {
		return ""
	}
	return v.Email
}

// The built-in groups, first in population.groups.
const (
	groupOwners = iota
	groupAdministrators
	groupEveryone // Team Members: every member
)

var teamGroupNames = []string{"Engineering", "Sales", "Marketing", "Finance", "Support", "IT", "Legal", "Design", "Operations"}

// Group is a group of an account, with the name 1Password shows for it
// (events carry only uuids; a lookup table can name them).
type Group struct{ UUID, Name string }

// Groups returns account's groups ("" for the default account): Owners,
// Administrators and Team Members first, then teams.
func (e *Emulator) Groups(account string) ([]Group, error) {
	a, err := e.account(account)
	if err != nil {
		return nil, err
	}
	var out []Group
	for i, g := range a.pop.groups {
		name := ""
		switch i {
		case groupOwners:
			name = "Owners"
		case groupAdministrators:
			name = "Administrators"
		case groupEveryone:
			name = "Team Members"
		default:
			name = teamGroupNames[(i-numSpecialGroups)%len(teamGroupNames)]
		}
		out = append(out, Group{UUID: g, Name: name})
	}
	return out, nil
}
