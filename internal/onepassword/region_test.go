package onepassword

import (
	"strings"
	"testing"
)

func TestRegionHost(t *testing.T) {
	want := map[string]string{
		"business": "events.1password.com", "enterprise": "events.ent.1password.com",
		"ca": "events.1password.ca", "eu": "events.1password.eu", " EU ": "events.1password.eu",
	}
	for region, host := range want {
		got, err := RegionHost(region)
		if err != nil || got != host {
			t.Errorf("RegionHost(%q) = %q, %v; want %q", region, got, err, host)
		}
	}
	if _, err := RegionHost("us"); err == nil || !strings.Contains(err.Error(), "business, enterprise, ca, eu") {
		t.Errorf("RegionHost(us) error = %v, want the list of regions", err)
	}
	if got := strings.Join(Regions(), ","); got != "business,enterprise,ca,eu" {
		t.Errorf("Regions() = %s", got)
	}
}

func TestNewResolvesHost(t *testing.T) {
	tok := func(aud any) string {
		return makeToken(t, map[string]any{"aud": aud, "1password.com/fts": []string{"itemusages"}})
	}
	tests := []struct {
		name             string
		o                Options
		wantBase         string
		wantErr          []string // substrings of the error
		wantNotInMessage string
	}{
		{name: "from aud array", o: Options{Token: tok([]string{"events.1password.eu"})}, wantBase: "https://events.1password.eu"},
		{name: "from aud string", o: Options{Token: tok("events.ent.1password.com")}, wantBase: "https://events.ent.1password.com"},
		{name: "region agrees", o: Options{Token: tok([]string{"events.1password.ca"}), Region: "ca"}, wantBase: "https://events.1password.ca"},
		{name: "region for legacy token", o: Options{Token: tok([]string{"com.1password.streamingservice"}), Region: "business"}, wantBase: "https://events.1password.com"},
		{name: "base URL wins", o: Options{Token: tok([]string{"events.1password.com"}), BaseURL: "http://127.0.0.1:8080/", AllowOtherHost: true}, wantBase: "http://127.0.0.1:8080"},
		{name: "base URL with prefix", o: Options{Token: tok([]string{"com.1password.streamingservice"}), BaseURL: "https://proxy.example/1p/", AllowOtherHost: true}, wantBase: "https://proxy.example/1p"},
		{name: "base URL of the token's host", o: Options{Token: tok([]string{"events.1password.eu"}), BaseURL: "https://events.1password.eu:443"}, wantBase: "https://events.1password.eu:443"},
		{name: "legacy token, base URL of a region", o: Options{Token: tok([]string{"com.1password.streamingservice"}), BaseURL: "https://events.ent.1password.com"}, wantBase: "https://events.ent.1password.com"},
		{name: "loopback token on its own port", o: Options{Token: tok([]string{"127.0.0.1:9000"}), BaseURL: "http://127.0.0.1:9000/"}, wantBase: "http://127.0.0.1:9000"},
		{name: "loopback token on another port, allowed", o: Options{Token: tok([]string{"127.0.0.1:9000"}), BaseURL: "http://127.0.0.1:9001", AllowOtherHost: true}, wantBase: "http://127.0.0.1:9001"},
		{
			// Another local user may listen on another loopback port: a token
			// for this machine goes only to its own port unless allowed.
			name:    "loopback token on another loopback port",
			o:       Options{Token: tok([]string{"127.0.0.1:9000"}), BaseURL: "http://127.0.0.1:9001"},
			wantErr: []string{"127.0.0.1:9001 is not the token's host, 127.0.0.1:9000", "--allow-other-host", "allow_other_host"},
		},
		{
			name:    "loopback token on another loopback name",
			o:       Options{Token: tok([]string{"127.0.0.1:9000"}), BaseURL: "http://localhost:9001"},
			wantErr: []string{"localhost:9001 is not the token's host", "--allow-other-host"},
		},
		{
			// D1: whoever can change the base URL must not get the token sent to them.
			name:    "base URL of another host",
			o:       Options{Token: tok([]string{"events.1password.com"}), BaseURL: "https://attacker.example"},
			wantErr: []string{"attacker.example is not the token's host, events.1password.com", "--allow-other-host", "allow_other_host"},
		},
		{
			name:    "emulator on loopback with a real host's token",
			o:       Options{Token: tok([]string{"events.1password.com"}), BaseURL: "http://127.0.0.1:8080"},
			wantErr: []string{"127.0.0.1:8080 is not the token's host", "--allow-other-host"},
		},
		{
			name:    "legacy token, base URL of another host",
			o:       Options{Token: tok([]string{"com.1password.streamingservice"}), BaseURL: "https://proxy.example"},
			wantErr: []string{"proxy.example is not the token's host, no host (a legacy token)", "--allow-other-host"},
		},
		{
			// D3: plain http and unverified certificates only on this machine,
			// or when allowed explicitly.
			name:    "plain http to a real host",
			o:       Options{Token: tok([]string{"events.1password.com"}), BaseURL: "http://events.1password.com"},
			wantErr: []string{"refusing plain http to events.1password.com", "--allow-insecure", "allow_insecure"},
		},
		{
			name:    "unverified certificate of a real host",
			o:       Options{Token: tok([]string{"events.1password.com"}), InsecureSkipVerify: true},
			wantErr: []string{"certificate of events.1password.com is not verified", "--allow-insecure"},
		},
		{
			name:    "region disagrees with aud",
			o:       Options{Token: tok([]string{"events.1password.com"}), Region: "eu"},
			wantErr: []string{"events.1password.eu", "events.1password.com", "set the region to business"},
		},
		{
			name:    "legacy aud without region",
			o:       Options{Token: tok([]string{"com.1password.streamingservice"})},
			wantErr: []string{"legacy audience", "set a region", "base URL"},
		},
		{name: "no aud", o: Options{Token: tok(nil)}, wantErr: []string{"names no host", "set a region"}},
		{name: "aud not a host", o: Options{Token: tok([]string{"https://x/y"})}, wantErr: []string{"not a host"}},
		{name: "bad region", o: Options{Token: tok([]string{"events.1password.com"}), Region: "mars"}, wantErr: []string{"unknown 1Password region"}},
		{name: "bad base URL", o: Options{Token: tok([]string{"events.1password.com"}), BaseURL: "ftp://x"}, wantErr: []string{"not an http(s) URL"}},
		{name: "bad version", o: Options{Token: tok([]string{"events.1password.com"}), APIVersion: 3}, wantErr: []string{"use 1 or 2"}},
		{name: "not a token", o: Options{Token: "secret-but-not-a-jwt"}, wantErr: []string{"not a JWT"}, wantNotInMessage: "secret-but-not-a-jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("New succeeded with base %s, want an error", c.BaseURL())
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if strings.Contains(err.Error(), tt.o.Token) {
					t.Errorf("error %q contains the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.BaseURL() != tt.wantBase {
				t.Errorf("BaseURL() = %q, want %q", c.BaseURL(), tt.wantBase)
			}
			if !strings.HasSuffix(tt.wantBase, c.Host()) && !strings.Contains(tt.wantBase, c.Host()+"/") {
				t.Errorf("Host() = %q does not match base %q", c.Host(), tt.wantBase)
			}
		})
	}
}

// Insecure names an allowed insecure connection, for a warning on every
// poll; on this machine the token does not leave it, so nothing is said.
func TestInsecure(t *testing.T) {
	tok := allFeaturesToken(t, "events.1password.com")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"https", Options{Token: tok}, ""},
		{"plain http, allowed", Options{Token: tok, BaseURL: "http://events.1password.com", AllowInsecure: true}, "plain http to events.1password.com"},
		{"unverified, allowed", Options{Token: tok, InsecureSkipVerify: true, AllowInsecure: true}, "certificate of events.1password.com is not verified"},
		{"plain http on loopback", Options{Token: tok, BaseURL: "http://[::1]:8080", AllowOtherHost: true}, ""},
		{"unverified on localhost", Options{Token: tok, BaseURL: "https://localhost:8443", AllowOtherHost: true, InsecureSkipVerify: true}, ""},
	}
	for _, tt := range tests {
		c, err := New(tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := c.Insecure(); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: Insecure() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
