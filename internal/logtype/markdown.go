package logtype

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Markdown returns docs/log-types.md: the log types as Panther's docs list
// them (a YAML schema for each), followed by the p_ fields. It is generated
// from the schemas so that the page cannot drift from the code.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString(`# Log types

<!-- Generated from internal/logtype. Do not edit: change the schemas, then run
     go test ./internal/logtype -run TestDocsUpToDate -update -->

opwatch stores 1Password events as the three log types Panther defines for them, with
the same names, fields and ` + "`p_`" + ` fields, so that Panther's detections and queries carry
over. Each log type is a SQL view over the events table, with the standard fields first
and one column per top-level field; nested fields are JSON objects.

| Log type | SQL view | Events API feature |
| --- | --- | --- |
`)
	for _, lt := range All() {
		fmt.Fprintf(&b, "| [%s](#%s) | `%s` | `%s` |\n", lt.Name, anchor(lt.Name), lt.Table, lt.Feature)
	}
	b.WriteString(`
## How an event is checked

opwatch keeps every event exactly as 1Password sent it, and checks it first. An event
that fails a check is not stored as its log type: it is quarantined with the reason,
for example ` + "`timestamp: not an RFC 3339 time: \"yesterday\"`" + `.

- The event must be one JSON object, in UTF-8.
- ` + "`uuid`" + ` must be a non-empty string and ` + "`timestamp`" + ` an RFC 3339 time (any offset, any
  fraction of a second; stored in UTC as ` + "`p_event_time`" + `). These are the only required fields.
- Every other field listed below may be absent or ` + "`null`" + `; when present it must have its
  type, at any depth: a string, an integer (bigint, 64-bit), a number (float), an object,
  or an RFC 3339 time (timestamp).
- Fields not listed here are accepted and kept, at any depth: 1Password adds fields
  over time. Values outside the lists in the descriptions (a new sign-in type, a new
  audit action) are kept too: the lists document, they do not restrict.
- If a key appears twice in an object, every value is checked, and the last one gives
  the uuid, the time and the indicators.
- Values of fields marked with ` + "`indicators`" + ` are copied into ` + "`p_any_emails`" + ` (trimmed, only if
  they contain ` + "`@`" + `) and ` + "`p_any_ip_addresses`" + ` (trimmed, only valid IPv4 or IPv6 addresses),
  de-duplicated and sorted.

Fields marked "v2" are sent only by the v2 endpoints (mostly for MSP accounts); fields
marked with an API version appeared in that version of the Events API.
`)
	for _, lt := range All() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", lt.Name, lt.Description)
		fmt.Fprintf(&b, "- Reference: <%s>\n", lt.ReferenceURL)
		fmt.Fprintf(&b, "- SQL view: `%s`\n", lt.Table)
		fmt.Fprintf(&b, "- Events API feature and endpoint: `%s` (`/api/v1/%s`, `/api/v2/%s`)\n\n", lt.Feature, lt.Feature, lt.Feature)
		b.WriteString("```yaml\n")
		fmt.Fprintf(&b, "schema: %s\n", lt.Name)
		fmt.Fprintf(&b, "description: %s\n", yamlString(lt.Description))
		fmt.Fprintf(&b, "referenceURL: %s\n", lt.ReferenceURL)
		b.WriteString("fields:\n")
		writeYAMLFields(&b, lt.Fields, "  ", true)
		b.WriteString("```\n")
	}
	b.WriteString(`
## Standard fields

opwatch fills these Panther fields on every event. They are columns of every view, not
part of the stored event.

| Field | Type | Description |
| --- | --- | --- |
`)
	for _, f := range PantherFields() {
		t := string(f.Type)
		if f.Type == Array {
			t = "array of strings"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, t, f.Description)
	}
	return b.Bytes()
}

func writeYAMLFields(b *bytes.Buffer, fields []Field, indent string, top bool) {
	for _, f := range fields {
		fmt.Fprintf(b, "%s- name: %s\n", indent, f.Name)
		in := indent + "  "
		if f.Required {
			fmt.Fprintf(b, "%srequired: true\n", in)
		}
		fmt.Fprintf(b, "%stype: %s\n", in, f.Type)
		if f.Type == Timestamp {
			fmt.Fprintf(b, "%stimeFormats:\n%s  - rfc3339\n", in, in)
			if top && f.Name == "timestamp" {
				fmt.Fprintf(b, "%sisEventTime: true\n", in)
			}
		}
		if f.Indicator != "" {
			fmt.Fprintf(b, "%sindicators:\n%s  - %s\n", in, in, f.Indicator)
		}
		fmt.Fprintf(b, "%sdescription: %s\n", in, yamlString(describe(f)))
		if len(f.Fields) > 0 {
			fmt.Fprintf(b, "%sfields:\n", in)
			writeYAMLFields(b, f.Fields, in+"  ", false)
		}
	}
}

// describe is a field's description with its Since, in words.
func describe(f Field) string {
	switch {
	case f.Since == "":
		return f.Description
	case strings.HasPrefix(f.Since, "v"):
		return f.Description + " Sent by the " + f.Since + " endpoints only."
	}
	return f.Description + " Sent since Events API " + f.Since + "."
}

// yamlString writes s as a YAML plain scalar when that reads back as the
// same string, and double-quoted otherwise.
func yamlString(s string) string {
	if s == "" || strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@` ") ||
		strings.Contains(s, ": ") || strings.Contains(s, " #") ||
		strings.HasSuffix(s, ":") || strings.HasSuffix(s, " ") ||
		strings.ContainsAny(s, "\n\t\\") {
		return strconv.Quote(s)
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~":
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	return s
}

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	return strings.ToLower(strings.ReplaceAll(heading, ".", ""))
}
