package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"

	"github.com/opwatch/opwatch/internal/safetext"
)

// sendMail delivers m to an e-mail destination in one SMTP session:
// STARTTLS unless the mode is "tls" (implicit) or "none" (loopback only,
// checked by Validate), AUTH PLAIN when a username is set, then one
// message to every recipient. A 4xx reply is retried, a 5xx one is final.
func (s *HTTPSender) sendMail(ctx context.Context, t Target, m Message) Result {
	st := t.Settings
	msg, err := emailMessage(m, st, s.now(), "")
	if err != nil {
		return Result{Err: fmt.Errorf("render the e-mail: %w", err), Permanent: true}
	}
	from, _ := parseMailAddress(st.From) // Validate checked them
	var rcpts []string
	for _, a := range st.To {
		r, _ := parseMailAddress(a)
		rcpts = append(rcpts, r.Address)
	}
	addr := smtpAddr(st)
	conf := &tls.Config{ServerName: st.SMTPHost, RootCAs: s.RootCAs, InsecureSkipVerify: st.InsecureSkipVerify, MinVersion: tls.VersionTLS12}

	fail := func(step string, err error) Result {
		return smtpResult(ctx, step, addr, err, t)
	}
	var conn net.Conn
	if st.TLS == SMTPTLS {
		conn, err = (&tls.Dialer{Config: conf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fail("connect", err)
	}
	// net/smtp has no context: the deadline and a cancel end the
	// connection instead.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, st.SMTPHost)
	if err != nil {
		conn.Close()
		return fail("greeting", err)
	}
	defer c.Close()
	if st.TLS == "" || st.TLS == SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return Result{Permanent: true, Err: &sendError{msg: fmt.Sprintf("SMTP server %s does not offer STARTTLS, which opwatch requires: use tls (port 465) if it speaks implicit TLS", addr)}}
		}
		if err := c.StartTLS(conf); err != nil {
			return fail("STARTTLS", err)
		}
	}
	if st.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return Result{Permanent: true, Err: &sendError{msg: fmt.Sprintf("SMTP server %s does not offer AUTH, but a username is set: remove the username, or use the server's submission port", addr)}}
		}
		if err := c.Auth(smtp.PlainAuth("", st.Username, t.Secret.Password, st.SMTPHost)); err != nil {
			return fail("AUTH", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fail("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fail("RCPT TO "+r, err)
		}
	}
	// DATA by hand rather than c.Data, to keep the server's final reply
	// (its queue ID): what `destinations test` shows.
	id, err := c.Text.Cmd("DATA")
	if err != nil {
		return fail("DATA", err)
	}
	c.Text.StartResponse(id)
	_, _, err = c.Text.ReadResponse(354)
	c.Text.EndResponse(id)
	if err != nil {
		return fail("DATA", err)
	}
	w := c.Text.DotWriter()
	if _, err := w.Write(msg); err != nil {
		return fail("message", err)
	}
	if err := w.Close(); err != nil {
		return fail("message", err)
	}
	code, reply, err := c.Text.ReadResponse(250)
	if err != nil {
		return fail("message", err)
	}
	_ = c.Quit() // delivered: a failing QUIT changes nothing
	return Result{Answer: cleanAnswer(fmt.Sprintf("%d %s", code, reply), t)}
}

// smtpResult is a failed SMTP step: a reply of the server is final when
// 5xx and retried when 4xx; a connection or TLS failure is retried.
func smtpResult(ctx context.Context, step, addr string, err error, t Target) Result {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		answer := cleanAnswer(fmt.Sprintf("%d %s", tp.Code, tp.Msg), t)
		r := Result{Answer: answer, Permanent: tp.Code >= 500}
		what := "retried"
		if r.Permanent {
			what = "refused for good"
			if step == "AUTH" {
				what += ": check the username and password"
			}
		}
		r.Err = &sendError{msg: fmt.Sprintf("SMTP server %s at %s: %s (%s)", addr, step, answer, what)}
		return r
	}
	var msg string
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg = fmt.Sprintf("no answer from SMTP server %s in time at %s; retried", addr, step)
	case ctx.Err() != nil:
		msg = fmt.Sprintf("sending to SMTP server %s was interrupted at %s: %s", addr, step, ctx.Err())
	default:
		msg = fmt.Sprintf("SMTP server %s at %s: %s; retried", addr, step, strings.TrimSpace(err.Error()))
	}
	return Result{Err: &sendError{msg: safetext.Terminal(redactSecrets(msg, t)), cause: contextCause(ctx, err)}}
}
