package onepassword

import (
	"context"
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
