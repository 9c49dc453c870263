package emulator

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCatalogueCoversTheReference(t *testing.T) {
	// Reference §5.4 and §5.5 (spec 1.4.1).
	actions := strings.Fields(`activate addgsso begin beginr cancel cancelr changeks changela changemp changenm
		changesk chngasso chngdsso chngpsso complete completr convert create dealldev delete delgsso delshare deolddev
		detchild disblduo disblmfa disblsso dlgsess dvrfydmn enblduo enblmfa enblsso expire export grant hide join
		launchi leave musercom muserdec patch propose provsn prsndall purge rdmchild reactive reauth replace resendts
		revoke role sdvcsso sendpkg sendts share ssotknv suspend tdvcsso trename trevoke trvlaway trvlback tverify uisas
		unhide unknown unlink updatduo update updatea updatfw updatmfa upguest uvrfydmn verify view vrfydmn`)
	objects := strings.Fields(`account card cred device dlgdsess ec famchild file gm group gva invite item itemhist
		items miguser mngdacc pm report sa satoken slackapp sso ssotkn sub template user uva vault vaultkey`)
	types := strings.Fields(`all_blocked anonymous_blocked code_bad code_disabled code_timeout continent_blocked
		country_blocked credentials_ok duo_bad duo_disabled duo_native_bad duo_timeout federated ip_blocked mfa_missing
		mfa_ok modern_version_missing modern_version_old non_sso_user password_secret_bad platform_secret_bad
		platform_secret_disabled platform_secret_proxy service_account_sso_denied sso_user_mismatch totp_bad
		totp_disabled totp_timeout u2f_bad u2f_disabled u2f_timeout`)
	categories := strings.Fields(`success credentials_failed mfa_failed sso_failed modern_version_failed firewall_failed firewall_reported_success`)
	itemActs := strings.Fields(`enter-item-edit-mode export fill other reveal secure-copy select-sso-provider server-create server-fetch server-update share`)
	if len(actions) != 79 || len(objects) != 30 || len(types) != 31 {
		t.Fatalf("reference lists: %d actions, %d object types, %d sign-in types", len(actions), len(objects), len(types))
	}

	var gotActions, gotObjects, gotTypes, gotCategories []string
	for _, k := range auditCatalogue() {
		gotActions = append(gotActions, k.action)
		gotObjects = append(gotObjects, k.objectType)
		// Weight 0: an action a detection alerts on every time; planted
		// scenarios produce it (TestScenariosProduceTheAlertingActions).
		if k.weight < 0 || k.weight == 0 && !plantedAudit[k.objectType+"/"+k.action] {
			t.Errorf("%s/%s has weight %d and is not planted", k.objectType, k.action, k.weight)
		}
	}
	for _, o := range signInOutcomes() {
		gotTypes = append(gotTypes, o.typ)
		gotCategories = append(gotCategories, o.category)
	}
	gotItem, _ := itemActions()
	for _, c := range []struct {
		what       string
		want, have []string
	}{
		{"audit action", actions, gotActions}, {"audit object type", objects, gotObjects},
		{"sign-in type", types, gotTypes}, {"sign-in category", categories, gotCategories},
		{"item usage action", itemActs, gotItem},
	} {
		for _, w := range c.want {
			if !slices.Contains(c.have, w) {
				t.Errorf("%s %q is never generated", c.what, w)
			}
		}
		for _, h := range c.have {
			if !slices.Contains(c.want, h) {
				t.Errorf("%s %q is not in the reference", c.what, h)
			}
		}
	}
}

type sample struct {
	Timestamp  time.Time
	Category   string
	Type       string
	Action     string
	ObjectType string `json:"object_type"`
	Details    *struct{ Value string }
	User       *struct{ Email string }
	TargetUser *struct{ Email string } `json:"target_user"`
	Client     *struct {
		AppName   string `json:"app_name"`
		IPAddress string `json:"ip_address"`
	}
	Location *struct{ Country string }
	AuxInfo  *string `json:"aux_info"`
}

func samples(t *testing.T, e *Emulator, feature string) []sample {
	var out []sample
	e.Each("", feature, 2, func(_ string, raw []byte) bool {
		var s sample
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
		return true
	})
	return out
}

func TestDataIsRealistic(t *testing.T) {
	n := 8000
	if testing.Short() {
		n = 3000
	}
	e, err := New(Options{Seed: 21, Events: n, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	frac := func(count int) float64 { return float64(count) / float64(n) }

	counts := map[string]int{}
	apps := map[string]bool{}
	ipv6, isoCountry := 0, 0
	for _, s := range samples(t, e, "signinattempts") {
		counts[s.Category]++
		counts[s.Category+"/"+s.Type]++
		if strings.HasPrefix(s.Category, "firewall") && s.Details != nil && s.Details.Value != "" {
			counts["firewall with value"]++
		}
		if strings.HasSuffix(s.TargetUser.Email, "@1passwordserviceaccounts.com") {
			counts["service account"]++
		}
		apps[s.Client.AppName] = true
		if strings.Contains(s.Client.IPAddress, ":") {
			ipv6++
		}
		if s.Location != nil && len(s.Location.Country) == 2 {
			isoCountry++
		}
	}
	if f := frac(counts["success"]); f < 0.78 || f > 0.9 {
		t.Errorf("sign-in success share %.2f, want most but not all", f)
	}
	if f := frac(counts["success/credentials_ok"] + counts["success/mfa_ok"]); f < 0.7 {
		t.Errorf("credentials_ok and mfa_ok share %.2f, want the bulk", f)
	}
	for _, k := range []string{"credentials_failed", "mfa_failed", "sso_failed", "modern_version_failed", "firewall_failed", "firewall with value", "service account"} {
		if counts[k] == 0 {
			t.Errorf("no sign-in of kind %q in %d", k, n)
		}
	}
	if len(apps) < 6 {
		t.Errorf("only %d client apps: %v", len(apps), apps)
	}
	if f := frac(ipv6); f < 0.03 || f > 0.4 {
		t.Errorf("IPv6 share %.2f, want some", f)
	}
	if f := frac(isoCountry); f < 0.95 {
		t.Errorf("sign-in location.country is an ISO code in only %.2f", f)
	}

	counts = map[string]int{}
	for _, s := range samples(t, e, "itemusages") {
		counts[s.Action]++
		if strings.HasSuffix(s.User.Email, "@1passwordserviceaccounts.com") {
			counts["service account"]++
		}
		if s.Location != nil && len(s.Location.Country) <= 2 {
			t.Fatalf("item usage location.country %q: want a country name", s.Location.Country)
		}
	}
	acts, weights := itemActions()
	for i, a := range acts {
		if weights[i] == 0 {
			if counts[a] != 0 {
				t.Errorf("item usage action %q in the baseline: it is planted only", a)
			}
			continue
		}
		if counts[a] == 0 {
			t.Errorf("no item usage with action %q in %d", a, n)
		}
	}
	if f := frac(counts["service account"]); f < 0.05 || f > 0.2 {
		t.Errorf("service account share of item usages %.2f", f)
	}

	counts = map[string]int{}
	for _, s := range samples(t, e, "auditevents") {
		counts[s.ObjectType+"/"+s.Action]++
		if s.ObjectType == "report" && (s.AuxInfo == nil || *s.AuxInfo == "") {
			t.Errorf("report event without aux_info")
		}
	}
	if top := counts["dlgdsess/dlgsess"]; frac(top) < 0.3 {
		t.Errorf("delegated sessions are %.2f of audit events; they dominate real data", frac(top))
	}
	for _, k := range auditCatalogue() {
		if k.weight >= 20 && counts[k.objectType+"/"+k.action] == 0 {
			t.Errorf("no audit event %s/%s in %d", k.objectType, k.action, n)
		}
	}
}

func TestLateItemUsages(t *testing.T) {
	c := newClock()
	for _, tt := range []struct {
		fraction, wantLow, wantHigh float64
	}{{0, 0.04, 0.06}, {0.2, 0.18, 0.22}, {-1, 0, 0}} {
		const n = 10000
		e, err := New(Options{Seed: 5, Events: n, LateFraction: tt.fraction, MaxLateness: 3 * time.Hour, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		late, i := 0, 0
		e.Each("", "itemusages", 1, func(_ string, raw []byte) bool {
			// "timestamp":"..." is the second field.
			ts, err := time.Parse(time.RFC3339Nano, string(raw[50:bytes.IndexByte(raw[50:], '"')+50]))
			if err != nil {
				t.Fatalf("event %d: %v in %s", i, err, raw)
			}
			lateness := time.Duration(e.tl.ingest(i) - ts.UnixNano())
			if lateness < 0 || lateness > 3*time.Hour+2*time.Second {
				t.Fatalf("event %d: timestamp %v before ingestion, outside [0, 3h]", i, lateness)
			}
			if lateness >= 30*time.Minute {
				late++
			}
			i++
			return true
		})
		if f := float64(late) / n; f < tt.wantLow || f > tt.wantHigh {
			t.Errorf("LateFraction %v: %.3f late, want %v to %v", tt.fraction, f, tt.wantLow, tt.wantHigh)
		}
	}
}

// TestV1ServesOnlyV1Values checks that the v1 endpoints never send a value
// that came with v2 (spec 1.2 is v1's last), while v2 does, and that both
// versions serve the same events.
func TestV1ServesOnlyV1Values(t *testing.T) {
	e, err := New(Options{Seed: 11, Events: 6000, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	type fields struct {
		Type, Action string
		ObjectType   string `json:"object_type"`
	}
	for _, f := range featureNames {
		seen := [3]map[string]int{}
		var uuids [3][]string
		for _, v := range []int{1, 2} {
			seen[v] = map[string]int{}
			e.Each("", f, v, func(uuid string, raw []byte) bool {
				var x fields
				if err := json.Unmarshal(raw, &x); err != nil {
					t.Fatal(err)
				}
				for _, val := range []string{x.Type, x.Action, x.ObjectType} {
					if val != "" && v2Only(val) {
						seen[v][val]++
					}
				}
				uuids[v] = append(uuids[v], uuid)
				return true
			})
		}
		if len(seen[1]) != 0 {
			t.Errorf("%s v1 serves v2-only values: %v", f, seen[1])
		}
		if len(seen[2]) == 0 {
			t.Errorf("%s v2 never serves a v2-only value (setup)", f)
		}
		if !slices.Equal(uuids[1], uuids[2]) {
			t.Errorf("%s: v1 and v2 serve different events", f)
		}
	}
	for _, v := range []string{"federated", "expire", "launchi", "unlink", "mngdacc", "other"} {
		if !v2Only(v) {
			t.Errorf("%s is not marked v2-only", v)
		}
	}
}
