package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/store"
)

// emailView is what the two parts of an e-mail show, every text already
// made safe to display (controls and bidi characters escaped) and bounded.
type emailView struct {
	Test         bool
	TestNotice   string
	Headline     string
	Color        string
	Facts        []Attribute
	Description  string
	Summary      []Attribute
	Context      string
	Runbook      string
	Reference    string
	ReferenceURL string
	Link         string
	Dedup        string
}

func newEmailView(m Message) emailView {
	a := m.Alert
	v := emailView{
		Test:        m.Kind == KindTest,
		TestNotice:  testNotice,
		Headline:    displayLine(headline(m), 1000),
		Color:       "#222222",
		Description: displayText(a.Description, maxLongText),
		Context:     contextText(a.Context, 20000),
		Runbook:     displayText(a.Runbook, maxLongText),
		Reference:   displayLine(a.Reference, 2000),
		Dedup:       displayLine(a.Dedup, 300),
	}
	switch {
	case m.Kind == store.NotifyResolve:
		v.Color = "#2e7d32"
	case a.Severity == "CRITICAL" || a.Severity == "HIGH":
		v.Color = "#c62828"
	case a.Severity == "MEDIUM":
		v.Color = "#ef6c00"
	}
	for _, f := range alertFacts(m) {
		v.Facts = append(v.Facts, Attribute{Name: f.name, Value: displayLine(f.value, 300)})
	}
	for _, at := range summaryAttrs(m) {
		v.Summary = append(v.Summary, Attribute{Name: displayLine(at.Name, maxAttrName), Value: displayText(at.Value, maxAttrValue)})
	}
	if isWebURL(a.Reference) {
		v.ReferenceURL = a.Reference
	}
	if isWebURL(m.Link) {
		v.Link = m.Link
	}
	return v
}

// emailHTML is the HTML part. html/template escapes every value for its
// place (text, attribute, URL); inline styles because mail clients drop
// style sheets.
var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Headline}}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px; color: #222222;">
{{- if .Test}}
<p style="background: #e8eaf6; padding: 8px;">{{.TestNotice}}</p>
{{- end}}
<h2 style="margin: 0 0 12px 0; color: {{.Color}};">{{.Headline}}</h2>
<table cellpadding="4" style="border-collapse: collapse;">
{{- range .Facts}}
<tr><th align="left" style="color: #555555; font-weight: normal;">{{.Name}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- if .Description}}
<p style="white-space: pre-wrap;">{{.Description}}</p>
{{- end}}
{{- if .Summary}}
<h3>Summary</h3>
<table cellpadding="4" style="border-collapse: collapse;">
{{- range .Summary}}
<tr><th align="left" style="color: #555555; font-weight: normal;">{{.Name}}</th><td style="white-space: pre-wrap;">{{.Value}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Context}}
<h3>Alert context</h3>
<pre style="background: #f5f5f5; padding: 8px; white-space: pre-wrap;">{{.Context}}</pre>
{{- end}}
{{- if .Runbook}}
<h3>Runbook</h3>
<p style="white-space: pre-wrap;">{{.Runbook}}</p>
{{- end}}
{{- if .Reference}}
<p>Reference: {{if .ReferenceURL}}<a href="{{.ReferenceURL}}">{{.Reference}}</a>{{else}}{{.Reference}}{{end}}</p>
{{- end}}
{{- if .Link}}
<p><a href="{{.Link}}">View the alert in opwatch</a></p>
{{- end}}
<p style="color: #888888; font-size: 12px;">Sent by opwatch{{if .Dedup}} · dedup {{.Dedup}}{{end}}</p>
</body></html>
`))

// emailText is the plain-text part.
func emailText(v emailView) string {
	var b strings.Builder
	if v.Test {
		b.WriteString(v.TestNotice + "\n\n")
	}
	b.WriteString(v.Headline + "\n\n")
	for _, f := range v.Facts {
		fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
	}
	if v.Description != "" {
		b.WriteString("\n" + v.Description + "\n")
	}
	if len(v.Summary) > 0 {
		b.WriteString("\nSummary:\n")
		for _, at := range v.Summary {
			fmt.Fprintf(&b, "  %s: %s\n", at.Name, at.Value)
		}
	}
	if v.Context != "" {
		b.WriteString("\nAlert context:\n" + v.Context + "\n")
	}
	if v.Runbook != "" {
		b.WriteString("\nRunbook:\n" + v.Runbook + "\n")
	}
	if v.Reference != "" {
		b.WriteString("\nReference: " + v.Reference + "\n")
	}
	if v.Link != "" {
		b.WriteString("\nView the alert: " + v.Link + "\n")
	}
	b.WriteString("\n-- \nSent by opwatch")
	if v.Dedup != "" {
		b.WriteString(" · dedup " + v.Dedup)
	}
	b.WriteString("\n")
	return b.String()
}

// emailMessage is m as an RFC 5322 message from s.From to s.To: a
// multipart/alternative of a plain-text and an HTML part, both
// quoted-printable, so no line is too long and no data line can end the
// message or a part. Only the Subject carries event data among the
// headers; it is made one line and RFC 2047 encoded. boundary "" picks a
// random one (tests fix it).
func emailMessage(m Message, s Settings, now time.Time, boundary string) ([]byte, error) {
	from, err := parseMailAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to := make([]string, 0, len(s.To))
	for _, r := range s.To {
		a, err := parseMailAddress(r)
		if err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
		to = append(to, a.String())
	}
	v := newEmailView(m)
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, v); err != nil {
		return nil, fmt.Errorf("render the e-mail: %w", err)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if boundary != "" {
		if err := mw.SetBoundary(boundary); err != nil {
			return nil, err
		}
	}
	for _, p := range []struct{ typ, text string }{{"text/plain", emailText(v)}, {"text/html", html.String()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQuotedPrintable(w, p.text); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	subject := displayLine("[opwatch] ["+m.Alert.Severity+"] "+headline(m), 250)
	var msg bytes.Buffer
	hdr := func(k, v string) { msg.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", encodeHeaderText(subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+messageIDPart(m.IdempotencyKey)+"@opwatch>")
	// Every message of one alert names the same parent, so mail clients
	// thread the trigger and the resolve.
	hdr("References", "<"+messageIDPart(m.Alert.ID)+".alert@opwatch>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-Opwatch-Alert-Id", messageIDPart(m.Alert.ID))
	hdr("X-Opwatch-Kind", messageIDPart(m.Kind))
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

func writeQuotedPrintable(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}

// encodeHeaderText makes s (one line, already displayLine'd) a header
// value: plain when it is printable ASCII, else RFC 2047 encoded words
// of at most 45 bytes each, one a line. Text that looks like an encoded
// word is encoded too, so a reader decodes exactly what was written.
func encodeHeaderText(s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= 0x20 && s[i] <= 0x7e
	}
	if plain {
		return s
	}
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > 45 {
				break
			}
			n += size
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

// messageIDPart is id when it is safe in a Message-ID (letters, digits,
// "._-"), else a hash of it.
func messageIDPart(id string) string {
	ok := id != "" && len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '_' || c == '-'
	}
	if ok {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:16])
}
