// Package ingest keeps the store's copy of every configured 1Password account
// complete and exact. The streams table is the schedule: each stream (source ×
// log type) is leased, drained page by page — every page's events committed
// with the stream's new cursor in one transaction — and scheduled again.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// Opener opens a sealed token (package secret's Box).
type Opener interface {
	Open(sealed []byte) ([]byte, error)
}

// Config wires an Ingester. Store and Secrets are required.
type Config struct {
	Store    store.Store
	Secrets  Opener
	Limiters *onepassword.Limiters // one rate limiter per 1Password account; nil = unlimited
	Logger   *slog.Logger
	Now      func() time.Time

	Owner           string        // lease owner; default host-pid-random
	PageLimit       int           // events per page, 1..1000; default 1000
	Concurrency     int           // streams polled at once; default 8
	LeaseFor        time.Duration // default 1m, renewed every third of it while a poll runs
	ClaimEvery      time.Duration // how often Run looks for due streams; default 1s
	ReconcileEvery  time.Duration // 0 disables the periodic re-read
	ReconcileWindow time.Duration // how far back it re-reads
	RecoverOverlap  time.Duration // after a rejected cursor, re-read from the last event minus this; default 24h
	Retry           onepassword.RetryPolicy
	UserAgent       string
}

// Ingester polls streams. It is safe for concurrent use.
type Ingester struct {
	cfg    Config
	log    *slog.Logger
	rowIDs *logtype.RowIDs

	mu      sync.Mutex
	clients map[string]cachedClient
}

type cachedClient struct {
	updated time.Time
	client  *onepassword.Client
}

// New returns an Ingester with cfg's defaults filled in.
func New(cfg Config) *Ingester {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.PageLimit <= 0 || cfg.PageLimit > 1000 {
		cfg.PageLimit = 1000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.LeaseFor <= 0 {
		cfg.LeaseFor = time.Minute
	}
	if cfg.ClaimEvery <= 0 {
		cfg.ClaimEvery = time.Second
	}
	if cfg.RecoverOverlap <= 0 {
		cfg.RecoverOverlap = 24 * time.Hour
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "opwatch"
	}
	return &Ingester{
		cfg:     cfg,
		log:     cfg.Logger,
		rowIDs:  logtype.NewRowIDs(),
		clients: map[string]cachedClient{},
	}
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return ownerID(host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Run polls due streams until ctx is cancelled, then waits for the polls in
// flight to finish their current page and release their leases.
func (in *Ingester) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, in.cfg.Concurrency)
	tick := time.NewTicker(in.cfg.ClaimEvery)
	defer tick.Stop()
	if streams, err := in.cfg.Store.Streams(ctx, ""); err == nil {
		in.releaseStale(ctx, streams)
	}
	for {
		if free := cap(slots) - len(slots); free > 0 {
			streams, err := in.cfg.Store.ClaimStreams(ctx, in.cfg.Owner, in.cfg.Now(), in.cfg.LeaseFor, free)
			if err != nil && ctx.Err() == nil {
				in.log.Error("claim streams", "err", err)
			}
			for _, st := range streams {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slots }()
					in.Poll(ctx, st, true)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Result is what one poll of one stream did.
type Result struct {
	Stream     store.Stream
	Source     string // source name
	Pages      int
	Inserted   int
	Duplicates int
	Quarantine int
	Err        error
}

// Poll drains one leased stream and records the outcome. With reconcile,
// a due reconciliation pass runs after the drain.
func (in *Ingester) Poll(ctx context.Context, st store.Stream, reconcile bool) Result {
	res := Result{Stream: st}
	log := in.log.With("stream", st.ID, "log_type", st.LogType)
	ctx, stopHeartbeat := in.heartbeat(ctx, st)
	defer stopHeartbeat()
	src, err := in.cfg.Store.SourceByID(ctx, st.SourceID)
	if err != nil {
		res.Err = fmt.Errorf("load source of stream %d: %w", st.ID, err)
		in.finish(ctx, st, nil, res.Err, false)
		return res
	}
	res.Source = src.Name
	log = log.With("source", src.Name)
	lt := logtype.ByName(st.LogType)
	if lt == nil {
		res.Err = fmt.Errorf("stream %d has unknown log type %q", st.ID, st.LogType)
		in.finish(ctx, st, &src, res.Err, true)
		return res
	}
	feature := onepassword.Feature(lt.Feature)
	client, err := in.client(ctx, src)
	if err != nil {
		res.Err = err
		in.finish(ctx, st, &src, err, true)
		return res
	}
	if !client.Claims().Has(feature) {
		res.Err = fmt.Errorf("token of source %s lacks the %s feature: issue a token with %s enabled in 1Password, then `opwatch source update` it", src.Name, feature, lt.Name)
		in.finish(ctx, st, &src, res.Err, true)
		return res
	}

	now := in.cfg.Now()
	req := in.request(st, src, now)
	err = in.drain(ctx, client, feature, lt, src, st, req, &res, true)
	var newCursor *string
	if kind, ok := onepassword.KindOf(err); ok && kind == onepassword.BadRequest && req.Cursor != "" {
		// A rejected stored cursor must not loop: drop it, so the next poll
		// resets to a day before what the stream had read (resumeFrom). The
		// unique key absorbs what is read twice.
		empty := ""
		newCursor = &empty
		err = fmt.Errorf("stored cursor rejected, next poll re-reads from %s: %w",
			in.resumeFrom(st, src, now).Format(time.RFC3339), err)
	}
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrLeaseLost) {
		err = cause // the heartbeat found the lease gone and stopped the drain
	}
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn("lease lost; another poller has this stream", "err", err)
		res.Err = err
		return res
	}
	if err == nil && reconcile && in.reconcileDue(st, now) {
		if rerr := in.reconcile(ctx, client, feature, lt, src, st, now, &res); rerr != nil {
			log.Warn("reconciliation failed; it is retried next poll", "err", rerr)
		} else {
			in.finishOutcome(ctx, st, &src, nil, false, nil, true)
			in.logResult(log, res)
			return res
		}
	}
	res.Err = err
	in.finishOutcome(ctx, st, &src, err, stops(err), newCursor, false)
	in.logResult(log, res)
	return res
}

func (in *Ingester) logResult(log *slog.Logger, res Result) {
	if res.Err != nil {
		log.Warn("poll failed", "err", res.Err, "pages", res.Pages, "inserted", res.Inserted)
		return
	}
	if res.Inserted > 0 || res.Quarantine > 0 {
		log.Info("stored events", "inserted", res.Inserted, "quarantined", res.Quarantine, "duplicates", res.Duplicates, "pages", res.Pages)
		return
	}
	log.Debug("polled", "pages", res.Pages, "duplicates", res.Duplicates)
}

// request is where a poll starts: the stored cursor, or a reset.
func (in *Ingester) request(st store.Stream, src store.Source, now time.Time) onepassword.Request {
	if st.Cursor != "" {
		return onepassword.Request{Cursor: st.Cursor}
	}
	return onepassword.Request{Limit: in.cfg.PageLimit, StartTime: in.resumeFrom(st, src, now)}
}

// resumeFrom is the start of a reset: the lookback for a new stream, or,
// for a stream that lost its cursor, a day before what it had read. Events
// reach 1Password late (item usages sync up to a day late) and the reset
// filters on event time, so the overlap must cover that lateness; the unique
// key absorbs what is read twice.
func (in *Ingester) resumeFrom(st store.Stream, src store.Source, now time.Time) time.Time {
	if !st.LastEventAt.IsZero() {
		from := st.LastEventAt
		if !st.LastSuccessAt.IsZero() && st.LastSuccessAt.Before(from) {
			from = st.LastSuccessAt
		}
		return from.Add(-in.cfg.RecoverOverlap)
	}
	lb := src.Lookback
	if lb <= 0 {
		lb = 24 * time.Hour
	}
	return now.Add(-lb)
}

// drain pages the stream from req and commits each page with its cursor
// (withCursor) or, for re-reads, inserts its events only.
func (in *Ingester) drain(ctx context.Context, client *onepassword.Client, feature onepassword.Feature, lt *logtype.LogType,
	src store.Source, st store.Stream, req onepassword.Request, res *Result, withCursor bool) error {
	return client.Drain(ctx, feature, req, func(p onepassword.Page) error {
		now := in.cfg.Now()
		events, quarantine := in.normalize(lt, src, p.Items, now)
		var cr store.CommitResult
		var err error
		if withCursor {
			cr, err = in.cfg.Store.CommitPage(ctx, store.PageCommit{
				StreamID: st.ID, LeaseOwner: in.cfg.Owner, Cursor: p.Cursor,
				Events: events, Quarantine: quarantine, Now: now,
			})
		} else {
			cr, err = in.cfg.Store.InsertEvents(ctx, st.ID, events, quarantine)
		}
		if err != nil {
			return err
		}
		res.Pages++
		res.Inserted += cr.Inserted
		res.Duplicates += cr.Duplicates
		res.Quarantine += cr.Quarantined
		return nil
	})
}

// normalize parses a page's items; the ones that fail validation are
// quarantined with the reason, the rest proceed.
func (in *Ingester) normalize(lt *logtype.LogType, src store.Source, items []json.RawMessage, now time.Time) ([]store.Event, []store.Quarantined) {
	events := make([]store.Event, 0, len(items))
	var quarantine []store.Quarantined
	for _, raw := range items {
		ev, err := lt.Parse(raw)
		if err != nil {
			quarantine = append(quarantine, store.Quarantined{
				SourceID: src.ID, LogType: lt.Name, Raw: raw, Reason: err.Error(), At: now,
			})
			continue
		}
		events = append(events, store.Event{
			SourceID: src.ID, LogType: lt.Name, UUID: ev.UUID,
			EventTime: ev.Time, ParseTime: now, RowID: in.rowIDs.Next(), SourceLabel: src.Name,
			IPs: ev.IPs, Emails: ev.Emails, Raw: ev.Raw,
		})
	}
	return events, quarantine
}

func (in *Ingester) reconcileDue(st store.Stream, now time.Time) bool {
	if in.cfg.ReconcileEvery <= 0 || in.cfg.ReconcileWindow <= 0 {
		return false
	}
	return st.LastReconcileAt.IsZero() || now.Sub(st.LastReconcileAt) >= in.cfg.ReconcileEvery
}

// reconcile re-reads a recent window with a reset cursor. The cursor follows
// 1Password's ingestion order, so late events arrive by cursor; this pass is
// the safety net, and the unique key makes it free of duplicates. A stream's
// first poll only starts the clock.
func (in *Ingester) reconcile(ctx context.Context, client *onepassword.Client, feature onepassword.Feature, lt *logtype.LogType,
	src store.Source, st store.Stream, now time.Time, res *Result) error {
	if st.LastReconcileAt.IsZero() {
		return nil
	}
	req := onepassword.Request{Limit: in.cfg.PageLimit, StartTime: now.Add(-in.cfg.ReconcileWindow), EndTime: now}
	var rr Result
	err := in.drain(ctx, client, feature, lt, src, st, req, &rr, false)
	res.Inserted += rr.Inserted
	res.Quarantine += rr.Quarantine
	if rr.Inserted > 0 {
		in.log.Info("reconciliation found events the cursor had not delivered",
			"source", src.Name, "log_type", lt.Name, "inserted", rr.Inserted)
	}
	return err
}

// stops reports whether err needs the operator: polling again cannot help.
func stops(err error) bool {
	kind, ok := onepassword.KindOf(err)
	return ok && (kind == onepassword.Unauthorized || kind == onepassword.MissingFeature)
}

func (in *Ingester) finish(ctx context.Context, st store.Stream, src *store.Source, err error, stopped bool) {
	in.finishOutcome(ctx, st, src, err, stopped, nil, false)
}

// finishOutcome records a poll's end and schedules the next one. It runs
// even when ctx is cancelled (shutdown), so the lease is released.
func (in *Ingester) finishOutcome(ctx context.Context, st store.Stream, src *store.Source, err error, stopped bool, cursor *string, reconciled bool) {
	now := in.cfg.Now()
	interval := time.Minute
	if src != nil && src.Interval > 0 {
		interval = src.Interval
	}
	o := store.PollOutcome{StreamID: st.ID, LeaseOwner: in.cfg.Owner, At: now, Cursor: cursor, Reconciled: reconciled}
	switch {
	case err == nil:
		o.NextPollAt = nextSlot(st.ID, interval, now)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Shutdown: nothing failed; whatever was committed stays, and the
		// stream is due again at once on the next start.
		o.NextPollAt = now
	default:
		o.Err = err.Error()
		o.Stopped = stopped
		o.NextPollAt = now.Add(backoff(st.ConsecutiveFailures+1, nil))
		var apiErr *onepassword.Error
		switch {
		case cursor != nil:
			o.NextPollAt = now.Add(backoffBase) // recovery: retry soon
		case errors.As(err, &apiErr) && apiErr.RetryAfter > 0:
			o.NextPollAt = now.Add(apiErr.RetryAfter) // the server said when
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := in.cfg.Store.FinishPoll(fctx, o); ferr != nil {
		in.log.Error("record poll outcome", "stream", st.ID, "err", ferr)
	}
}

// client returns the source's API client, built once per source version.
func (in *Ingester) client(ctx context.Context, src store.Source) (*onepassword.Client, error) {
	in.mu.Lock()
	c, ok := in.clients[src.ID]
	in.mu.Unlock()
	if ok && c.updated.Equal(src.UpdatedAt) {
		return c.client, nil
	}
	client, err := NewClient(ctx, src, in.cfg.Secrets, in.cfg.Limiters, ClientOptions{
		Logger: in.log, Retry: in.cfg.Retry, UserAgent: in.cfg.UserAgent,
	})
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	in.clients[src.ID] = cachedClient{updated: src.UpdatedAt, client: client}
	in.mu.Unlock()
	return client, nil
}

// ClientOptions are the client settings that do not come from the source.
type ClientOptions struct {
	Logger    *slog.Logger
	Retry     onepassword.RetryPolicy
	UserAgent string
}

// NewClient opens the source's sealed token and builds its API client, with
// the rate limiter of the token's 1Password account.
func NewClient(ctx context.Context, src store.Source, secrets Opener, limiters *onepassword.Limiters, o ClientOptions) (*onepassword.Client, error) {
	tok, err := secrets.Open(src.Token)
	if err != nil {
		return nil, fmt.Errorf("source %s: cannot open its stored token: %w", src.Name, err)
	}
	opts := onepassword.Options{
		Token: string(tok), Region: src.Region, BaseURL: src.BaseURL, APIVersion: src.APIVersion,
		InsecureSkipVerify: src.InsecureSkipVerify, Retry: o.Retry, UserAgent: o.UserAgent, Logger: o.Logger,
	}
	client, err := onepassword.New(opts)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	if limiters == nil {
		return client, nil
	}
	// All tokens of one account share its limits (600 requests a minute).
	// The account is in the token's claims, or else introspection tells it;
	// failing both, the source counts as its own account.
	key := client.Claims().AccountUUID
	if key == "" {
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if in, err := client.Introspect(ictx); err == nil && in.AccountUUID != "" {
			key = in.AccountUUID
		}
		cancel()
	}
	if key == "" {
		key = "source:" + src.ID
	}
	opts.Limiter = limiters.For(key)
	return onepassword.New(opts)
}
