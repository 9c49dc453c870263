package onepassword

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// legacyAudience is the audience of early Events API tokens; it names no host.
const legacyAudience = "com.1password.streamingservice"

type region struct{ name, host string }

// regionHosts maps each region name to its Events API host, in Regions order.
func regionHosts() [4]region {
	return [...]region{
		{"business", "events.1password.com"},
		{"enterprise", "events.ent.1password.com"},
		{"ca", "events.1password.ca"},
		{"eu", "events.1password.eu"},
	}
}

// Regions lists the region names RegionHost accepts.
func Regions() []string {
	rs := regionHosts()
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.name
	}
	return names
}

// RegionHost returns the Events API host of a region name.
func RegionHost(region string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(region))
	for _, r := range regionHosts() {
		if r.name == name {
			return r.host, nil
		}
	}
	return "", fmt.Errorf("unknown 1Password region %q: use one of %s", region, strings.Join(Regions(), ", "))
}

// regionOf names the region of a host, or "" for other hosts.
func regionOf(host string) string {
	for _, r := range regionHosts() {
		if strings.EqualFold(r.host, host) {
			return r.name
		}
	}
	return ""
}

// audienceHost is the host a token is for ("" when its audience names none).
func audienceHost(c Claims) (string, error) {
	if len(c.Audience) == 0 || c.Audience[0] == legacyAudience {
		return "", nil
	}
	aud := c.Audience[0]
	u, err := url.Parse("https://" + aud)
	if err != nil || u.Host != aud || u.Hostname() == "" {
		return "", fmt.Errorf("token audience %.80q is not a host: set a region or a base URL", aud)
	}
	return aud, nil
}

// endpoint is where a client sends its requests.
type endpoint struct {
	base string // scheme://host[:port][/prefix], no trailing slash
	host string
}

// resolveEndpoint picks the base URL: an explicit base URL first, then a
// region, then the token's audience, as 1Password's own clients do.
func resolveEndpoint(baseURL, region string, c Claims) (endpoint, error) {
	aud, err := audienceHost(c)
	if err != nil && baseURL == "" && region == "" {
		return endpoint{}, err
	}
	switch {
	case baseURL != "":
		u, err := url.Parse(strings.TrimRight(baseURL, "/"))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return endpoint{}, fmt.Errorf("base URL %q is not an http(s) URL such as https://events.1password.com", baseURL)
		}
		return endpoint{base: u.String(), host: u.Host}, nil
	case region != "":
		host, err := RegionHost(region)
		if err != nil {
			return endpoint{}, err
		}
		if aud != "" && !strings.EqualFold(aud, host) {
			hint := "remove the region to use the token's host"
			if r := regionOf(aud); r != "" {
				hint = fmt.Sprintf("set the region to %s", r)
			}
			return endpoint{}, fmt.Errorf("region %s (%s) does not match the token, which is for %s: %s, or issue a token in the %s account",
				strings.ToLower(strings.TrimSpace(region)), host, aud, hint, host)
		}
		return endpoint{base: "https://" + host, host: host}, nil
	case aud != "":
		return endpoint{base: "https://" + aud, host: aud}, nil
	}
	if len(c.Audience) > 0 && c.Audience[0] == legacyAudience {
		return endpoint{}, fmt.Errorf("the token has the legacy audience %s, which names no host: set a region (%s) or a base URL",
			legacyAudience, strings.Join(Regions(), ", "))
	}
	return endpoint{}, fmt.Errorf("the token names no host: set a region (%s) or a base URL", strings.Join(Regions(), ", "))
}

// isLoopback reports whether host (with optional port) is this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
