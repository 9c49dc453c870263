package onepassword

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// An untrusted certificate is a setup mistake: it is said plainly and not
// retried, and --insecure-skip-verify gets through.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		writePage(w, "c", false)
	}))
	defer srv.Close()
	c, sl := testClient(t, srv, nil)
	_, err := c.Fetch(context.Background(), SignInAttempts, Request{Limit: 10})
	if kind, _ := KindOf(err); kind != Unexpected || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("err = %v (kind %v); want a plain untrusted-certificate error", err, kind)
	}
	if n := len(sl.get()); n != 0 {
		t.Errorf("slept %d times: a certificate error was retried", n)
	}
	c, _ = testClient(t, srv, func(o *Options) { o.InsecureSkipVerify = true })
	if _, err := c.Fetch(context.Background(), SignInAttempts, Request{Limit: 10}); err != nil {
		t.Fatalf("with InsecureSkipVerify: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("server saw %d requests, want 1", hits.Load())
	}
}

// On first contact, a handshake that cannot succeed by retrying is said at
// once with its cause: an emulator's plain http reached with https made
// introspection retry until its deadline and say only "context deadline
// exceeded".
func TestTLSMismatchOnFirstContactFailsFast(t *testing.T) {
	plain := serve(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false) })
	plainHost := plain.Listener.Addr().String()

	// A server that speaks neither TLS nor HTTP.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			conn.Close()
		}
	}()
	junkHost := ln.Addr().String()

	// A TLS server that accepts only TLS 1.3, reached by a client that
	// offers at most 1.2.
	modern := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false) }))
	modern.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	modern.StartTLS()
	t.Cleanup(modern.Close)
	modernHost := modern.Listener.Addr().String()
	oldClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}}}

	tests := []struct {
		name, host string
		hc         *http.Client
		want       string
	}{
		{"plain http", plainHost, nil, plainHost + " does not speak TLS (is it plain http? give --base-url http://" + plainHost + ")"},
		{"not tls", junkHost, nil, junkHost + " does not speak TLS"},
		{"protocol version", modernHost, oldClient, modernHost + " refused the TLS handshake (protocol version not supported)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := &sleeps{}
			c, err := New(Options{Token: allFeaturesToken(t, tt.host), BaseURL: "https://" + tt.host, HTTPClient: tt.hc,
				Retry: RetryPolicy{MaxAttempts: 5, Sleep: sl.sleep}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Introspect(context.Background())
			if err == nil {
				t.Fatal("introspection succeeded")
			}
			if !strings.Contains(err.Error(), "cannot reach "+tt.host+" for introspect: "+tt.want) {
				t.Errorf("err = %v\nwant it to say %q", err, tt.want)
			}
			if n := len(sl.get()); n != 0 {
				t.Errorf("retried %d times before saying the handshake cannot succeed", n)
			}
		})
	}
}

// Once the server has answered, a failed handshake may be an outage of a
// load balancer in front of it: it is retried.
func TestTLSFailureAfterContactIsRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false) }))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	c, sl := testClient(t, srv, func(o *Options) { o.InsecureSkipVerify = true; o.Retry.MaxAttempts = 3 })
	if _, err := c.Fetch(context.Background(), SignInAttempts, Request{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	// The same address now serves plain http.
	srv.Close()
	ln, err := net.Listen("tcp", host)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", host, err)
	}
	plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go plain.Serve(ln)
	defer plain.Close()
	c.http.CloseIdleConnections()
	_, err = c.Fetch(context.Background(), SignInAttempts, Request{Cursor: "c"})
	if !Retryable(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v, want a retried network error", err)
	}
	if n := len(sl.get()); n != 2 {
		t.Errorf("%d waits between attempts, want 2", n)
	}
}
