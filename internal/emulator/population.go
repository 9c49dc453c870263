package emulator

import (
	"strconv"
	"strings"
	"time"
)

// A population is one account's people, devices, vaults and groups. It is
// built once per account from the seed and is read-only afterwards; events
// only refer to it by index. Its JSON fragments are rendered up front so that
// encoding an event is mostly appending prepared bytes.
type population struct {
	key         uint64 // the account's key: seeds travel and sign-in order
	account     string // account UUID
	accountJSON []byte // quoted
	msp         string // the MSP's account UUID (external users belong to it)
	domain      string

	people    []person
	users     []int // regular members (not service accounts, not external)
	admins    []int
	services  []int
	externals []int
	scim      int // the provisioning user (SCIM bridge)

	devices []device
	vaults  []vault
	groups  []string
	places  []placeJSON // offices, then elsewhere, then secondPlaces
	homes   []int       // indexes into places of the company's offices

	// rot are the people who sign in in turn (members, and MSP technicians
	// in MSP mode): sign-in slot i belongs to rot[perm_round(i mod len)], so
	// a member's latest sign-in before a time is found without a scan.
	rot   []int
	units []int // numbers coprime with len(rot), for the per-round permutations
	// Planted scenarios draw their members from disjoint pools, so that one
	// scenario's trip never meets another's events: travellers (members
	// without a second place, not admins) for impossible travel and
	// new_country, others (the rest of the non-admins) for the rest.
	travellers, others []int
	// joiners and leavers are the few members the baseline's joins,
	// activations, provisioning, suspensions and deletions concern.
	joiners, leavers []int
	travelStep       int   // coprime with len(travellers): the order trips go round them
	unitsInv         []int // their inverses modulo len(rot)
}

type person struct {
	uuid     string
	numID    int64
	details  []byte // {"uuid":..,"name":..,"email":..}: User (v1), object/aux details
	v2       []byte // UserV2: in MSP mode with user_type and user_account_uuid
	admin    bool
	service  bool
	external bool
	devices  []int
	home     int // index into places
	private  int // index into vaults; -1 for service and external accounts
	shared   []int

	// Travel: a member with a second place (away >= 0, in the home's
	// country) sometimes spends days there; the hop takes transit ns, long
	// enough for any plane, during which the member does nothing.
	away    int    // index into places, or -1
	awayIP  string // the member's address there
	transit int64
	phase   int64 // offsets the member's trip weeks
	rotPos  int   // index into population.rot, or -1
}

type device struct {
	uuid   string
	client []byte // the client object up to "ip_address": (the IP and } follow)
	ip     string
	place  int // index into places
	kind   clientKind
}

type vault struct {
	uuid  string
	key   uint64
	items int
}

type placeJSON struct {
	p      *place
	byName []byte // location object with the country name
	byISO  []byte // location object with the ISO code (sign-in attempts)
}

// Population sizes: enough variety for detections and dashboards, small
// enough to build in well under a millisecond.
const (
	numUsers     = 150
	numServices  = 6
	numExternals = 4
	numShared    = 40
	numGroups    = 12
	// The first groups are 1Password's built-in ones (Groups names them);
	// baseline traffic leaves them alone, planted scenarios do not.
	numSpecialGroups = 3
)

// maxSignInsPerMember bounds the sign-in attempts a member makes over the
// preloaded history: a denser history has more members, not members who
// sign in all day. (150 members signing in 100,000 times a day would each
// fail a dozen times, and a backfill, evaluated within one dedup period,
// would read as brute force against all of them.) maxUsers bounds the
// population.
const (
	maxSignInsPerMember = 40
	maxUsers            = 5000
)

// usersFor returns how many members an account has for a history of
// events per log type: numUsers, more for a dense history.
func usersFor(events int) int {
	return min(maxUsers, max(numUsers, (events+maxSignInsPerMember-1)/maxSignInsPerMember))
}

func newPopulation(key uint64, account string, msp bool, users int) *population {
	r := newRNG(key ^ 0x706f70756c617465) // "populate"
	p := &population{
		key:         key,
		account:     account,
		accountJSON: appendString(nil, account),
		domain:      domains[r.intn(len(domains))],
		msp:         id(r.next(), r.next(), true),
	}
	for i := range offices {
		p.places = append(p.places, renderPlace(&offices[i]))
	}
	for i := range elsewhere {
		p.places = append(p.places, renderPlace(&elsewhere[i]))
	}
	for i := range secondPlaces {
		p.places = append(p.places, renderPlace(&secondPlaces[i]))
	}
	// Two to four offices; the first is headquarters.
	for _, i := range r.perm(len(offices))[:2+r.intn(3)] {
		p.homes = append(p.homes, i)
	}

	for i := 0; i < numShared; i++ {
		p.vaults = append(p.vaults, newVault(&r))
	}
	for i := 0; i < numGroups; i++ {
		p.groups = append(p.groups, id(r.next(), r.next(), false))
	}

	emails := map[string]bool{}
	for i := 0; i < users; i++ {
		first, last := firstNames[r.intn(len(firstNames))], lastNames[r.intn(len(lastNames))]
		email := uniqueEmail(emails, asciiFold(first)+"."+asciiFold(last), p.domain)
		// Most people work at headquarters.
		home := p.homes[0]
		if r.chance(0.4) {
			home = p.homes[r.intn(len(p.homes))]
		}
		u := p.addPerson(&r, first+" "+last, email, home, msp)
		pp := &p.people[u]
		pp.admin = i < 2 || r.chance(0.06)
		p.vaults = append(p.vaults, newVault(&r))
		pp.private = len(p.vaults) - 1
		for _, v := range r.perm(numShared)[:3+r.intn(5)] {
			pp.shared = append(pp.shared, v)
		}
		p.addMemberDevices(&r, u, first)
		p.users = append(p.users, u)
		if pp.admin {
			p.admins = append(p.admins, u)
		}
	}

	cloud := 5 // Ashburn, Virginia: where servers run
	for i := 0; i < numServices; i++ {
		name := serviceAccountNames[(i+r.intn(len(serviceAccountNames)))%len(serviceAccountNames)]
		email := strings.ToLower(id(r.next(), r.next(), false)) + "@1passwordserviceaccounts.com"
		u := p.addPerson(&r, name, email, cloud, msp)
		pp := &p.people[u]
		pp.service = true
		pp.private = -1
		pp.shared = r.perm(numShared)[:2]
		kind := kindSDK
		if r.chance(0.4) {
			kind = kindCLI
		}
		pp.devices = append(pp.devices, p.addDevice(&r, kind, "", cloud))
		p.services = append(p.services, u)
	}

	// MSP technicians: members of another account, acting in this one.
	other := (indexOf(domains, p.domain) + 1 + r.intn(len(domains)-1)) % len(domains)
	mspDomain := strings.TrimSuffix(domains[other], ".com") + "-msp.com"
	for i := 0; i < numExternals; i++ {
		first, last := firstNames[r.intn(len(firstNames))], lastNames[r.intn(len(lastNames))]
		email := uniqueEmail(emails, asciiFold(first)+"."+asciiFold(last), mspDomain)
		home := r.intn(len(offices))
		u := p.addPerson(&r, first+" "+last, email, home, msp)
		pp := &p.people[u]
		pp.external = true
		pp.admin = true
		pp.private = -1
		pp.shared = r.perm(numShared)[:4]
		if msp {
			pp.v2 = appendUserV2(nil, pp.details, "external_user", p.msp)
		}
		pp.devices = append(pp.devices,
			p.addDevice(&r, kindDesktop, first, home),
			p.addDevice(&r, kindBrowser, "", home))
		p.externals = append(p.externals, u)
	}

	p.scim = p.addPerson(&r, "Provision Manager", "provision-manager@"+p.domain, p.homes[0], msp)
	p.people[p.scim].admin = true
	p.people[p.scim].private = -1
	p.people[p.scim].devices = []int{p.addDevice(&r, kindSCIM, "", cloud)}
	p.addTravel(msp)
	return p
}

// addTravel gives some members a second place and orders the sign-in turns.
// It draws from its own generator, so the people drawn above stay the same.
func (p *population) addTravel(msp bool) {
	r := newRNG(p.key ^ 0x74726176656c) // "travel"
	for i := range p.people {
		pp := &p.people[i]
		pp.away, pp.rotPos = -1, -1
		pp.phase = int64(r.next() % uint64(tripPeriod))
	}
	for _, u := range p.users {
		pp := &p.people[u]
		// Another office of the company's in the country, else a city there.
		var near []int
		for _, h := range p.homes {
			if h != pp.home && offices[h].iso == offices[pp.home].iso {
				near = append(near, h)
			}
		}
		if len(near) == 0 {
			for i := range secondPlaces {
				if secondPlaces[i].iso == offices[pp.home].iso {
					near = append(near, len(offices)+len(elsewhere)+i)
				}
			}
		}
		if len(near) == 0 || !r.chance(0.35) {
			continue
		}
		pp.away = near[r.intn(len(near))]
		pp.awayIP = string(appendIP(nil, &r, p.places[pp.away].p))
		km := distanceKM(p.places[pp.home].p, p.places[pp.away].p)
		pp.transit = int64((km/travelSpeed + 1) * float64(time.Hour))
	}
	for _, u := range p.users {
		switch pp := &p.people[u]; {
		case pp.admin:
		case len(p.joiners) < 3:
			p.joiners = append(p.joiners, u)
		case len(p.leavers) < 3:
			p.leavers = append(p.leavers, u)
		case pp.away < 0:
			p.travellers = append(p.travellers, u)
		default:
			p.others = append(p.others, u)
		}
	}
	if len(p.travellers) == 0 || len(p.others) == 0 { // not with 150 members; safe anyway
		p.travellers, p.others = p.users, p.users
	}
	p.travelStep = 1
	for s := len(p.travellers) * 3 / 8; s > 1; s++ {
		if gcd(s, len(p.travellers)) == 1 {
			p.travelStep = s
			break
		}
	}
	p.rot = append(p.rot, p.users...)
	if msp {
		p.rot = append(p.rot, p.externals...)
	}
	for i, u := range p.rot {
		p.people[u].rotPos = i
	}
	n := len(p.rot)
	for a := 1; a < n; a++ {
		if gcd(a, n) == 1 {
			for x := 1; x < n; x++ {
				if a*x%n == 1 {
					p.units = append(p.units, a)
					p.unitsInv = append(p.unitsInv, x)
					break
				}
			}
		}
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (p *population) addPerson(r *rng, name, email string, home int, msp bool) int {
	uuid := id(r.next(), r.next(), true)
	details := []byte(`{"uuid":"` + uuid + `","name":`)
	details = appendString(details, name)
	details = append(details, `,"email":`...)
	details = appendString(details, email)
	details = append(details, '}')
	pp := person{uuid: uuid, numID: 1000000 + int64(r.intn(9000000)), details: details, v2: details, home: home}
	if msp {
		pp.v2 = appendUserV2(nil, details, "user", p.account)
	}
	p.people = append(p.people, pp)
	return len(p.people) - 1
}

// appendUserV2 turns {"uuid":..,"name":..,"email":..} into the MSP form of
// UserV2, which adds user_type and user_account_uuid.
func appendUserV2(b, details []byte, userType, account string) []byte {
	b = append(b, details[:len(details)-1]...)
	b = append(b, `,"user_type":"`...)
	b = append(b, userType...)
	b = append(b, `","user_account_uuid":"`...)
	b = append(b, account...)
	return append(b, '"', '}')
}

// addMemberDevices gives a member a computer, usually the browser extension
// on it, often a phone, sometimes the CLI or the web app.
func (p *population) addMemberDevices(r *rng, u int, first string) {
	pp := &p.people[u]
	pp.devices = append(pp.devices, p.addDevice(r, kindDesktop, first, pp.home))
	if r.chance(0.9) {
		pp.devices = append(pp.devices, p.addDevice(r, kindBrowser, "", pp.home))
	}
	if r.chance(0.6) {
		pp.devices = append(pp.devices, p.addDevice(r, kindMobile, "", pp.home))
	}
	if r.chance(0.2) {
		pp.devices = append(pp.devices, p.addDevice(r, kindCLI, first, pp.home))
	}
}

func (p *population) addDevice(r *rng, kind clientKind, owner string, place int) int {
	var app, platform, platformVersion string
	var os osInfo
	desktop := r.intn(20)
	switch {
	case desktop < 11:
		os = macOS[r.intn(len(macOS))]
	case desktop < 18:
		os = windowsOS[r.intn(len(windowsOS))]
	default:
		os = linuxOS[r.intn(len(linuxOS))]
	}
	switch kind {
	case kindDesktop:
		switch os.name {
		case "MacOSX":
			app = "1Password for Mac"
			platform = owner + "’s MacBook Pro"
			if r.chance(0.3) {
				platform = "US - C02" + id(r.next(), r.next(), true)[:7]
			}
			platformVersion = macModels[r.intn(len(macModels))]
		case "Windows":
			app = "1Password for Windows"
			platform = "DESKTOP-" + id(r.next(), r.next(), true)[:7]
			platformVersion = windowsModels[r.intn(len(windowsModels))]
		default:
			app = "1Password for Linux"
			platform = asciiFold(owner) + "-laptop"
			platformVersion = linuxModels[r.intn(len(linuxModels))]
		}
	case kindBrowser:
		app = "1Password Browser Extension"
		if r.chance(0.1) {
			app = "1Password for Web"
		}
		b := browsers[r.intn(len(browsers))]
		if b.name == "Safari" {
			os = macOS[r.intn(len(macOS))]
		}
		platform, platformVersion = b.name, b.version
	case kindMobile:
		if r.chance(0.55) {
			app, os = "1Password for iOS", iOS[r.intn(len(iOS))]
			platform, platformVersion = "iPhone", iPhones[r.intn(len(iPhones))]
		} else {
			a := androids[r.intn(len(androids))]
			app, os = "1Password for Android", androidOS[r.intn(len(androidOS))]
			platform, platformVersion = a.name, a.version
		}
	case kindCLI:
		app = "1Password CLI"
		platform = asciiFold(owner) + "-workstation"
		if owner == "" {
			platform = "build-runner-" + strconv.Itoa(1+r.intn(20))
			os = linuxOS[r.intn(len(linuxOS))]
		}
		platformVersion = cpus[r.intn(len(cpus))]
	case kindSDK:
		app = "1Password SDK"
		rt := sdkRuntimes[r.intn(len(sdkRuntimes))]
		platform, platformVersion = rt.name, rt.version
		os = linuxOS[r.intn(len(linuxOS))]
	case kindSCIM:
		app = "1Password SCIM Bridge"
		platform, platformVersion = "SCIM Bridge", "v2.9.6"
		os = linuxOS[0]
	}
	versions := appVersions[app]
	c := []byte(`{"app_name":`)
	c = appendString(c, app)
	c = append(c, `,"app_version":`...)
	c = appendString(c, versions[r.intn(len(versions))])
	c = append(c, `,"platform_name":`...)
	c = appendString(c, platform)
	c = append(c, `,"platform_version":`...)
	c = appendString(c, platformVersion)
	c = append(c, `,"os_name":`...)
	c = appendString(c, os.name)
	c = append(c, `,"os_version":`...)
	c = appendString(c, os.version)
	c = append(c, `,"ip_address":`...)
	d := device{
		uuid:   id(r.next(), r.next(), false),
		client: c,
		ip:     string(appendIP(nil, r, p.places[place].p)),
		place:  place,
		kind:   kind,
	}
	p.devices = append(p.devices, d)
	return len(p.devices) - 1
}

func newVault(r *rng) vault {
	k := r.next()
	return vault{uuid: id(k, r.next(), false), key: k, items: 5 + int(k%76)}
}

// item returns the key of item n of v, its version (items change rarely, so
// the version is a property of the item), and appends nothing.
func (v *vault) item(n int) (key uint64, version int) {
	h := mix(v.key + uint64(n+1)*gamma)
	return h, 1 + int(mix(h^0x76)%9)
}

// appendIP appends an address in pl: mostly IPv4, sometimes IPv6, which
// 1Password sends either compressed or fully expanded.
func appendIP(b []byte, r *rng, pl *place) []byte {
	if r.chance(0.15) {
		expanded := r.chance(0.5)
		for i, g := range strings.Split(pl.v6, ":") {
			if i > 0 {
				b = append(b, ':')
			}
			b = appendHextet(b, g, expanded)
		}
		for i := 0; i < 6; i++ {
			v := r.intn(0x10000)
			if i == 0 {
				v = 0x1000 + r.intn(0xefff)
			}
			b = append(b, ':')
			b = appendHextet(b, strconv.FormatInt(int64(v), 16), expanded)
		}
		return b
	}
	b = strconv.AppendInt(b, int64(pl.octets[r.intn(len(pl.octets))]), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(r.intn(256)), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(r.intn(256)), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(1+r.intn(254)), 10)
}

func appendHextet(b []byte, g string, expanded bool) []byte {
	if expanded {
		for i := len(g); i < 4; i++ {
			b = append(b, '0')
		}
	}
	return append(b, g...)
}

func renderPlace(pl *place) placeJSON {
	render := func(country string) []byte {
		b := []byte(`{"country":`)
		b = appendString(b, country)
		b = append(b, `,"region":`...)
		b = appendString(b, pl.region)
		b = append(b, `,"city":`...)
		b = appendString(b, pl.city)
		b = append(b, `,"latitude":`...)
		b = appendFloat(b, pl.lat)
		b = append(b, `,"longitude":`...)
		b = appendFloat(b, pl.lon)
		return append(b, '}')
	}
	return placeJSON{p: pl, byName: render(pl.country), byISO: render(pl.iso)}
}

// perm returns a permutation of [0, n).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		j := r.intn(i + 1)
		p[i] = p[j]
		p[j] = i
	}
	return p
}

var foldReplacer = strings.NewReplacer(
	"é", "e", "è", "e", "ë", "e", "É", "e", "ø", "o", "Ø", "o", "ö", "o", "ó", "o",
	"Ł", "l", "ł", "l", "ü", "u", "ú", "u", "í", "i", "á", "a", "ã", "a", "ä", "a", "å", "a",
	"ç", "c", "ñ", "n", "'", "", " ", "",
)

// asciiFold makes a name usable in an e-mail address or a host name.
func asciiFold(s string) string { return strings.ToLower(foldReplacer.Replace(s)) }

func uniqueEmail(seen map[string]bool, local, domain string) string {
	email := local + "@" + domain
	for n := 2; seen[email]; n++ {
		email = local + strconv.Itoa(n) + "@" + domain
	}
	seen[email] = true
	return email
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return 0
}
