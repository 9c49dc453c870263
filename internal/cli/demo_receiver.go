package cli

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// demoDestination is the webhook destination the demo delivers to.
const demoDestination = "demo-webhook"

// demoReceiver is a local webhook receiver that prints each notification
// it gets, once per Idempotency-Key, after checking its signature: what a
// first-time user sees of delivery without any account anywhere.
type demoReceiver struct {
	srv    *http.Server
	ln     net.Listener
	secret string

	mu   sync.Mutex
	out  io.Writer
	seen map[string]bool // idempotency keys
}

func startDemoReceiver(out io.Writer) (*demoReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the demo's webhook receiver: %w", err)
	}
	var b [24]byte
	rand.Read(b[:])
	r := &demoReceiver{ln: ln, secret: hex.EncodeToString(b[:]), out: out, seen: map[string]bool{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *demoReceiver) url() string { return "http://" + r.ln.Addr().String() + "/hook" }

func (r *demoReceiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

func (r *demoReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST a notification", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if !hmac.Equal([]byte(req.Header.Get("X-Opwatch-Signature")), []byte(alert.Signature(r.secret, body))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p alert.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "not a notification", http.StatusBadRequest)
		return
	}
	key := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] {
		// A retry of one already printed (opwatch restarted mid-send).
		w.WriteHeader(http.StatusOK)
		return
	}
	r.seen[key] = true
	what := p.Kind
	if p.Kind == store.NotifyTrigger {
		what = "alert"
	}
	rule := ""
	if p.RuleID != "" {
		rule = ", " + p.RuleID
	}
	fmt.Fprintf(r.out, "→ %s %s [%s] %s (%s%s, %d event(s))\n", demoDestination, what, safetext.Terminal(p.Severity),
		safetext.Terminal(alertShorten(p.Title, 100)), safetext.Terminal(p.Type), safetext.Terminal(rule), p.Events)
	w.WriteHeader(http.StatusOK)
}

// demoDestination points the demo's webhook destination at the receiver
// (its port is new on every run).
func (a *app) demoDestination(ctx context.Context, r *demoReceiver) error {
	d := store.Destination{Name: demoDestination, Type: store.DestWebhook, MinSeverity: "INFO", Enabled: true}
	_, err := a.applyDestination(ctx, d, alert.Settings{}, alert.Secret{URL: r.url(), SigningSecret: r.secret})
	if err != nil {
		return fmt.Errorf("the demo's destination: %w", err)
	}
	return nil
}
