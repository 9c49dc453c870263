package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opwatch/opwatch/internal/metrics"
	"github.com/opwatch/opwatch/internal/metrics/metricstest"
	"github.com/opwatch/opwatch/internal/store"
)

// fakeSchema answers SchemaVersion as told; block makes it wait for ctx.
type fakeSchema struct {
	current, latest int
	err             error
	block           bool
}

func (f *fakeSchema) SchemaVersion(ctx context.Context) (int, int, error) {
	if f.block {
		<-ctx.Done()
		return 0, 0, ctx.Err()
	}
	return f.current, f.latest, f.err
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHealthz(t *testing.T) {
	// Up even when the store is not: liveness says only that the process runs.
	h := NewHandler(Config{Store: &fakeSchema{err: errors.New("down")}})
	rec := get(t, h, "/healthz")
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body)
	}
	req := httptest.NewRequest(http.MethodPost, "/healthz", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d", rec.Code)
	}
}

func TestReadyz(t *testing.T) {
	const secretDSN = "postgres://opwatch:hunter2@db.internal/opwatch"
	tests := []struct {
		name   string
		store  Schema
		status int
		says   string
	}{
		{"current", &fakeSchema{current: 5, latest: 5}, 200, "ok"},
		{"unreachable", &fakeSchema{err: fmt.Errorf("connect %s: refused", secretDSN)}, 503, "store unreachable"},
		{"outdated", &fakeSchema{current: 4, latest: 5}, 503, "run opwatch migrate"},
		{"newer", &fakeSchema{current: 6, latest: 5}, 503, "upgrade opwatch"},
		{"no store", nil, 503, "no store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := NewHandler(Config{Store: tt.store, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			rec := get(t, h, "/readyz")
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
				t.Errorf("readyz: %d %q, want %d saying %q", rec.Code, rec.Body, tt.status, tt.says)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Errorf("readyz told anyone the store's error: %q", rec.Body)
			}
			if tt.status != 200 && !strings.Contains(logs.String(), "not ready") {
				t.Errorf("not logged: %q", logs.String())
			}
			// The state is logged when it changes, not at every probe.
			before := logs.Len()
			get(t, h, "/readyz")
			if logs.Len() != before {
				t.Errorf("a repeated state was logged again: %q", logs.String()[before:])
			}
		})
	}
}

// A store that does not answer makes /readyz say so within its timeout.
func TestReadyzSlowStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHandler(Config{Store: &fakeSchema{block: true}, ReadyTimeout: 2 * time.Second})
		start := time.Now()
		rec := get(t, h, "/readyz")
		if rec.Code != 503 || time.Since(start) != 2*time.Second {
			t.Errorf("readyz: %d after %s, want 503 after 2s", rec.Code, time.Since(start))
		}
	})
}

// fakeStore is the store as the metrics collectors read it.
type fakeStore struct {
	mu      sync.Mutex
	sources []store.Source
	streams []store.Stream
	slow    chan struct{} // when set, Streams waits on it (or ctx)
}

func (f *fakeStore) ListSources(context.Context) ([]store.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sources, nil
}

func (f *fakeStore) Streams(ctx context.Context, _ string) ([]store.Stream, error) {
	if f.slow != nil {
		select {
		case <-f.slow:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.streams, nil
}

func (f *fakeStore) Position(context.Context, string) (int64, error) { return 40, nil }
func (f *fakeStore) LatestSeq(context.Context) (int64, error)        { return 42, nil }

func TestMetrics(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	hostile := "prod\"} 1\nopwatch_detect_lag_events 0\n\\"
	fs := &fakeStore{
		sources: []store.Source{{ID: "s1", Name: hostile, CreatedAt: now.Add(-time.Hour)}},
		streams: []store.Stream{{SourceID: "s1", LogType: "OnePassword.AuditEvent", Enabled: true, Status: store.StreamOK,
			LastSuccessAt: now.Add(-2 * time.Hour), Events: 9}},
	}
	m := metrics.NewOpwatch(metrics.OpwatchOptions{Build: metrics.BuildInfo{Version: "v1"}, Now: func() time.Time { return now }})
	m.CollectStreams(fs)
	m.CollectDetectLag(fs)
	m.PageStored(hostile, "OnePassword.AuditEvent", store.CommitResult{Inserted: 9})
	m.PollDone(hostile, "OnePassword.AuditEvent", 3*time.Second, "")
	h := NewHandler(Config{Metrics: m.Registry()})

	rec := get(t, h, "/metrics")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("metrics: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	fams, err := metricstest.Parse(rec.Body.String())
	if err != nil {
		t.Fatalf("body does not parse: %v\n%s", err, rec.Body)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"opwatch_events_stored_total", []string{"source", hostile, "log_type", "OnePassword.AuditEvent"}, 9},
		{"opwatch_stream_events_total", []string{"source", hostile, "log_type", "OnePassword.AuditEvent"}, 9},
		{"opwatch_stream_last_success_age_seconds", []string{"source", hostile, "log_type", "OnePassword.AuditEvent"}, 7200},
		{"opwatch_poll_duration_seconds_count", []string{"source", hostile, "log_type", "OnePassword.AuditEvent"}, 1},
		{"opwatch_detect_lag_events", nil, 2}, // not the 0 the hostile name tried to forge
		{"opwatch_scrape_error", []string{"collector", "streams"}, 0},
	} {
		if got, ok := metricstest.Value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%q = %v (%v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := fams["opwatch_build_info"]; !ok {
		t.Error("no opwatch_build_info")
	}

	// Compressed for a scraper that asks, and the same text.
	zrec := get(t, h, "/metrics", "Accept-Encoding", "gzip")
	if zrec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("not compressed: %v", zrec.Header())
	}
	zr, err := gzip.NewReader(zrec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if _, err := metricstest.Parse(string(plain)); err != nil || !bytes.Contains(plain, []byte("opwatch_detect_lag_events 2\n")) {
		t.Errorf("gzip body: %v\n%s", err, plain)
	}
}

// A store that hangs does not hang the scrape: the streams are left out
// and opwatch_scrape_error says so; the rest is served.
func TestMetricsSlowStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &fakeStore{slow: make(chan struct{})}
		m := metrics.NewOpwatch(metrics.OpwatchOptions{ScrapeTimeout: 3 * time.Second})
		m.CollectStreams(fs)
		m.CollectDetectLag(fs)
		h := NewHandler(Config{Metrics: m.Registry()})
		rec := get(t, h, "/metrics")
		fams, err := metricstest.Parse(rec.Body.String())
		if rec.Code != 200 || err != nil {
			t.Fatalf("metrics: %d, %v", rec.Code, err)
		}
		if v, _ := metricstest.Value(fams, "opwatch_scrape_error", "collector", "streams"); v != 1 {
			t.Error("the slow collector is not reported")
		}
		if v, ok := metricstest.Value(fams, "opwatch_detect_lag_events"); !ok || v != 2 {
			t.Error("the other collector's series are missing")
		}
		close(fs.slow)
	})
}

func TestNoMetricsRegistry(t *testing.T) {
	if rec := get(t, NewHandler(Config{}), "/metrics"); rec.Code != http.StatusNotFound {
		t.Errorf("metrics without a registry: %d", rec.Code)
	}
}

// The console mounts its pages on the same mux.
func TestMuxTakesMoreRoutes(t *testing.T) {
	mux := NewHandler(Config{})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console") })
	if rec := get(t, mux, "/"); rec.Body.String() != "console" {
		t.Errorf("/: %q", rec.Body)
	}
	if rec := get(t, mux, "/healthz"); rec.Code != 200 {
		t.Errorf("/healthz: %d", rec.Code)
	}
}

// Scrapes over HTTP while the hooks update, under the race detector.
func TestScrapeWhileUpdatingOverHTTP(t *testing.T) {
	m := metrics.NewOpwatch(metrics.OpwatchOptions{})
	srv := httptest.NewServer(NewHandler(Config{Metrics: m.Registry()}))
	defer srv.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				src := fmt.Sprint("s", (w+i)%5)
				m.PageStored(src, "OnePassword.ItemUsage", store.CommitResult{Inserted: 1})
				m.PollDone(src, "OnePassword.ItemUsage", time.Duration(i%7)*time.Second, "")
				m.ObserveRule(fmt.Sprint("r", i%4), time.Microsecond, i%9 == 0)
			}
		})
	}
	for range 20 {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := metricstest.Parse(string(body)); err != nil {
			t.Fatalf("scrape while updating does not parse: %v", err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestServeAndShutdown(t *testing.T) {
	srv := NewServer("127.0.0.1:0", NewHandler(Config{}), nil)
	ln, err := Listen(srv, TLS{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after shutdown: %v", err)
	}
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Errorf("a timeout is unset: %+v", srv)
	}
}

func TestListenBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(NewServer(ln.Addr().String(), NewHandler(Config{}), nil), TLS{})
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("busy port: %v", err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir, "a")
	_, otherKey, _ := selfSigned(t, dir, "b")

	srv := NewServer("127.0.0.1:0", NewHandler(Config{}), nil)
	ln, err := Listen(srv, TLS{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, srv, ln)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("healthz over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}

	// Mistakes fail at Listen, before anything is served.
	for name, cfg := range map[string]TLS{
		"key of another certificate": {CertFile: certFile, KeyFile: otherKey},
		"missing file":               {CertFile: filepath.Join(dir, "nope.pem"), KeyFile: keyFile},
		"certificate without key":    {CertFile: certFile},
	} {
		if _, err := Listen(NewServer("127.0.0.1:0", nil, nil), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "opwatch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
