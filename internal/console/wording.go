package console

import (
	"regexp"
	"strings"
)

// Services word their advice for the command line (opwatch source update
// NAME --token-file F, --base-url); in the console the same advice names
// the form that does it. consoleWording rewrites those phrases in what a
// page shows; the CLI keeps its own words.

var consoleRewrites = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`give it with opwatch source update (\S+) --token-file F`), "store it with the Rotate the token form on source $1's page"},
	{regexp.MustCompile(`given with opwatch source update (\S+) --token-file F`), "stored with the Rotate the token form on source $1's page"},
	{regexp.MustCompile(`opwatch source update (\S+) --token-file F`), "the Rotate the token form on source $1's page"},
	{regexp.MustCompile(`\(source update --token-file\)`), "(the Rotate the token form on the source's page)"},
	{regexp.MustCompile("`?opwatch source update NAME --token-file F`?"), "the Rotate the token form on each source's page"},
	{regexp.MustCompile(`opwatch source reset (\S+)`), "the Poll now button on source $1's page"},
	{regexp.MustCompile(`with opwatch source update (\S+) --log-types …`), "with the Pause button of those streams on source $1's page"},
	{regexp.MustCompile(`give --base-url (http://\S+?)\)`), "put $1 in the Custom base URL field)"},
	{regexp.MustCompile(`allow it with --allow-other-host \(config allow_other_host\)`), `allow it by ticking "send the token there anyway" under Custom base URL`},
}

// backticked is a command quoted with backticks (Markdown) in a service's
// message; a page shows plain text, so the backticks become quotes.
var backticked = regexp.MustCompile("`([^`]+)`")

// consoleWording is msg with command-line advice worded for the console.
func consoleWording(msg string) string {
	if strings.Contains(msg, "--") || strings.Contains(msg, "opwatch source") {
		for _, rw := range consoleRewrites {
			msg = rw.re.ReplaceAllString(msg, rw.with)
		}
	}
	if strings.Contains(msg, "`") {
		msg = backticked.ReplaceAllString(msg, "“$1”")
	}
	return msg
}
