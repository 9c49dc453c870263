package alert

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// Titles, contexts, dedup strings and summary values come from event data,
// that is from whoever can sign in to or use items of the watched account:
// every payload escapes them for its medium and bounds their length.

// testNotice opens every test message.
const testNotice = "This is a test message from opwatch (destinations test): no alert was raised and nothing needs doing."

// WebhookPayload is the JSON body a webhook destination receives
// (schema version 1). Within a version, fields are only ever added. Text
// is as the rule and the events wrote it (JSON-escaped, not sanitized for
// display), bounded in length; times are RFC 3339 in UTC, null when
// unknown.
type WebhookPayload struct {
	Version        int    `json:"version"`         // 1
	ID             string `json:"id"`              // the alert's ID
	Kind           string `json:"kind"`            // trigger, resolve or test
	IdempotencyKey string `json:"idempotency_key"` // the notification's ID, also the Idempotency-Key header: the same on every retry
	Type           string `json:"type"`            // rule, rule_error or system_error
	Title          string `json:"title"`
	Severity       string `json:"severity"` // INFO, LOW, MEDIUM, HIGH or CRITICAL
	Status         string `json:"status"`   // open, triaged or resolved
	RuleID         string `json:"rule_id"`  // "" for system errors not about a rule
	Dedup          string `json:"dedup"`
	Description    string `json:"description"`
	Runbook        string `json:"runbook"`
	Reference      string `json:"reference"`
	// Context is the rule's alert_context, a JSON object, or null.
	Context json.RawMessage `json:"context"`
	// ContextTruncated: the context was too big to send (over 256 KB).
	ContextTruncated bool               `json:"context_truncated,omitempty"`
	Summary          []WebhookAttribute `json:"summary"` // the rule's summary attributes, in its order
	Events           int                `json:"events"`
	FirstEventAt     *time.Time         `json:"first_event_at"`
	LastEventAt      *time.Time         `json:"last_event_at"`
	CreatedAt        *time.Time         `json:"created_at"`
	Link             string             `json:"link"` // the alert in the console; "" without --public-url
}

// WebhookAttribute is one summary attribute in a WebhookPayload.
type WebhookAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Bounds of text taken from an alert, in characters.
const (
	maxTitle       = 1000
	maxLongText    = 10000 // description, runbook, reference
	maxAttrName    = 200
	maxAttrValue   = 2000
	maxAttrs       = 50
	maxDedup       = 1000
	maxRawContext  = 256 << 10 // webhook: the whole context, up to this
	maxPartContext = 64 << 10  // PagerDuty's custom_details
)

func webhookPayload(m Message) ([]byte, error) {
	a := m.Alert
	p := WebhookPayload{
		Version:        1,
		ID:             a.ID,
		Kind:           m.Kind,
		IdempotencyKey: m.IdempotencyKey,
		Type:           a.Type,
		Title:          limitRunes(a.Title, maxTitle),
		Severity:       a.Severity,
		Status:         a.Status,
		RuleID:         a.RuleID,
		Dedup:          limitRunes(a.Dedup, maxDedup),
		Description:    limitRunes(a.Description, maxLongText),
		Runbook:        limitRunes(a.Runbook, maxLongText),
		Reference:      limitRunes(a.Reference, maxLongText),
		Summary:        []WebhookAttribute{},
		Events:         a.Events,
		FirstEventAt:   utcTime(a.FirstEventAt),
		LastEventAt:    utcTime(a.LastEventAt),
		CreatedAt:      utcTime(a.CreatedAt),
		Link:           m.Link,
	}
	if m.Kind == KindTest {
		p.Title = limitRunes("[TEST] "+a.Title, maxTitle)
		p.Description = limitRunes(testNotice+"\n\n"+p.Description, maxLongText)
	}
	switch {
	case !isJSONObject(a.Context):
		p.Context = json.RawMessage("null")
	case len(a.Context) > maxRawContext:
		p.Context = json.RawMessage("null")
		p.ContextTruncated = true
	default:
		p.Context = a.Context
	}
	for _, at := range summaryAttrs(m) {
		p.Summary = append(p.Summary, WebhookAttribute{Name: limitRunes(at.Name, maxAttrName), Value: limitRunes(at.Value, maxAttrValue)})
	}
	return marshalPayload(p)
}

// marshalPayload is v as compact JSON, with <, > and & as they are: the
// receivers are no HTML pages, and Slack's escapes stay readable.
func marshalPayload(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// utcTime is t in UTC, nil when zero.
func utcTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func isJSONObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

func summaryAttrs(m Message) []Attribute {
	if len(m.Summary) > maxAttrs {
		return m.Summary[:maxAttrs]
	}
	return m.Summary
}

// headline is the one line a message is known by.
func headline(m Message) string {
	t := strings.TrimSpace(m.Alert.Title)
	if t == "" {
		t = "Alert " + m.Alert.ID
	}
	switch m.Kind {
	case KindTest:
		return "[TEST] " + t
	case store.NotifyResolve:
		return "Resolved: " + t
	}
	return t
}

// fact is one line of an alert's metadata.
type fact struct{ name, value string }

// alertFacts are the alert's metadata, for the media that show a table.
func alertFacts(m Message) []fact {
	a := m.Alert
	f := []fact{{"Severity", a.Severity}, {"Status", a.Status}, {"Type", a.Type}}
	if a.RuleID != "" {
		f = append(f, fact{"Rule", a.RuleID})
	}
	if a.Events > 0 {
		f = append(f, fact{"Events", strconv.Itoa(a.Events)})
	}
	if !a.FirstEventAt.IsZero() {
		f = append(f, fact{"First event", displayTime(a.FirstEventAt)})
	}
	if !a.LastEventAt.IsZero() {
		f = append(f, fact{"Last event", displayTime(a.LastEventAt)})
	}
	return append(f, fact{"Alert ID", a.ID})
}

func displayTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// limitRunes cuts s to at most n characters, ending it with "…" when cut.
// Bytes that are not UTF-8 become U+FFFD.
func limitRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n - 1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// displayLine is s on one line, every control or bidi character written as
// a visible escape, at most n characters.
func displayLine(s string, n int) string { return limitRunes(safetext.Terminal(s), n) }

// displayText is like displayLine but keeps line breaks.
func displayText(s string, n int) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = safetext.Terminal(l)
	}
	return limitRunes(strings.Join(lines, "\n"), n)
}

// contextText is the alert context indented for reading, "" when none.
func contextText(raw json.RawMessage, n int) string {
	if !isJSONObject(raw) {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "", "  "); err != nil {
		return ""
	}
	if b.String() == "{}" {
		return ""
	}
	return displayText(b.String(), n)
}

// --- Slack (Block Kit, incoming webhook) ---

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// (links, mentions such as <!channel>, entities), stopping before the
// escaped text would exceed n characters.
func slackEscape(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		e := string(r)
		switch r {
		case '&':
			e = "&amp;"
		case '<':
			e = "&lt;"
		case '>':
			e = "&gt;"
		}
		w := utf8.RuneCountInString(e)
		if count+w > n-1 {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(e)
		count += w
	}
	return b.String()
}

// slackMrkdwn is a mrkdwn text object that Slack shows verbatim: no URL is
// made a link and no mention is parsed.
func slackMrkdwn(text string) map[string]any {
	return map[string]any{"type": "mrkdwn", "text": text, "verbatim": true}
}

func slackSection(text string) map[string]any {
	return map[string]any{"type": "section", "text": slackMrkdwn(text)}
}

// slackPayload is an incoming webhook message: a header, the facts, the
// description, the summary attributes, the context, and a button to the
// alert. Block Kit's limits: header 150, section text 3000, a field 2000,
// 10 fields a section, 50 blocks.
func slackPayload(m Message) ([]byte, error) {
	a := m.Alert
	head := displayLine(headline(m), 150)
	blocks := []any{map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": head, "emoji": false}}}
	if m.Kind == KindTest {
		blocks = append(blocks, slackSection(":information_source: "+testNotice))
	}
	var fields []any
	for _, f := range alertFacts(m) {
		fields = append(fields, slackMrkdwn("*"+f.name+"*\n"+slackEscape(displayLine(f.value, 500), 1900)))
	}
	blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	if d := displayText(a.Description, 2900); d != "" {
		blocks = append(blocks, slackSection(slackEscape(d, 2990)))
	}
	attrs := summaryAttrs(m)
	if len(attrs) > 20 {
		attrs = attrs[:20]
	}
	for len(attrs) > 0 {
		k := min(len(attrs), 10)
		var fs []any
		for _, at := range attrs[:k] {
			fs = append(fs, slackMrkdwn("*"+slackEscape(displayLine(at.Name, 100), 300)+"*\n"+slackEscape(displayText(at.Value, 1000), 1600)))
		}
		blocks = append(blocks, map[string]any{"type": "section", "fields": fs})
		attrs = attrs[k:]
	}
	if c := contextText(a.Context, 2800); c != "" {
		// A ``` in the data would end the code block early: break it up.
		c = strings.ReplaceAll(c, "```", "`\u200b``")
		blocks = append(blocks, slackSection("*Alert context*\n```"+slackEscape(c, 2950)+"```"))
	}
	if r := displayText(a.Runbook, 2800); r != "" {
		blocks = append(blocks, slackSection("*Runbook*\n"+slackEscape(r, 2950)))
	}
	if r := displayLine(a.Reference, 2800); r != "" {
		blocks = append(blocks, slackSection("*Reference*\n"+slackEscape(r, 2950)))
	}
	ctx := "opwatch"
	if a.Dedup != "" {
		ctx += " · dedup " + slackEscape(displayLine(a.Dedup, 200), 1000)
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []any{slackMrkdwn(ctx)}})
	if isWebURL(m.Link) {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "View alert"}, "url": m.Link,
		}}})
	}
	return marshalPayload(map[string]any{
		"text":         slackEscape(displayLine(headline(m), 300), 1000),
		"blocks":       blocks,
		"unfurl_links": false,
		"unfurl_media": false,
	})
}

// isWebURL: u can be a button's or a link's target.
func isWebURL(u string) bool {
	return (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && len(u) <= 2000 &&
		!strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// --- Microsoft Teams (workflow webhook, Adaptive Card) ---

// teamsRun is an Adaptive Card TextRun: unlike a TextBlock or a Fact, it
// does not read Markdown, so event data cannot make links or formatting.
func teamsRun(text string, attrs ...string) map[string]any {
	r := map[string]any{"type": "TextRun", "text": text}
	for i := 0; i+1 < len(attrs); i += 2 {
		r[attrs[i]] = attrs[i+1]
	}
	return r
}

func teamsBlock(runs ...any) map[string]any {
	return map[string]any{"type": "RichTextBlock", "inlines": runs}
}

// teamsMaxBytes keeps a Teams message under the about 28 KB Teams
// accepts, with room for the workflow's own wrapping.
const teamsMaxBytes = 24 << 10

// teamsPayload is the body a Power Automate "post to a channel when a
// webhook request is received" workflow takes: a message with an Adaptive
// Card attachment. Teams refuses messages over about 28 KB: when event
// data makes the card bigger than teamsMaxBytes, its texts are cut
// shorter until it fits.
func teamsPayload(m Message) ([]byte, error) {
	for div := 1; ; div *= 2 {
		b, err := teamsCard(m, div)
		if err != nil || len(b) <= teamsMaxBytes || div >= 64 {
			return b, err
		}
	}
}

// teamsCard renders the card with every text's bound divided by div.
func teamsCard(m Message, div int) ([]byte, error) {
	a := m.Alert
	n := func(limit int) int { return max(limit/div, 8) }
	color := "Default"
	switch {
	case m.Kind == store.NotifyResolve:
		color = "Good"
	case a.Severity == "CRITICAL" || a.Severity == "HIGH":
		color = "Attention"
	case a.Severity == "MEDIUM":
		color = "Warning"
	}
	body := []any{teamsBlock(teamsRun(displayLine(headline(m), n(300)), "size", "Large", "weight", "Bolder", "color", color))}
	if m.Kind == KindTest {
		body = append(body, teamsBlock(teamsRun(testNotice, "isSubtle", "true")))
	}
	for _, f := range alertFacts(m) {
		body = append(body, teamsBlock(teamsRun(f.name+": ", "weight", "Bolder"), teamsRun(displayLine(f.value, n(300)))))
	}
	if d := displayText(a.Description, n(2000)); d != "" {
		body = append(body, teamsBlock(teamsRun(d)))
	}
	attrs := summaryAttrs(m)
	if len(attrs) > 20 {
		attrs = attrs[:20]
	}
	for _, at := range attrs {
		body = append(body, teamsBlock(teamsRun(displayLine(at.Name, n(100))+": ", "weight", "Bolder"), teamsRun(displayText(at.Value, n(300)))))
	}
	if c := contextText(a.Context, n(3000)); c != "" {
		body = append(body, teamsBlock(teamsRun("Alert context", "weight", "Bolder")), teamsBlock(teamsRun(c, "fontType", "Monospace")))
	}
	if r := displayText(a.Runbook, n(1000)); r != "" {
		body = append(body, teamsBlock(teamsRun("Runbook: ", "weight", "Bolder"), teamsRun(r)))
	}
	if r := displayLine(a.Reference, n(500)); r != "" {
		body = append(body, teamsBlock(teamsRun("Reference: ", "weight", "Bolder"), teamsRun(r)))
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"msteams": map[string]any{"width": "Full"},
		"body":    body,
	}
	if isWebURL(m.Link) {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "View alert", "url": m.Link}}
	}
	return marshalPayload(map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	})
}

// --- PagerDuty (Events API v2) ---

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"` // trigger or resolve
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"` // at most 1024 characters
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning or info
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pdSeverity maps opwatch's severities to PagerDuty's four.
func pdSeverity(s string) string {
	switch s {
	case "CRITICAL":
		return "critical"
	case "HIGH":
		return "error"
	case "MEDIUM":
		return "warning"
	case "LOW", "INFO":
		return "info"
	}
	return "error" // unknown: rather seen than missed
}

// pagerDutyPayload triggers an incident whose dedup_key is the alert's ID,
// so a retry or a second trigger joins it and the resolve closes it.
func pagerDutyPayload(m Message, routingKey string) ([]byte, error) {
	a := m.Alert
	e := pdEvent{RoutingKey: routingKey, EventAction: "trigger", DedupKey: a.ID}
	if m.Kind == store.NotifyResolve {
		e.EventAction = "resolve"
		return marshalPayload(e)
	}
	summary := "[" + a.Severity + "] " + headline(m)
	details := map[string]any{
		"alert_id": a.ID,
		"type":     a.Type,
		"severity": a.Severity,
		"status":   a.Status,
		"events":   a.Events,
	}
	if m.Kind == KindTest {
		details["test"] = testNotice
	}
	for k, v := range map[string]string{"rule_id": a.RuleID, "dedup": limitRunes(a.Dedup, maxDedup),
		"description": limitRunes(a.Description, maxLongText), "runbook": limitRunes(a.Runbook, maxLongText),
		"reference": limitRunes(a.Reference, 2000)} {
		if v != "" {
			details[k] = v
		}
	}
	if !a.FirstEventAt.IsZero() {
		details["first_event_at"] = a.FirstEventAt.UTC().Format(time.RFC3339Nano)
		details["last_event_at"] = a.LastEventAt.UTC().Format(time.RFC3339Nano)
	}
	if isJSONObject(a.Context) {
		if len(a.Context) <= maxPartContext {
			details["context"] = json.RawMessage(a.Context)
		} else {
			details["context"] = limitRunes(string(a.Context), maxPartContext/4) // too big: its start, as text
		}
	}
	if attrs := summaryAttrs(m); len(attrs) > 0 {
		sum := make(map[string]string, len(attrs))
		for _, at := range attrs {
			sum[limitRunes(at.Name, maxAttrName)] = limitRunes(at.Value, maxAttrValue)
		}
		details["summary"] = sum
	}
	e.Payload = &pdPayload{
		Summary:       displayLine(summary, 1024),
		Source:        "opwatch",
		Severity:      pdSeverity(a.Severity),
		Component:     limitRunes(a.RuleID, 255),
		Class:         a.Type,
		CustomDetails: details,
	}
	if !a.FirstEventAt.IsZero() {
		e.Payload.Timestamp = a.FirstEventAt.UTC().Format(time.RFC3339Nano)
	}
	e.Client = "opwatch"
	if isWebURL(m.Link) {
		e.ClientURL = m.Link
		e.Links = append(e.Links, pdLink{Href: m.Link, Text: "View alert in opwatch"})
	}
	if isWebURL(a.Reference) {
		e.Links = append(e.Links, pdLink{Href: a.Reference, Text: "Reference"})
	}
	return marshalPayload(e)
}

// --- Opsgenie (Alert API) ---

type ogCreate struct {
	Message     string            `json:"message"` // at most 130 characters
	Alias       string            `json:"alias"`   // the alert's ID: the close names it
	Description string            `json:"description,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"` // at most 8000 characters in all
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

type ogClose struct {
	User   string `json:"user"`
	Source string `json:"source"`
	Note   string `json:"note"`
}

// ogPriority maps opwatch's severities to Opsgenie's P1 (highest) to P5.
func ogPriority(s string) string {
	switch s {
	case "CRITICAL":
		return "P1"
	case "HIGH":
		return "P2"
	case "MEDIUM":
		return "P3"
	case "LOW":
		return "P4"
	case "INFO":
		return "P5"
	}
	return "P3"
}

// opsgeniePayload is the body of a create (trigger, test), or of a close by
// alias (resolve).
func opsgeniePayload(m Message) ([]byte, error) {
	a := m.Alert
	if m.Kind == store.NotifyResolve {
		return marshalPayload(ogClose{User: "opwatch", Source: "opwatch", Note: "Resolved in opwatch"})
	}
	var d strings.Builder
	if m.Kind == KindTest {
		d.WriteString(testNotice + "\n\n")
	}
	if a.Description != "" {
		d.WriteString(displayText(a.Description, 4000) + "\n\n")
	}
	if a.Runbook != "" {
		d.WriteString("Runbook: " + displayText(a.Runbook, 2000) + "\n")
	}
	if a.Reference != "" {
		d.WriteString("Reference: " + displayLine(a.Reference, 1000) + "\n")
	}
	if m.Link != "" {
		d.WriteString("View alert: " + displayLine(m.Link, 1000) + "\n")
	}
	if c := contextText(a.Context, 6000); c != "" {
		d.WriteString("\nAlert context:\n" + c + "\n")
	}
	p := ogCreate{
		Message:     displayLine(headline(m), 130),
		Alias:       a.ID,
		Description: limitRunes(strings.TrimSpace(d.String()), 15000),
		Tags:        []string{"opwatch", "severity:" + strings.ToLower(a.Severity), "type:" + a.Type},
		Entity:      limitRunes(a.RuleID, 512),
		Source:      "opwatch",
		Priority:    ogPriority(a.Severity),
	}
	if m.Kind == KindTest {
		p.Tags = append(p.Tags, "test")
	}
	for i, t := range p.Tags {
		p.Tags[i] = limitRunes(t, 50)
	}
	p.Details = ogDetails(m)
	return marshalPayload(p)
}

// ogDetails are the alert's facts and summary attributes, within
// Opsgenie's 8000 characters (keys and values together).
func ogDetails(m Message) map[string]string {
	out := map[string]string{}
	budget := 7000
	add := func(k, v string) {
		k, v = limitRunes(k, 100), limitRunes(v, 1000)
		if v == "" {
			return
		}
		if _, dup := out[k]; dup {
			return
		}
		n := utf8.RuneCountInString(k) + utf8.RuneCountInString(v)
		if n > budget {
			return
		}
		out[k] = v
		budget -= n
	}
	for _, f := range alertFacts(m) {
		add(strings.ToLower(strings.ReplaceAll(f.name, " ", "_")), f.value)
	}
	add("link", m.Link)
	add("dedup", m.Alert.Dedup)
	for _, at := range summaryAttrs(m) {
		add(at.Name, at.Value)
	}
	return out
}
