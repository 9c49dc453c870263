package alert

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/store"
)

var updatePayloads = flag.Bool("update-payloads", false, "rewrite testdata/payloads from the current renderers")

// payloadClock is the fixed time of the payload tests.
var payloadClock = time.Date(2026, 9, 14, 10, 7, 30, 0, time.UTC)

// sampleMessage is a rule alert with every field set.
func sampleMessage(kind string) Message {
	return Message{
		Kind:           kind,
		IdempotencyKey: "ntf_01JCY3A8M2Q4",
		Alert: store.Alert{
			ID:           "alr_01JCY37ZK9T0",
			Type:         store.AlertRule,
			RuleID:       "OnePassword.Sensitive.Item.Accessed",
			Dedup:        "jane@example.com",
			Title:        "jane@example.com used the item Vault Root Key",
			Severity:     "HIGH",
			Status:       store.AlertOpen,
			Context:      json.RawMessage(`{"user":"jane@example.com","item":"Vault Root Key","ip":"203.0.113.7"}`),
			Description:  "A sensitive item was used. Items listed in sensitive_items are watched.",
			Reference:    "https://support.1password.com/events-reporting/",
			Runbook:      "Ask the user whether they meant to use the item; if not, rotate it.",
			Events:       3,
			FirstEventAt: time.Date(2026, 9, 14, 10, 6, 58, 0, time.UTC),
			LastEventAt:  time.Date(2026, 9, 14, 10, 7, 12, 0, time.UTC),
			CreatedAt:    time.Date(2026, 9, 14, 10, 7, 20, 0, time.UTC),
		},
		Summary: []Attribute{
			{Name: "p_any_ip_addresses", Value: `["203.0.113.7"]`},
			{Name: "p_any_emails", Value: `["jane@example.com"]`},
		},
		Link: "https://opwatch.example.com/alerts/alr_01JCY37ZK9T0",
	}
}

func sampleEmailSettings() Settings {
	return Settings{SMTPHost: "smtp.example.com", From: "opwatch <opwatch@example.com>", To: []string{"soc@example.com", "Jane Doe <jane@example.com>"}}
}

// TestPayloadGolden renders one message of each type and kind and compares
// it with testdata/payloads (go test -run TestPayloadGolden
// -update-payloads rewrites them; docs/alerts.md quotes them).
func TestPayloadGolden(t *testing.T) {
	resolved := sampleMessage(store.NotifyResolve)
	resolved.Alert.Status = store.AlertResolved
	cases := []struct {
		file   string
		render func() ([]byte, error)
	}{
		{"webhook.json", func() ([]byte, error) { return webhookPayload(sampleMessage(store.NotifyTrigger)) }},
		{"slack.json", func() ([]byte, error) { return slackPayload(sampleMessage(store.NotifyTrigger)) }},
		{"slack-test.json", func() ([]byte, error) { return slackPayload(sampleMessage(KindTest)) }},
		{"teams.json", func() ([]byte, error) { return teamsPayload(sampleMessage(store.NotifyTrigger)) }},
		{"pagerduty-trigger.json", func() ([]byte, error) {
			return pagerDutyPayload(sampleMessage(store.NotifyTrigger), "R0UT1NGKEY0000000000000000000000")
		}},
		{"pagerduty-resolve.json", func() ([]byte, error) {
			return pagerDutyPayload(resolved, "R0UT1NGKEY0000000000000000000000")
		}},
		{"opsgenie-create.json", func() ([]byte, error) { return opsgeniePayload(sampleMessage(store.NotifyTrigger)) }},
		{"opsgenie-close.json", func() ([]byte, error) { return opsgeniePayload(resolved) }},
		{"email.eml", func() ([]byte, error) {
			return emailMessage(sampleMessage(store.NotifyTrigger), sampleEmailSettings(), payloadClock, "opwatch-boundary-0000")
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(c.file, ".json") {
				if !json.Valid(got) {
					t.Fatalf("not JSON: %s", got)
				}
				var b bytes.Buffer
				if err := json.Indent(&b, got, "", "  "); err != nil {
					t.Fatal(err)
				}
				b.WriteByte('\n')
				got = b.Bytes()
			}
			path := filepath.Join("testdata", "payloads", c.file)
			if *updatePayloads {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-payloads to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (run with -update-payloads if the change is meant):\n%s", c.file, got)
			}
		})
	}
}

// hostile is event data written to break out of each medium.
const hostile = "<!channel> <https://evil.example|click> &amp; *bold* ```x``` \x1b[31mred\u202eevil\r\nBcc: victim@example.com\r\n\r\n.\r\n<script>alert(1)</script>"

func hostileMessage(kind string) Message {
	m := sampleMessage(kind)
	m.Alert.Title = hostile
	m.Alert.Dedup = hostile
	m.Alert.Description = hostile
	m.Alert.Context = json.RawMessage(`{"x":` + mustJSON(hostile) + `}`)
	m.Summary = []Attribute{{Name: hostile, Value: hostile}}
	return m
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestSlackEscapesEventData(t *testing.T) {
	b, err := slackPayload(hostileMessage(store.NotifyTrigger))
	if err != nil {
		t.Fatal(err)
	}
	checkSlack(t, b)
	if !strings.Contains(string(b), "&lt;!channel&gt;") {
		t.Errorf("the mention was not escaped but dropped or kept: %s", b)
	}
}

// checkSlack checks a Slack payload: Block Kit's limits hold, and no
// mrkdwn text holds a raw < or > (a link, a mention) or a control.
func checkSlack(t *testing.T, b []byte) {
	t.Helper()
	var p struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("slack payload: %v", err)
	}
	if len(p.Blocks) > 50 {
		t.Errorf("%d blocks, Slack takes 50", len(p.Blocks))
	}
	checkMrkdwn := func(where string, v any, limit int) {
		o, _ := v.(map[string]any)
		s, _ := o["text"].(string)
		if o["type"] == "mrkdwn" && o["verbatim"] != true {
			t.Errorf("%s: mrkdwn without verbatim", where)
		}
		if strings.ContainsAny(s, "<>\x1b\r\u202e") {
			t.Errorf("%s: unescaped text %q", where, s)
		}
		if n := utf8.RuneCountInString(s); n > limit {
			t.Errorf("%s: %d characters, limit %d", where, n, limit)
		}
	}
	if strings.ContainsAny(p.Text, "<>") {
		t.Errorf("text: unescaped %q", p.Text)
	}
	for i, bl := range p.Blocks {
		switch bl["type"] {
		case "header":
			txt := bl["text"].(map[string]any)["text"].(string)
			if n := utf8.RuneCountInString(txt); n > 150 || strings.ContainsAny(txt, "\r\n\x1b") {
				t.Errorf("header %q: %d characters or a control", txt, n)
			}
		case "section":
			if tx, ok := bl["text"]; ok {
				checkMrkdwn("section", tx, 3000)
			}
			if fs, ok := bl["fields"].([]any); ok {
				if len(fs) > 10 {
					t.Errorf("block %d: %d fields", i, len(fs))
				}
				for _, f := range fs {
					checkMrkdwn("field", f, 2000)
				}
			}
		case "context":
			for _, e := range bl["elements"].([]any) {
				checkMrkdwn("context", e, 3000)
			}
		}
	}
}

func TestTeamsShowsEventDataAsPlainText(t *testing.T) {
	b, err := teamsPayload(hostileMessage(store.NotifyTrigger))
	if err != nil {
		t.Fatal(err)
	}
	checkTeams(t, b)
}

// checkTeams checks a Teams payload: the workflow's message shape, and
// every text in a TextRun (which reads no Markdown), free of controls.
func checkTeams(t *testing.T, b []byte) {
	t.Helper()
	var p struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type    string `json:"type"`
					Inlines []struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"inlines"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("teams payload: %v", err)
	}
	if p.Type != "message" || len(p.Attachments) != 1 || p.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || p.Attachments[0].Content.Type != "AdaptiveCard" {
		t.Fatalf("not a workflow message with one Adaptive Card: %s", b)
	}
	for _, bl := range p.Attachments[0].Content.Body {
		if bl.Type != "RichTextBlock" {
			t.Errorf("block type %s: Markdown would be read", bl.Type)
		}
		for _, in := range bl.Inlines {
			if in.Type != "TextRun" || strings.ContainsAny(in.Text, "\x1b\r\u202e") {
				t.Errorf("inline %s %q", in.Type, in.Text)
			}
		}
	}
	if len(b) > 28<<10 {
		t.Errorf("teams payload is %d bytes, Teams takes about 28 KB", len(b))
	}
}

func TestEmailResistsHeaderInjection(t *testing.T) {
	raw, err := emailMessage(hostileMessage(store.NotifyTrigger), sampleEmailSettings(), payloadClock, "")
	if err != nil {
		t.Fatal(err)
	}
	parts := checkEmail(t, raw)
	if !strings.Contains(parts["text/html"], "&lt;script&gt;") || strings.Contains(parts["text/html"], "<script>") {
		t.Errorf("HTML part does not escape the title:\n%s", parts["text/html"])
	}
}

// emailHeaders are the headers every e-mail has, and only they.
var emailHeaders = []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "References", "Subject", "To", "X-Opwatch-Alert-Id", "X-Opwatch-Kind"}

// checkEmail parses an e-mail as a mail client would and returns its
// parts by type: it must have exactly the expected headers (no injected
// one), lines within 998 bytes, and two parts free of controls.
func checkEmail(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	for i, l := range bytes.Split(raw, []byte("\r\n")) {
		if len(l) > 998 {
			t.Errorf("line %d is %d bytes", i, len(l))
		}
		if bytes.ContainsAny(l, "\r\n") {
			t.Errorf("line %d holds a bare CR or LF", i)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a mail message: %v", err)
	}
	var keys []string
	for k := range msg.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, emailHeaders) {
		t.Errorf("headers %v, want %v", keys, emailHeaders)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || strings.ContainsAny(subject, "\r\n\x1b\u202e") {
		t.Errorf("subject %q: %v", subject, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %s: %v", mt, err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatalf("part body: %v", err)
		}
		if !utf8.Valid(b) || bytes.ContainsAny(b, "\x1b\u202e\x00") {
			t.Errorf("part holds a control or invalid UTF-8")
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	if len(parts) != 2 || parts["text/plain"] == "" || parts["text/html"] == "" {
		t.Errorf("parts %d (%v), want text/plain and text/html", len(parts), slices.Collect(maps.Keys(parts)))
	}
	return parts
}

func TestTestMessagesSayTheyAreTests(t *testing.T) {
	m := sampleMessage(KindTest)
	for name, render := range map[string]func() ([]byte, error){
		"webhook":   func() ([]byte, error) { return webhookPayload(m) },
		"slack":     func() ([]byte, error) { return slackPayload(m) },
		"teams":     func() ([]byte, error) { return teamsPayload(m) },
		"pagerduty": func() ([]byte, error) { return pagerDutyPayload(m, "k") },
		"opsgenie":  func() ([]byte, error) { return opsgeniePayload(m) },
		"email": func() ([]byte, error) {
			return emailMessage(m, sampleEmailSettings(), payloadClock, "b")
		},
	} {
		b, err := render()
		if err != nil {
			t.Fatal(err)
		}
		// The e-mail's parts are quoted-printable: the notice may be broken
		// across soft line breaks, the subject is plain.
		if !strings.Contains(string(b), "[TEST]") || (name != "email" && !strings.Contains(string(b), "test message")) {
			t.Errorf("%s: a test message that does not say so: %s", name, b)
		}
	}
}

// TestPayloadBounds feeds huge event data and checks each medium's limits.
func TestPayloadBounds(t *testing.T) {
	m := sampleMessage(store.NotifyTrigger)
	huge := strings.Repeat("\U0001D518\U0001D518é<&>\x1b", 30_000)
	m.Alert.Title, m.Alert.Description, m.Alert.Runbook, m.Alert.Dedup, m.Alert.Reference = huge, huge, huge, huge, huge
	m.Alert.Context = json.RawMessage(`{"big":` + mustJSON(strings.Repeat("\U0001D518", 45_000)) + `}`)
	for i := range 100 {
		m.Summary = append(m.Summary, Attribute{Name: huge[:1000] + string(rune('a'+i%26)), Value: huge})
	}
	b, err := slackPayload(m)
	if err != nil {
		t.Fatal(err)
	}
	checkSlack(t, b)
	if b, err = teamsPayload(m); err != nil {
		t.Fatal(err)
	}
	checkTeams(t, b)

	if b, err = pagerDutyPayload(m, "k"); err != nil {
		t.Fatal(err)
	}
	var pd pdEvent
	if err := json.Unmarshal(b, &pd); err != nil || utf8.RuneCountInString(pd.Payload.Summary) > 1024 || len(b) > 512<<10 {
		t.Errorf("pagerduty: summary %d characters, body %d bytes, %v", utf8.RuneCountInString(pd.Payload.Summary), len(b), err)
	}

	if b, err = opsgeniePayload(m); err != nil {
		t.Fatal(err)
	}
	var og ogCreate
	if err := json.Unmarshal(b, &og); err != nil {
		t.Fatal(err)
	}
	details := 0
	for k, v := range og.Details {
		details += utf8.RuneCountInString(k) + utf8.RuneCountInString(v)
	}
	if utf8.RuneCountInString(og.Message) > 130 || utf8.RuneCountInString(og.Description) > 15000 || details > 8000 || len(og.Tags) > 20 {
		t.Errorf("opsgenie: message %d, description %d, details %d characters, %d tags", utf8.RuneCountInString(og.Message), utf8.RuneCountInString(og.Description), details, len(og.Tags))
	}

	if b, err = webhookPayload(m); err != nil {
		t.Fatal(err)
	}
	if len(b) > 2<<20 {
		t.Errorf("webhook body %d bytes", len(b))
	}
	if b, err = emailMessage(m, sampleEmailSettings(), payloadClock, ""); err != nil {
		t.Fatal(err)
	}
	checkEmail(t, b)
}

func TestWebhookContextTooBigOrNotAnObject(t *testing.T) {
	for _, ctx := range []string{"", "[1]", "{bad", `{"x":` + mustJSON(strings.Repeat("y", maxRawContext)) + `}`} {
		m := sampleMessage(store.NotifyTrigger)
		m.Alert.Context = json.RawMessage(ctx)
		b, err := webhookPayload(m)
		if err != nil {
			t.Fatal(err)
		}
		var p WebhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if string(p.Context) != "null" || p.ContextTruncated != (len(ctx) > maxRawContext) {
			t.Errorf("context %.20q: got %.40s truncated=%v", ctx, p.Context, p.ContextTruncated)
		}
	}
}

func TestLimitRunes(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"ééé", 3, "ééé"},
		{"éééé", 3, "éé…"},
		{"a\xffb", 5, "a\uFFFDb"},
	} {
		if got := limitRunes(c.in, c.n); got != c.want {
			t.Errorf("limitRunes(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// FuzzPayloads: whatever the events write, every payload is valid JSON
// within its medium's rules, and the e-mail a valid MIME message with its
// own headers only.
func FuzzPayloads(f *testing.F) {
	f.Add("title", `{"a":1}`, "name", "value", "description")
	f.Add(hostile, `{"x":"`+"\u202e"+`"}`, "\r\nBcc: x@y", "<!here>", "\x00\xff")
	f.Add("=?utf-8?q?=0D=0ABcc:_x?=", "{}", "", "", "")
	f.Add(strings.Repeat("€", 300), "{", "a", strings.Repeat("\n", 100), ".\r\n.")
	f.Fuzz(func(t *testing.T, title, ctx, name, value, desc string) {
		for _, kind := range []string{store.NotifyTrigger, store.NotifyResolve, KindTest} {
			m := sampleMessage(kind)
			m.Alert.Title, m.Alert.Description, m.Alert.Dedup = title, desc, title
			m.Alert.Context = json.RawMessage(ctx)
			m.Summary = []Attribute{{Name: name, Value: value}}
			for typ, render := range map[string]func() ([]byte, error){
				"webhook":   func() ([]byte, error) { return webhookPayload(m) },
				"slack":     func() ([]byte, error) { return slackPayload(m) },
				"teams":     func() ([]byte, error) { return teamsPayload(m) },
				"pagerduty": func() ([]byte, error) { return pagerDutyPayload(m, "k") },
				"opsgenie":  func() ([]byte, error) { return opsgeniePayload(m) },
			} {
				b, err := render()
				if err != nil {
					t.Fatalf("%s %s: %v", typ, kind, err)
				}
				if !json.Valid(b) {
					t.Fatalf("%s %s: not JSON: %q", typ, kind, b)
				}
				switch typ {
				case "slack":
					checkSlack(t, b)
				case "teams":
					checkTeams(t, b)
				}
			}
			b, err := emailMessage(m, sampleEmailSettings(), payloadClock, "")
			if err != nil {
				t.Fatalf("email %s: %v", kind, err)
			}
			checkEmail(t, b)
		}
	})
}
