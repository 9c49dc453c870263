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
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// sameHost compares two host[:port] values, a missing port being 443.
func sameHost(a, b string) bool {
	return strings.EqualFold(withPort(a), withPort(b))
}

func withPort(h string) string {
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h
	}
	return net.JoinHostPort(strings.Trim(h, "[]"), "443")
}

// checkHost refuses a base URL whose host is not the one the token was
// issued for, unless o allows it: whoever can change the base URL could
// otherwise have the token sent to a server of theirs. Loopback is no
// exception: on a shared machine another local user can listen on another
// loopback port, so only the audience's exact host and port qualify. A token
// whose audience names no host may be sent to 1Password's own hosts only.
func checkHost(o Options, ep endpoint, aud string) error {
	if o.BaseURL == "" || o.AllowOtherHost {
		return nil
	}
	switch {
	case aud != "" && sameHost(aud, ep.host):
		return nil
	case aud == "" && regionOf(ep.host) != "" && strings.HasPrefix(ep.base, "https:"):
		return nil
	}
	tokenHost := aud
	if tokenHost == "" {
		tokenHost = "no host (a legacy token)"
	}
	return fmt.Errorf("the base URL's host %s is not the token's host, %s, so the token would be sent to a server it was not issued for: "+
		"remove the base URL, or, if this server is meant (the emulator, a proxy), allow it with --allow-other-host (config allow_other_host)",
		ep.host, tokenHost)
}

// checkInsecure refuses plain http and unverified certificates for hosts
// other than this machine unless o allows them, and says why a connection
// it allows is not private.
func checkInsecure(o Options, ep endpoint) (string, error) {
	var why string
	switch {
	case strings.HasPrefix(ep.base, "http:"):
		why = fmt.Sprintf("plain http to %s: the token and events cross the network unencrypted", ep.host)
	case o.InsecureSkipVerify && o.HTTPClient == nil:
		why = fmt.Sprintf("the TLS certificate of %s is not verified: anyone on the path can read the token", ep.host)
	default:
		return "", nil
	}
	if isLoopback(ep.host) {
		return "", nil
	}
	if !o.AllowInsecure {
		return "", fmt.Errorf("refusing %s: use https with a trusted certificate, or allow it with --allow-insecure (config allow_insecure)", why)
	}
	return why, nil
}
