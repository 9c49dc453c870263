package emulator

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
)

// seen is what the baseline tests read of any event.
type seen struct {
	Timestamp   time.Time
	Category    string
	SessionUUID string `json:"session_uuid"`
	Action      string
	ObjectType  string                  `json:"object_type"`
	TargetUser  *struct{ Email string } `json:"target_user"`
	User        *struct{ Email string }
	Actor       *struct{ Email string } `json:"actor_details"`
	Client      *struct {
		AppName string `json:"app_name"`
	}
	Session *struct {
		UUID      string
		LoginTime time.Time `json:"login_time"`
	}
	Location *struct {
		Country             string
		Latitude, Longitude float64
	}
}

func (s *seen) email() string {
	for _, u := range []*struct{ Email string }{s.TargetUser, s.User, s.Actor} {
		if u != nil {
			return u.Email
		}
	}
	return ""
}

func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * 6371 * math.Asin(math.Sqrt(h))
}

// aDay returns every event of a simulated day of baseline traffic per
// feature, read from the generator (no HTTP).
func aDay(t *testing.T, opts Options) map[string][]seen {
	t.Helper()
	if opts.Now == nil {
		opts.Now = newClock().Now
	}
	if opts.Events == 0 {
		opts.Events = 30000 // about 21 of each type a minute
	}
	opts.Span = 24 * time.Hour
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]seen{}
	for _, f := range featureNames {
		e.Each("", f, 2, func(_ string, raw []byte) bool {
			var s seen
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("%s: %v in %s", f, err, raw)
			}
			out[f] = append(out[f], s)
			return true
		})
	}
	return out
}

func isService(email string) bool {
	return strings.HasSuffix(email, "@1passwordserviceaccounts.com") || strings.HasPrefix(email, "provision-manager@")
}

// TestBaselineTravelsAtPlausibleSpeeds: an impossible-travel rule must stay
// silent on the baseline. Every member's located events (successful
// sign-ins, item usages, audit events) in time order never imply a speed
// over 1000 km/h.
func TestBaselineTravelsAtPlausibleSpeeds(t *testing.T) {
	for _, msp := range []bool{false, true} {
		day := aDay(t, Options{Seed: 77, MSP: msp})
		type fix struct {
			at       time.Time
			lat, lon float64
			what     string
		}
		byMember := map[string][]fix{}
		countries := map[string]map[string]bool{}
		for f, evs := range day {
			for _, s := range evs {
				if s.Location == nil || f == "signinattempts" && s.Category != "success" {
					continue
				}
				m := s.email()
				byMember[m] = append(byMember[m], fix{s.Timestamp, s.Location.Latitude, s.Location.Longitude, f})
				if f == "signinattempts" {
					if countries[m] == nil {
						countries[m] = map[string]bool{}
					}
					countries[m][s.Location.Country] = true
				}
			}
		}
		if len(byMember) < 100 {
			t.Fatalf("only %d members with located events (setup)", len(byMember))
		}
		moved := 0
		for m, fixes := range byMember {
			sort.Slice(fixes, func(i, j int) bool { return fixes[i].at.Before(fixes[j].at) })
			for i := 1; i < len(fixes); i++ {
				a, b := fixes[i-1], fixes[i]
				km := haversine(a.lat, a.lon, b.lat, b.lon)
				if km < 1 {
					continue
				}
				moved++
				h := b.at.Sub(a.at).Hours()
				if h <= 0 || km/h > 1000 {
					t.Errorf("msp=%v: %s moved %.0f km in %v (%s then %s)", msp, m, km, b.at.Sub(a.at), a.what, b.what)
					break
				}
			}
			if len(countries[m]) > 1 {
				t.Errorf("msp=%v: %s signed in from %d countries in a day of baseline", msp, m, len(countries[m]))
			}
		}
		if moved == 0 {
			t.Errorf("msp=%v: nobody travelled in a day (setup: the baseline should have some travel)", msp)
		}
	}
}

// TestBaselineServerActionsComeFromServerClients: server-side item actions
// come from the CLI or an SDK, the others from the apps.
func TestBaselineServerActionsComeFromServerClients(t *testing.T) {
	day := aDay(t, Options{Seed: 78, Events: 20000})
	server := 0
	for _, s := range day["itemusages"] {
		cli := s.Client.AppName == "1Password CLI" || s.Client.AppName == "1Password SDK"
		if isServerAction(s.Action) {
			server++
			if !cli {
				t.Fatalf("%s by %s from %q", s.Action, s.email(), s.Client.AppName)
			}
		} else if cli {
			t.Fatalf("%s by %s from %q", s.Action, s.email(), s.Client.AppName)
		}
	}
	if server == 0 {
		t.Fatal("no server-side item action (setup)")
	}
}

// TestBaselineSessionsFollowSignIns: a member's audit events carry the
// session of their latest successful sign-in (uuid and login time).
func TestBaselineSessionsFollowSignIns(t *testing.T) {
	day := aDay(t, Options{Seed: 79})
	type signIn struct {
		at      time.Time
		session string
	}
	byMember := map[string][]signIn{}
	for _, s := range day["signinattempts"] {
		if s.Category == "success" {
			byMember[s.email()] = append(byMember[s.email()], signIn{s.Timestamp, s.SessionUUID})
		}
	}
	for _, list := range byMember {
		sort.Slice(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
	}
	checked := 0
	for _, s := range day["auditevents"] {
		m := s.email()
		list := byMember[m]
		if isService(m) || len(list) == 0 || s.Timestamp.Before(list[0].at) {
			continue // outside the turns, or signed in before the data begins
		}
		j := sort.Search(len(list), func(i int) bool { return list[i].at.After(s.Timestamp) }) - 1
		if got, want := s.Session.UUID, list[j].session; got != want {
			t.Fatalf("%s's %s/%s at %v: session %s, want %s of their sign-in at %v", m, s.ObjectType, s.Action, s.Timestamp, got, want, list[j].at)
		}
		if !s.Session.LoginTime.Equal(list[j].at) {
			t.Fatalf("%s's %s/%s: login_time %v, want %v", m, s.ObjectType, s.Action, s.Session.LoginTime, list[j].at)
		}
		checked++
	}
	if checked < len(day["auditevents"])/2 {
		t.Fatalf("checked %d of %d audit events (setup)", checked, len(day["auditevents"]))
	}
}

// TestBaselineHasNoAlertingActions: what a detection alerts on at every
// occurrence is planted, never baseline.
func TestBaselineHasNoAlertingActions(t *testing.T) {
	day := aDay(t, Options{Seed: 80})
	for _, s := range day["auditevents"] {
		if plantedAudit[s.ObjectType+"/"+s.Action] {
			t.Errorf("baseline audit event %s/%s", s.ObjectType, s.Action)
		}
	}
	for _, s := range day["signinattempts"] {
		if !knownApps[s.Client.AppName] {
			t.Fatalf("baseline sign-in from client %q", s.Client.AppName)
		}
	}
	for _, s := range day["itemusages"] {
		if s.Action == "export" {
			t.Fatalf("baseline item export by %s", s.email())
		}
	}
}

// knownApps is Panther's allowlist (OnePassword.Unusual.Client).
var knownApps = map[string]bool{
	"1Password CLI": true, "1Password for Web": true, "1Password for Mac": true, "1Password SCIM Bridge": true,
	"1Password for Windows": true, "1Password for iOS": true, "1Password Browser Extension": true,
	"1Password for Android": true, "1Password for Linux": true, "1Password SDK": true,
}

// plantedAudit are the audit combinations that only planted scenarios
// produce (weight 0 in the catalogue).
var plantedAudit = map[string]bool{
	"vault/export": true, "user/disblmfa": true, "account/disblmfa": true, "account/disblduo": true,
	"account/updatfw": true, "account/uisas": true, "sso/enblsso": true, "sso/disblsso": true,
	"sso/chngpsso": true, "sso/chngasso": true, "sso/chngdsso": true, "sso/addgsso": true,
	"sso/delgsso": true, "sa/create": true, "satoken/create": true, "sa/expire": true, "satoken/trename": true,
	"satoken/trevoke": true, "gva/grant": true, "invite/create": true, "account/enblduo": true, "account/updatduo": true,
}

// TestBaselineHasNoBruteForceOrMFAFatigue: at the demo's rate (30 sign-ins
// a minute), no member or address fails 20 times in an hour, and no member
// succeeds after 5 MFA failures in an hour: the brute-force and MFA rules
// stay silent on the baseline.
func TestBaselineHasNoBruteForceOrMFAFatigue(t *testing.T) {
	e, err := New(Options{Seed: 81, Events: 43200, Span: 24 * time.Hour, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	type attempt struct {
		at       time.Time
		category string
	}
	byUser, byIP := map[string][]attempt{}, map[string][]attempt{}
	e.Each("", "signinattempts", 2, func(_ string, raw []byte) bool {
		var s struct {
			seen
			Client struct {
				IP string `json:"ip_address"`
			}
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		a := attempt{s.Timestamp, s.Category}
		byUser[s.email()] = append(byUser[s.email()], a)
		byIP[s.Client.IP] = append(byIP[s.Client.IP], a)
		return true
	})
	failed := func(c string) bool {
		return c == "credentials_failed" || c == "mfa_failed" || c == "modern_version_failed"
	}
	for _, m := range []map[string][]attempt{byUser, byIP} {
		for who, list := range m {
			sort.Slice(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
			var fails, mfa []time.Time
			for _, a := range list {
				hourAgo := a.at.Add(-time.Hour)
				for len(fails) > 0 && fails[0].Before(hourAgo) {
					fails = fails[1:]
				}
				for len(mfa) > 0 && mfa[0].Before(hourAgo) {
					mfa = mfa[1:]
				}
				switch {
				case failed(a.category):
					fails = append(fails, a.at)
					if a.category == "mfa_failed" {
						mfa = append(mfa, a.at)
					}
					if len(fails) >= 20 {
						t.Errorf("%s: 20 failed sign-ins within an hour, until %v", who, a.at)
					}
				case a.category == "success" && len(mfa) >= 5:
					t.Errorf("%s: success after %d MFA failures within an hour, at %v", who, len(mfa), a.at)
				}
			}
		}
	}
}
