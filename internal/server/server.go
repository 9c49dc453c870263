// Package server is opwatch's HTTP operations surface: /healthz (the
// process is up), /readyz (the store answers and its schema is current)
// and /metrics (Prometheus text format), on a mux that the console mounts
// its pages on too; and an http.Server with timeouts, optionally over TLS.
package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opwatch/opwatch/internal/metrics"
)

// Schema is what /readyz asks the store (store.Admin has it).
type Schema interface {
	// SchemaVersion is the database's schema version and the one this
	// opwatch needs; an error when the store cannot be reached.
	SchemaVersion(ctx context.Context) (current, latest int, err error)
}

// Config wires the handler.
type Config struct {
	Store   Schema            // for /readyz; nil: /readyz always answers 503
	Metrics *metrics.Registry // served at /metrics; nil: no /metrics
	Logger  *slog.Logger
	// ReadyTimeout bounds /readyz's question to the store; default 2s.
	ReadyTimeout time.Duration
}

// NewHandler returns a mux serving GET /healthz, /readyz and /metrics.
// Callers may add routes to it (the console's pages).
func NewHandler(cfg Config) *http.ServeMux {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	rd := &ready{cfg: cfg}
	mux.HandleFunc("GET /readyz", rd.serve)
	if cfg.Metrics != nil {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			serveMetrics(w, r, cfg.Metrics)
		})
	}
	return mux
}

func text(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// ready answers /readyz. Its answers are for anyone who can reach the
// port, so they name the problem but never carry the store's own error
// (a DSN, a path): that goes to the log, once per change of state.
type ready struct {
	cfg  Config
	last atomic.Value // string: the last answer, to log changes only
}

func (rd *ready) serve(w http.ResponseWriter, r *http.Request) {
	status, msg, err := rd.check(r.Context())
	if prev, _ := rd.last.Swap(msg).(string); prev != msg {
		if status == http.StatusOK {
			rd.cfg.Logger.Info("ready", "was", prev)
		} else {
			rd.cfg.Logger.Warn("not ready", "why", msg, "err", err)
		}
	}
	text(w, status, msg)
}

func (rd *ready) check(ctx context.Context) (int, string, error) {
	if rd.cfg.Store == nil {
		return http.StatusServiceUnavailable, "no store", nil
	}
	ctx, cancel := context.WithTimeout(ctx, rd.cfg.ReadyTimeout)
	defer cancel()
	current, latest, err := rd.cfg.Store.SchemaVersion(ctx)
	switch {
	case err != nil:
		return http.StatusServiceUnavailable, "store unreachable", err
	case current < latest:
		return http.StatusServiceUnavailable, fmt.Sprintf("database schema %d is older than this opwatch's %d: run opwatch migrate", current, latest), nil
	case current > latest:
		return http.StatusServiceUnavailable, fmt.Sprintf("database schema %d is newer than this opwatch's %d: upgrade opwatch", current, latest), nil
	}
	return http.StatusOK, "ok", nil
}

// serveMetrics writes the registry whole before answering, so a scrape
// gets all of it or an error, never a cut body with 200.
func serveMetrics(w http.ResponseWriter, r *http.Request, reg *metrics.Registry) {
	var buf bytes.Buffer
	if err := reg.WriteText(r.Context(), &buf); err != nil {
		http.Error(w, "cannot write metrics", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", metrics.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) {
		w.Write(buf.Bytes())
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	zw := gzip.NewWriter(w)
	zw.Write(buf.Bytes())
	zw.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// NewServer returns an http.Server for addr with timeouts that keep slow
// or idle clients from holding connections, and its errors logged to log
// (nil: discarded).
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // a scrape waits for collectors 5s at most
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// TLS names a certificate and its key, both PEM files; empty: plain HTTP.
type TLS struct{ CertFile, KeyFile string }

// Enabled reports whether TLS was asked for.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Config loads the pair into a TLS configuration (TLS 1.2 at least): a
// missing or mismatched file fails here, before anything is served.
func (t TLS) Config() (*tls.Config, error) {
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("TLS needs both a certificate file and a key file")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load the TLS certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// Listen binds srv.Addr, with TLS when t is enabled. Binding before the
// other parts start makes a taken port or a bad certificate fail serve at
// once, and tells the address when the port was 0.
func Listen(srv *http.Server, t TLS) (net.Listener, error) {
	if t.Enabled() {
		cfg, err := t.Config()
		if err != nil {
			return nil, err
		}
		srv.TLSConfig = cfg
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another process using the port? choose another with --listen)", srv.Addr, err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	return ln, nil
}

// Serve serves srv on ln until ctx is done, then shuts down, letting the
// requests in flight finish for up to 5 seconds. It returns nil after a
// shutdown asked for by ctx.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close() // the requests still running past the grace are cut
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("http server on %s: shut down: %w", ln.Addr(), err)
	}
	return nil
}
