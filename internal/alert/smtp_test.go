package alert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// smtpServer is a local SMTP server, speaking enough of RFC 5321 for the
// sender: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, QUIT.
type smtpServer struct {
	ln   net.Listener
	conf *tls.Config
	pool *x509.CertPool
	// implicit: TLS from the first byte (port 465 style).
	implicit bool
	// noStartTLS: do not offer STARTTLS.
	noStartTLS bool
	user, pass string
	// fail maps a command (MAIL, RCPT, DATA, "." for the end of data) to
	// the reply it gets instead of success.
	fail map[string]string

	mu    sync.Mutex
	mails []smtpMail
	log   []string // commands in order, with AUTH's argument left out
	wg    sync.WaitGroup
}

type smtpMail struct {
	From   string
	To     []string
	Data   string
	TLS    bool
	Authed bool
}

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and a
// pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "opwatch test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func newSMTPServer(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	cert, pool := testCert(t)
	s := &smtpServer{conf: &tls.Config{Certificates: []tls.Certificate{cert}}, pool: pool, fail: map[string]string{}}
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.implicit {
		ln = tls.NewListener(ln, s.conf)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) record(cmd string) {
	s.mu.Lock()
	s.log = append(s.log, cmd)
	s.mu.Unlock()
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute)) // a broken test ends, it does not hang
	_, isTLS := c.(*tls.Conn)
	tp := textproto.NewConn(c)
	authed := false
	var cur *smtpMail
	reply := func(l string) { _ = tp.PrintfLine("%s", l) }
	reply("220 localhost ESMTP opwatch-test")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb == "AUTH" {
			s.record("AUTH")
		} else {
			s.record(line)
		}
		if f, ok := s.fail[verb]; ok {
			reply(f)
			continue
		}
		switch verb {
		case "EHLO", "HELO":
			ext := []string{"250-localhost"}
			if !isTLS && !s.noStartTLS {
				ext = append(ext, "250-STARTTLS")
			}
			if isTLS && s.user != "" {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 8BITMIME")
			reply(strings.Join(ext, "\r\n"))
		case "STARTTLS":
			reply("220 go ahead")
			tc := tls.Server(c, s.conf)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS, authed, cur = tc, true, false, nil
			tp = textproto.NewConn(c)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			if strings.ToUpper(mech) != "PLAIN" || err != nil || string(b) != "\x00"+s.user+"\x00"+s.pass {
				reply("535 5.7.8 authentication failed")
				continue
			}
			authed = true
			reply("235 2.7.0 accepted")
		case "MAIL":
			if !isTLS && !s.noStartTLS {
				reply("530 5.7.0 must issue STARTTLS first")
				continue
			}
			if s.user != "" && !authed {
				reply("530 5.7.0 authentication required")
				continue
			}
			cur = &smtpMail{From: addrOf(arg), TLS: isTLS, Authed: authed}
			reply("250 2.1.0 ok")
		case "RCPT":
			if cur == nil {
				reply("503 5.5.1 MAIL first")
				continue
			}
			cur.To = append(cur.To, addrOf(arg))
			reply("250 2.1.5 ok")
		case "DATA":
			if cur == nil || len(cur.To) == 0 {
				reply("503 5.5.1 RCPT first")
				continue
			}
			reply("354 end with .")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			if f, ok := s.fail["."]; ok {
				reply(f)
				continue
			}
			cur.Data = string(b)
			s.mu.Lock()
			s.mails = append(s.mails, *cur)
			n := len(s.mails)
			s.mu.Unlock()
			cur = nil
			reply("250 2.0.0 Ok: queued as Q" + strconv.Itoa(n))
		case "RSET":
			cur = nil
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 5.5.2 command not recognized")
		}
	}
}

// addrOf is the address of "FROM:<a@b> BODY=8BITMIME".
func addrOf(arg string) string {
	_, a, _ := strings.Cut(arg, "<")
	a, _, _ = strings.Cut(a, ">")
	return a
}

func (s *smtpServer) received() []smtpMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMail(nil), s.mails...)
}

func (s *smtpServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func emailTarget(port int) Target {
	return Target{
		Destination: dest(store.DestEmail),
		Settings: Settings{SMTPHost: "127.0.0.1", SMTPPort: port, Username: "opwatch", From: "opwatch <opwatch@example.com>",
			To: []string{"soc@example.com", "Jane <jane@example.com>"}},
		Secret: Secret{Password: "smtp-s3cr3t-pass"},
	}
}

func smtpSender(srv *smtpServer) *HTTPSender {
	return &HTTPSender{RootCAs: srv.pool, Now: func() time.Time { return payloadClock }}
}

func TestSendMailStartTLS(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.user, s.pass = "opwatch", "smtp-s3cr3t-pass" })
	m := sampleMessage(store.NotifyTrigger)
	res := smtpSender(srv).Send(context.Background(), emailTarget(srv.port()), m)
	if res.Err != nil {
		t.Fatalf("send: %v", res.Err)
	}
	if res.Answer != "250 2.0.0 Ok: queued as Q1" {
		t.Errorf("answer %q, want the server's final reply", res.Answer)
	}
	mails := srv.received()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	got := mails[0]
	if !got.TLS || !got.Authed || got.From != "opwatch@example.com" || strings.Join(got.To, ",") != "soc@example.com,jane@example.com" {
		t.Errorf("mail %+v", got)
	}
	parts := checkEmail(t, []byte(strings.ReplaceAll(got.Data, "\n", "\r\n")))
	if !strings.Contains(parts["text/plain"], m.Alert.Title) || !strings.Contains(parts["text/html"], "<h2") || !strings.Contains(parts["text/html"], m.Link) {
		t.Errorf("parts:\n%s\n%s", parts["text/plain"], parts["text/html"])
	}
	if !strings.Contains(got.Data, "Message-ID: <"+m.IdempotencyKey+"@opwatch>") {
		t.Errorf("no Message-ID from the idempotency key:\n%.400s", got.Data)
	}
	cmds := strings.Join(srv.commands(), "|")
	if !strings.HasPrefix(cmds, "EHLO localhost|STARTTLS|EHLO localhost|AUTH|MAIL FROM:<opwatch@example.com>") {
		t.Errorf("commands %s", cmds)
	}
}

func TestSendMailImplicitTLS(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.implicit = true })
	tg := emailTarget(srv.port())
	tg.Settings.TLS, tg.Settings.Username, tg.Secret.Password = SMTPTLS, "", ""
	if res := smtpSender(srv).Send(context.Background(), tg, sampleMessage(store.NotifyTrigger)); res.Err != nil {
		t.Fatalf("send: %v", res.Err)
	}
	if m := srv.received(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("mails %+v", m)
	}
}

func TestSendMailPlainLoopback(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.noStartTLS = true })
	tg := emailTarget(srv.port())
	tg.Settings.TLS, tg.Settings.Username, tg.Secret.Password = SMTPNoTLS, "", ""
	if res := smtpSender(srv).Send(context.Background(), tg, sampleMessage(store.NotifyTrigger)); res.Err != nil {
		t.Fatalf("send: %v", res.Err)
	}
	if m := srv.received(); len(m) != 1 || m[0].TLS {
		t.Fatalf("mails %+v", m)
	}
}

func TestSendMailRefusesWithoutStartTLS(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.noStartTLS = true; s.user, s.pass = "opwatch", "smtp-s3cr3t-pass" })
	res := smtpSender(srv).Send(context.Background(), emailTarget(srv.port()), sampleMessage(store.NotifyTrigger))
	if res.Err == nil || !res.Permanent || !strings.Contains(res.Err.Error(), "STARTTLS") || len(srv.received()) != 0 {
		t.Fatalf("%+v", res)
	}
	for _, c := range srv.commands() {
		if c == "AUTH" {
			t.Fatal("the password was sent over a plain connection")
		}
	}
}

func TestSendMailUntrustedCertificate(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.user, s.pass = "opwatch", "smtp-s3cr3t-pass" })
	s := smtpSender(srv)
	s.RootCAs = x509.NewCertPool() // trusts nothing
	res := s.Send(context.Background(), emailTarget(srv.port()), sampleMessage(store.NotifyTrigger))
	if res.Err == nil || res.Permanent || len(srv.received()) != 0 || !strings.Contains(res.Err.Error(), "STARTTLS") {
		t.Fatalf("%+v", res)
	}
	tg := emailTarget(srv.port())
	tg.Settings.InsecureSkipVerify = true
	if res := s.Send(context.Background(), tg, sampleMessage(store.NotifyTrigger)); res.Err != nil {
		t.Fatalf("insecure_skip_verify: %v", res.Err)
	}
}

func TestSendMailClassifies(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*smtpServer)
		permanent bool
		answer    string
	}{
		{"bad password", func(s *smtpServer) { s.user, s.pass = "opwatch", "other" }, true, "535 5.7.8 authentication failed"},
		{"mailbox unknown", func(s *smtpServer) { s.fail["RCPT"] = "550 5.1.1 user unknown" }, true, "550 5.1.1 user unknown"},
		{"greylisted", func(s *smtpServer) { s.fail["RCPT"] = "451 4.7.1 greylisted, try again" }, false, "451 4.7.1 greylisted, try again"},
		{"sender refused", func(s *smtpServer) { s.fail["MAIL"] = "553 5.7.1 sender not allowed" }, true, "553 5.7.1 sender not allowed"},
		{"queue full", func(s *smtpServer) { s.fail["."] = "452 4.3.1 insufficient storage" }, false, "452 4.3.1 insufficient storage"},
		{"message refused", func(s *smtpServer) { s.fail["."] = "554 5.7.1 spam" }, true, "554 5.7.1 spam"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newSMTPServer(t, func(s *smtpServer) {
				s.user, s.pass = "opwatch", "smtp-s3cr3t-pass"
				c.configure(s)
			})
			res := smtpSender(srv).Send(context.Background(), emailTarget(srv.port()), sampleMessage(store.NotifyTrigger))
			if res.Err == nil || res.Permanent != c.permanent || res.Answer != c.answer || res.Status != 0 {
				t.Fatalf("got %+v (err %v), want permanent %v answer %q", res, res.Err, c.permanent, c.answer)
			}
			if strings.Contains(res.Err.Error(), "smtp-s3cr3t-pass") || len(srv.received()) != 0 {
				t.Fatalf("error %v, %d mails", res.Err, len(srv.received()))
			}
		})
	}
}

func TestSendMailUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tg := emailTarget(port)
	res := (&HTTPSender{}).Send(context.Background(), tg, sampleMessage(store.NotifyTrigger))
	if res.Err == nil || res.Permanent || !strings.Contains(res.Err.Error(), "connect") {
		t.Fatalf("%+v", res)
	}
}

// TestSendMailInterrupted: a server that greets and then says nothing
// holds the attempt only until the context ends.
func TestSendMailInterrupted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	tg := emailTarget(ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- (&HTTPSender{}).Send(ctx, tg, sampleMessage(store.NotifyTrigger)) }()
	c := <-accepted
	defer c.Close()
	cancel()
	res := <-done
	if res.Err == nil || res.Permanent || !strings.Contains(res.Err.Error(), "interrupted") {
		t.Fatalf("%+v", res)
	}
}
