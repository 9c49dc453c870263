package emulator

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"
)

// planted decodes a planted event.
func decode(t *testing.T, ev PlantedEvent) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal(ev.JSON, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

type plantedFields struct {
	seen
	ObjectUUID string `json:"object_uuid"`
	AuxUUID    string `json:"aux_uuid"`
	AuxInfo    string `json:"aux_info"`
	Type       string
	ItemUUID   string `json:"item_uuid"`
	Client     struct {
		AppName   string `json:"app_name"`
		IPAddress string `json:"ip_address"`
	}
}

func fieldsOf(t *testing.T, ev PlantedEvent) plantedFields {
	t.Helper()
	var f plantedFields
	if err := json.Unmarshal(ev.JSON, &f); err != nil {
		t.Fatal(err)
	}
	f.seen = decode(t, ev)
	return f
}

func TestScenariosOnlyWhenSwitchedOn(t *testing.T) {
	e, err := New(Options{Seed: 3, Events: 20000, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.Planted(""); err != nil || len(got) != 0 {
		t.Fatalf("Planted without Options.Scenarios: %d, %v", len(got), err)
	}
	e, err = New(Options{Seed: 3, Events: 20000, Now: newClock().Now, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Planted("")
	if err != nil || len(got) == 0 {
		t.Fatalf("Planted with Options.Scenarios: %d, %v", len(got), err)
	}
}

// TestPlantedScenariosAreServed: every planted event is served by the API,
// with the uuids Planted lists, and every kind shows up in a day.
func TestPlantedScenariosAreServed(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 4, Events: 30000, Rate: 60, Now: c.Now, Scenarios: true, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	c.Advance(30 * time.Minute)
	tok := token(t, e, TokenOptions{})
	served := map[string]bool{}
	for _, f := range featureNames {
		for _, u := range drain(t, e, tok, "/api/v2/"+f, `{"limit":1000,"start_time":"2020-01-01T00:00:00Z"}`) {
			served[u] = true
		}
	}
	got, err := e.Planted("")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, s := range got {
		kinds[s.Kind]++
		if len(s.Events) == 0 || s.Actor == "" || s.ActorEmail == "" || s.Start.After(s.End) {
			t.Errorf("%s: incomplete: %+v", s.Kind, s)
		}
		for _, ev := range s.Events {
			if !served[ev.UUID] {
				t.Errorf("%s: planted %s %s is not served", s.Kind, ev.Feature, ev.UUID)
			}
		}
	}
	for _, k := range scenarioKinds {
		if kinds[k] == 0 {
			t.Errorf("no %s planted in a day: %v", k, kinds)
		}
	}
}

// TestDemoSeesScenariosInItsFirstMinute: with the demo's defaults, a brute
// force ends the preloaded history and an unusual client comes seconds
// after the start.
func TestDemoSeesScenariosInItsFirstMinute(t *testing.T) {
	c := newClock()
	t0 := c.Now()
	e, err := New(Options{Seed: 5, Events: 2000, Rate: 30, Now: c.Now, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.Planted("")
	if len(got) == 0 || got[len(got)-1].Kind != ScenarioBruteForce || t0.Sub(got[len(got)-1].End) > 30*time.Minute {
		t.Fatalf("history does not end with a brute force: %v", kindsOf(got))
	}
	c.Advance(time.Minute)
	got, _ = e.Planted("")
	last := got[len(got)-1]
	if last.Kind != ScenarioUnusualClient || last.Start.Before(t0) || last.End.Sub(t0) > 20*time.Second {
		t.Fatalf("first minute: %s at %v after start", last.Kind, last.End.Sub(t0))
	}
}

func kindsOf(list []Scenario) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.Kind)
	}
	return out
}

// TestPlantedScenariosSayWhatRulesNeed checks each kind's events, field by
// field, as the detections read them.
func TestPlantedScenariosSayWhatRulesNeed(t *testing.T) {
	c := newClock()
	e, err := New(Options{Seed: 6, Events: 200000, Span: 48 * time.Hour, Now: c.Now, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := e.Groups("")
	if groups[0].Name != "Owners" || groups[2].Name != "Team Members" {
		t.Fatalf("groups: %v", groups)
	}
	got, _ := e.Planted("")
	policy := map[string]bool{}
	for _, s := range got {
		var evs []plantedFields
		for _, ev := range s.Events {
			evs = append(evs, fieldsOf(t, ev))
		}
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].Timestamp.Before(evs[j].Timestamp) })
		what := func() []string {
			var w []string
			for _, x := range evs {
				w = append(w, x.ObjectType+"/"+x.Action+x.Category+"/"+x.Type)
			}
			return w
		}
		switch s.Kind {
		case ScenarioBruteForce:
			if len(evs) != bruteForceN || evs[len(evs)-1].Timestamp.Sub(evs[0].Timestamp) > time.Hour {
				t.Fatalf("brute force: %d events over %v", len(evs), evs[len(evs)-1].Timestamp.Sub(evs[0].Timestamp))
			}
			for _, x := range evs {
				if x.Category != "credentials_failed" || x.Client.IPAddress != s.IP || x.email() != s.ActorEmail {
					t.Fatalf("brute force event: %s from %s for %s", x.Category, x.Client.IPAddress, x.email())
				}
			}
		case ScenarioMFABypass:
			for i, x := range evs {
				want := "mfa_failed"
				if i == len(evs)-1 {
					want = "success"
				}
				if x.Category != want || x.Client.IPAddress != s.IP {
					t.Fatalf("mfa bypass: %v", what())
				}
			}
		case ScenarioUnusualClient:
			if evs[0].Client.AppName != "Bartco 1Password Manager" || evs[0].Category != "success" {
				t.Fatalf("unusual client: %+v", evs[0])
			}
		case ScenarioImpossibleTravel:
			a, b := evs[0], evs[1]
			km := haversine(a.Location.Latitude, a.Location.Longitude, b.Location.Latitude, b.Location.Longitude)
			if a.Category != "success" || b.Category != "success" || km < 4000 || km/b.Timestamp.Sub(a.Timestamp).Hours() < 1000 {
				t.Fatalf("impossible travel: %.0f km in %v", km, b.Timestamp.Sub(a.Timestamp))
			}
		case ScenarioMFADisabledExport:
			if w := what(); !slices.Equal(w[:2], []string{"user/disblmfa/", "vault/export/"}) || len(w) != 2+itemExportsN {
				t.Fatalf("mfa disabled then export: %v", w)
			}
		case ScenarioOwnersAdded:
			if x := evs[0]; x.ObjectType != "gm" || x.Action != "join" || x.ObjectUUID != groups[0].UUID || x.AuxUUID != s.Subject {
				t.Fatalf("owners: %+v", x)
			}
		case ScenarioServiceAccount:
			a, b := evs[0], evs[1]
			if a.ObjectType != "sa" || b.ObjectType != "satoken" || a.ObjectUUID != b.ObjectUUID || a.ObjectUUID != s.Subject ||
				b.Timestamp.Sub(a.Timestamp) != 11*time.Millisecond {
				t.Fatalf("service account: %v, %v apart", what(), b.Timestamp.Sub(a.Timestamp))
			}
		case ScenarioVaultSharedEveryone:
			if x := evs[0]; x.ObjectType != "gva" || x.Action != "grant" || x.AuxUUID != groups[2].UUID {
				t.Fatalf("vault shared: %+v", x)
			}
		case ScenarioSuspendAfterExport:
			w := what()
			if w[0] != "vault/export/" || w[len(w)-1] != "user/suspend/" || evs[len(evs)-1].ObjectUUID != s.Actor {
				t.Fatalf("suspend after export: %v", w)
			}
		case ScenarioRevealBurst:
			items := map[string]bool{}
			for _, x := range evs {
				items[x.ItemUUID] = true
			}
			if len(items) != revealBurstN {
				t.Fatalf("reveal burst: %d distinct items", len(items))
			}
		case ScenarioSelfGrantReveal:
			g := evs[0]
			if g.ObjectType != "uva" || g.Action != "grant" || g.AuxUUID != s.Actor || g.ObjectUUID != s.Subject || len(evs) != 1+selfRevealsN {
				t.Fatalf("self grant: %+v, %d events", g, len(evs))
			}
			for _, ev := range s.Events[1:] {
				var v struct {
					Action    string
					VaultUUID string `json:"vault_uuid"`
					User      struct{ Email string }
				}
				if err := json.Unmarshal(ev.JSON, &v); err != nil {
					t.Fatal(err)
				}
				if v.Action != "reveal" || v.User.Email != s.ActorEmail || v.VaultUUID != s.Subject {
					t.Fatalf("self grant then reveal: %+v", v)
				}
			}
		case ScenarioExportAfterJoin:
			if w := what(); !slices.Equal(w, []string{"user/join/", "vault/export/"}) || evs[0].email() != evs[1].email() {
				t.Fatalf("export after join: %v", w)
			}
		case ScenarioPolicyChanges:
			for _, x := range evs {
				policy[x.ObjectType+"/"+x.Action] = true
			}
		}
	}
	for _, p := range policyActions {
		if !policy[p[0]+"/"+p[1]] {
			t.Errorf("policy change %s/%s never planted in %d scenarios", p[0], p[1], len(got))
		}
	}
}

// TestScenariosProduceTheAlertingActions: what the baseline leaves out,
// scenarios produce, so every value of the reference can be generated.
func TestScenariosProduceTheAlertingActions(t *testing.T) {
	e, err := New(Options{Seed: 8, Events: 200000, Span: 48 * time.Hour, Now: newClock().Now, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.Planted("")
	have := map[string]bool{}
	for _, s := range got {
		for _, ev := range s.Events {
			x := fieldsOf(t, ev)
			have[x.ObjectType+"/"+x.Action] = true
			if ev.Feature == "itemusages" {
				have["item:"+x.Action] = true
			}
		}
	}
	for k := range plantedAudit {
		if !have[k] {
			t.Errorf("%s is neither baseline nor planted", k)
		}
	}
	for _, k := range auditCatalogue() {
		if k.weight == 0 && !plantedAudit[k.objectType+"/"+k.action] {
			t.Errorf("%s/%s has weight 0 but is not listed as planted", k.objectType, k.action)
		}
	}
	if !have["item:export"] {
		t.Error("item usage export is neither baseline nor planted")
	}
}

// TestScenariosKeepTravelSane: with scenarios on, the only hops over
// 1000 km/h are impossible travel's, one per scenario (the member is kept
// quiet until a return would be plausible), and new_country's member
// travels at plausible speed.
func TestScenariosKeepTravelSane(t *testing.T) {
	c := newClock()
	e, err := New(Options{Seed: 9, Events: 60000, Span: 48 * time.Hour, Now: c.Now, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.Planted("")
	far := map[string]bool{} // uuids of impossible travel's far sign-ins
	wantHops := 0
	for _, s := range got {
		if s.Kind == ScenarioImpossibleTravel {
			far[s.Events[1].UUID] = true
			wantHops++
		}
	}
	if wantHops == 0 {
		t.Fatal("no impossible travel planted (setup)")
	}
	type fix struct {
		at       time.Time
		lat, lon float64
		uuid     string
	}
	byMember := map[string][]fix{}
	for _, f := range featureNames {
		e.Each("", f, 2, func(uuid string, raw []byte) bool {
			var s seen
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if s.Location != nil && (f != "signinattempts" || s.Category == "success") {
				byMember[s.email()] = append(byMember[s.email()], fix{s.Timestamp, s.Location.Latitude, s.Location.Longitude, uuid})
			}
			return true
		})
	}
	hops := 0
	for m, fixes := range byMember {
		sort.Slice(fixes, func(i, j int) bool { return fixes[i].at.Before(fixes[j].at) })
		for i := 1; i < len(fixes); i++ {
			a, b := fixes[i-1], fixes[i]
			km := haversine(a.lat, a.lon, b.lat, b.lon)
			if km < 1 {
				continue
			}
			if h := b.at.Sub(a.at).Hours(); h <= 0 || km/h > 1000 {
				if !far[b.uuid] {
					t.Errorf("%s: %.0f km in %v, not planted (into %s)", m, km, b.at.Sub(a.at), b.uuid)
				}
				hops++
			}
		}
	}
	if hops != wantHops {
		t.Errorf("%d impossible hops, want %d (one per planted impossible travel)", hops, wantHops)
	}
}

// TestPlantedExportersNeitherJoinNorLeave: the members scenarios export
// with are never joined, provisioned, suspended or deleted by the baseline,
// so "export after account creation" and "removed after export" fire only
// for the scenarios made for them.
func TestPlantedExportersNeitherJoinNorLeave(t *testing.T) {
	e, err := New(Options{Seed: 10, Events: 100000, Span: 48 * time.Hour, Now: newClock().Now, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.Planted("")
	exporters := map[string]string{}
	planted := map[string]bool{}
	for _, s := range got {
		for _, ev := range s.Events {
			planted[ev.UUID] = true
			if x := fieldsOf(t, ev); x.Action == "export" && s.Kind != ScenarioExportAfterJoin {
				exporters[x.email()] = s.Kind
			}
		}
	}
	if len(exporters) == 0 {
		t.Fatal("no planted export (setup)")
	}
	e.Each("", "auditevents", 2, func(uuid string, raw []byte) bool {
		if planted[uuid] {
			return true
		}
		var x struct {
			seen
			ObjectDetails *struct{ Email string } `json:"object_details"`
		}
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatal(err)
		}
		if x.ObjectType != "user" {
			return true
		}
		switch x.Action {
		case "join", "verify", "activate", "provsn", "suspend", "delete", "reactive":
			who := x.email()
			if x.ObjectDetails != nil {
				who = x.ObjectDetails.Email
			}
			if k, ok := exporters[who]; ok {
				t.Errorf("baseline user/%s of %s, who exports in %s", x.Action, who, k)
			}
		}
		return true
	})
}
