package emulator

import (
	"math"
	"time"
)

// The benign baseline is consistent across the three streams, so that a
// detection on it means something: each member is at one place at a time
// (home, or a second place in the same country) and hops between them no
// faster than travelSpeed; sign-ins come in turns (rot); a member's audit
// events carry the session of their latest successful sign-in. All of it is
// computed from (seed, account, index) or (member, time), never stored.

const (
	tripPeriod  = 7 * 24 * int64(time.Hour) // a member travels at most once a period
	travelSpeed = 700.0                     // km/h over a hop's transit, waiting included
)

// distanceKM is the great-circle distance between two places.
func distanceKM(a, b *place) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (b.lat-a.lat)*rad, (b.lon-a.lon)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// trip returns where member m is at t (Unix ns) by their travel alone: the
// place, and false while in transit.
func (p *population) trip(m int, t int64) (int, bool) {
	pp := &p.people[m]
	if pp.away < 0 {
		return pp.home, true
	}
	k := floorDiv(t+pp.phase, tripPeriod)
	h := mix(p.key ^ uint64(m)<<40 ^ uint64(k)*gamma)
	if h%100 >= 30 {
		return pp.home, true
	}
	day := int64(24 * time.Hour)
	depart := k*tripPeriod - pp.phase + day + int64((h>>8)%uint64(12*time.Hour))
	arrive := depart + pp.transit
	leave := arrive + day + int64((h>>24)%uint64(2*day))
	back := leave + pp.transit
	switch {
	case t < depart || t >= back:
		return pp.home, true
	case t < arrive || t >= leave:
		return pp.home, false
	}
	return pp.away, true
}

// where returns where member m is at t, and false when they do nothing then
// (in transit, or kept quiet around a planted scenario).
func (a *account) where(m int, t int64) (int, bool) {
	if a.sched != nil && a.sched.absent(a, m, t) {
		return a.pop.people[m].home, false
	}
	return a.pop.trip(m, t)
}

// ipAt returns the address a member's device d uses at place pl.
func (p *population) ipAt(m, d, pl int) string {
	if pl == p.devices[d].place || p.people[m].awayIP == "" {
		return p.devices[d].ip
	}
	return p.people[m].awayIP
}

// affine returns the permutation of sign-in round r: slot pos goes to
// rot[(ua*pos+ub) mod n]; inv undoes it.
func (p *population) affine(r int) (ua, inv, ub int) {
	h := mix(p.key ^ 0x726f756e64 ^ uint64(r)*gamma)
	u := int(h % uint64(len(p.units)))
	return p.units[u], p.unitsInv[u], int((h >> 32) % uint64(len(p.rot)))
}

// slot returns the person whose turn sign-in i (>= 0) is.
func (p *population) slot(i int) int {
	n := len(p.rot)
	ua, _, ub := p.affine(i / n)
	return p.rot[(ua*(i%n)+ub)%n]
}

// slotOf returns the sign-in index of person m's turn in round r.
func (p *population) slotOf(m, r int) int {
	n := len(p.rot)
	_, inv, ub := p.affine(r)
	pos := (inv * ((p.people[m].rotPos - ub + n) % n)) % n
	return r*n + pos
}

// signInFacts is what a sign-in attempt says, before it is encoded.
type signInFacts struct {
	u1, u2     uint64 // uuid
	s1, s2     uint64 // session_uuid
	o          *signInOutcome
	who        int // target_user
	device     int
	client     []byte // the client object up to "ip_address":, when not the device's
	place      int
	ip         [48]byte
	ipn        int
	noLocation bool
}

func (f *signInFacts) success() bool { return f.o.category == "success" }

func (f *signInFacts) setIP(s string) { f.ipn = copy(f.ip[:], s) }

func (f *signInFacts) clientJSON(p *population) []byte {
	if f.client != nil {
		return f.client
	}
	return p.devices[f.device].client
}

// signIn fills f with sign-in i, which happened at ts.
func (a *account) signIn(i int, ts int64, f *signInFacts) {
	if i >= 0 && a.sched != nil && a.sched.signIn(a, i, ts, f) {
		return
	}
	s := &a.streams[signInAttempts]
	p := a.pop
	r := s.eventRNG(i)
	f.client = nil
	f.u1, f.u2, f.s1, f.s2 = r.next(), r.next(), r.next(), r.next()
	f.o = &a.t.outcomes[r.pickW(a.t.outcomeW)]
	f.noLocation = r.chance(0.01)

	who := -1
	switch {
	case f.o.typ == "service_account_sso_denied":
		who = r.pickPerson(p.services)
	case f.success() && r.chance(0.03):
		who = r.pickPerson(p.services)
	case i >= 0:
		who = p.slot(i)
	default: // an injected event: not anyone's turn
		who = r.pickPerson(p.users)
	}
	place, here := a.where(who, ts)
	if !here {
		// Whoever's turn it was is on the way: a service account signs in.
		who = r.pickPerson(p.services)
		place = p.people[who].home
	}
	pp := &p.people[who]
	f.who = who
	f.device = pp.devices[r.intn(len(pp.devices))]
	hostile := false
	switch f.o.category {
	case "credentials_failed", "firewall_failed", "firewall_reported_success":
		hostile = r.chance(0.5)
	case "mfa_failed":
		hostile = r.chance(0.2)
	}
	if hostile {
		// Someone else, elsewhere, on some member's kind of client.
		f.place = len(offices) + r.intn(len(elsewhere))
		f.ipn = len(appendIP(f.ip[:0], &r, p.places[f.place].p))
		other := &p.people[r.pickPerson(p.users)]
		f.device = other.devices[r.intn(len(other.devices))]
		return
	}
	f.place = place
	f.setIP(p.ipAt(who, f.device, place))
	if pp.service || pp.rotPos < 0 {
		// Service accounts are not in the turns: their session is the hour's.
		f.s1, f.s2 = a.hourSession(who, ts)
	}
}

// hourSession is the session of a person who signs in outside the turns
// (service accounts, the provisioning bridge): one per hour.
func (a *account) hourSession(who int, ts int64) (uint64, uint64) {
	sh := mix(a.streams[auditEvents].key + uint64(who)<<40 + uint64(ts/int64(time.Hour)))
	return sh, mix(sh ^ 1)
}

// sessionFacts is the session an audit event's actor acts in.
type sessionFacts struct {
	s1, s2 uint64
	login  int64
	device int
	place  int
	ip     [48]byte
	ipn    int
}

// maxRoundsBack bounds the search for a member's latest sign-in.
const maxRoundsBack = 8

// session finds the session member m acts in at t: that of their latest
// successful sign-in at the place where they are. It returns false when m
// is away or has not signed in since arriving where they are (they cannot
// act now).
func (a *account) session(m int, t int64, out *sessionFacts) bool {
	p := a.pop
	pp := &p.people[m]
	place, here := a.where(m, t)
	if !here {
		return false
	}
	if pp.rotPos >= 0 && a.tl != nil {
		head := a.tl.head(t + maxJitter)
		if head > 0 {
			s := &a.streams[signInAttempts]
			var f signInFacts
			n := len(p.rot)
			r := (head - 1) / n
			for ; r >= 0 && r > (head-1)/n-maxRoundsBack; r-- {
				j := p.slotOf(m, r)
				if j >= head {
					continue
				}
				ts := a.tl.ingest(j) - s.offset(j)
				if ts > t {
					continue
				}
				a.signIn(j, ts, &f)
				if f.who != m || !f.success() {
					continue
				}
				if f.place != place {
					return false
				}
				out.s1, out.s2, out.login, out.device, out.place = f.s1, f.s2, ts, f.device, f.place
				out.ipn = copy(out.ip[:], f.ip[:f.ipn])
				return true
			}
			if r >= 0 {
				return false // no sign-in of late: they have not signed in since arriving
			}
		}
	}
	// Before the data begins, or not in the turns: a session of the hour.
	out.s1, out.s2 = a.hourSession(m, t)
	bucket := t / int64(time.Hour)
	out.login = bucket*int64(time.Hour) - int64(mix(out.s1)%uint64(20*time.Minute))
	out.device = pp.devices[out.s1%uint64(len(pp.devices))]
	out.place = place
	out.ipn = copy(out.ip[:], p.ipAt(m, out.device, place))
	return true
}
