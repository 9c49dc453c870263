// Package ingest keeps the store's copy of every configured 1Password account
// complete and exact. The streams table is the schedule: each stream (source ×
// log type) is leased, drained page by page — every page's events committed
// with the stream's new cursor in one transaction — and scheduled again.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// Opener opens a sealed token (package secret's Box). aad is the data the
// token was sealed with (store.Source.Binding): a token moved to another
// source, or a source whose endpoint was changed without the key, fails.
type Opener interface {
	Open(sealed, aad []byte) ([]byte, error)
}

// Config wires an Ingester. Store and Secrets are required.
type Config struct {
	Store    store.Ingest
	Secrets  Opener
	Limiters *onepassword.Limiters // one rate limiter per 1Password account; nil = unlimited
	Logger   *slog.Logger
	// Now is the clock for what ingest decides itself (start times, the
	// next poll, the poll's time limit). Leases never use it: the store
	// fences them with its own clock.
	Now func() time.Time
	// HTTPClient, when set, carries every source's requests (tests, an
	// in-process transport); a source's InsecureSkipVerify then does not
	// apply. Nil builds one per source.
	HTTPClient *http.Client

	Owner           string        // lease owner; default: this process's identity (see ownerID)
	PageLimit       int           // events per page, 1..1000; default 1000
	Concurrency     int           // streams polled at once; default 8
	LeaseFor        time.Duration // default 1m, renewed every third of it while a poll runs
	ClaimEvery      time.Duration // how often Run looks for due streams; default 1s
	ReconcileEvery  time.Duration // 0 disables the periodic re-read
	ReconcileWindow time.Duration // how far back it re-reads
	RecoverOverlap  time.Duration // after a rejected cursor, re-read from the last event minus this; default 24h
	// MaxPollPages and MaxPollTime bound one poll of one stream (pages read,
	// reconciliation included, and time), so that a server answering
	// has_more forever cannot keep a poll running. What was committed
	// stays, and the stream is due again soon: a long backlog drains over
	// successive polls. Defaults 5000 pages (5 million events) and 10m; at
	// 1Password's 600 requests a minute either lets 120 days of a large
	// account drain within hours.
	MaxPollPages int
	MaxPollTime  time.Duration
	Retry        onepassword.RetryPolicy
	UserAgent    string
	// Metrics, when set, is told what polls and pages did.
	Metrics Metrics
	// ObserveRequest, when set, is told of every HTTP attempt of every
	// source's client (onepassword.Options.Observe).
	ObserveRequest func(onepassword.RequestInfo)
}

// Metrics receives what ingest measures (package metrics implements it).
// Calls are synchronous and must be quick.
type Metrics interface {
	// PageStored is called after each page is committed (polls,
	// reconciliation and backfill alike).
	PageStored(source, logType string, r store.CommitResult)
	// PollDone is called when a poll ends, unless it was interrupted
	// (shutdown). errKind is "" on success, else a word from a small
	// fixed set saying what failed (see pollErrorKind).
	PollDone(source, logType string, d time.Duration, errKind string)
}

// Ingester polls streams. It is safe for concurrent use.
type Ingester struct {
	cfg    Config
	log    *slog.Logger
	rowIDs *logtype.RowIDs

	mu      sync.Mutex
	clients map[string]sourceClient
}

// sourceClient is a source's API client and the 1Password account its token
// reads, built once per version of the source.
type sourceClient struct {
	updated time.Time
	client  *onepassword.Client
	account string
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
		cfg.Owner = NewOwner()
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
	if cfg.MaxPollPages <= 0 {
		cfg.MaxPollPages = 5000
	}
	if cfg.MaxPollTime <= 0 {
		cfg.MaxPollTime = 10 * time.Minute
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "opwatch"
	}
	return &Ingester{
		cfg:     cfg,
		log:     cfg.Logger,
		rowIDs:  logtype.NewRowIDs(),
		clients: map[string]sourceClient{},
	}
}

// Run polls due streams until ctx is cancelled, then waits for the polls in
// flight to finish their current page and release their leases. It fails at
// once when the store cannot list the streams at start: a store that is
// unusable then (wrong schema, unreadable file) would only fail every claim
// after it, and the caller should say so rather than log it every second.
// Later store errors are logged and retried.
func (in *Ingester) Run(ctx context.Context) error {
	streams, err := in.cfg.Store.Streams(ctx, "")
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ingest cannot start: list streams: %w", err)
	}
	in.releaseStale(ctx, streams)
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, in.cfg.Concurrency)
	// freed says a poll ended. When the last claim filled every free slot,
	// more streams may be due: they are claimed as soon as a slot frees,
	// not at the next tick, or a process could poll no more than
	// Concurrency streams per ClaimEvery (8 a second: 480 streams a minute).
	freed := make(chan struct{}, 1)
	tick := time.NewTicker(in.cfg.ClaimEvery)
	defer tick.Stop()
	claim, more := true, false
	for {
		if free := cap(slots) - len(slots); claim && free > 0 {
			streams, err := in.cfg.Store.ClaimStreams(ctx, in.cfg.Owner, in.cfg.LeaseFor, free)
			if err != nil && ctx.Err() == nil {
				in.log.Error("claim streams", "err", err)
			}
			more = err == nil && len(streams) == free
			for _, st := range streams {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						<-slots
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					in.Poll(ctx, st, true)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			claim = true
		case <-freed:
			claim = more
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
	// NotCollected: the stream's log type is not among the source's log
	// types (the stream is disabled); it was not polled.
	NotCollected bool
	Err          error
}

// Poll drains one leased stream and records the outcome. st is the stream
// as ClaimStreams or ClaimStream returned it, leased to the Ingester's Owner
// for its LeaseFor. With reconcile, a due reconciliation pass runs after
// the drain.
func (in *Ingester) Poll(ctx context.Context, st store.Stream, reconcile bool) (res Result) {
	res = Result{Stream: st}
	if in.cfg.Metrics != nil {
		start := in.cfg.Now()
		defer func() { in.observePoll(ctx, res, in.cfg.Now().Sub(start)) }()
	}
	skew := in.storeSkew(st)
	log := in.log.With("stream", st.ID, "log_type", st.LogType)
	hctx, stopHeartbeat := in.heartbeat(ctx, st)
	defer stopHeartbeat()
	src, err := in.cfg.Store.SourceByID(hctx, st.SourceID)
	if err != nil {
		res.Err = fmt.Errorf("load the stream's source: %w", err)
		in.finish(ctx, st, skew, nil, res.Err, false, nil, false)
		return res
	}
	res.Source = src.Name
	log = log.With("source", src.Name)
	lt := logtype.ByName(st.LogType)
	if lt == nil {
		res.Err = fmt.Errorf("unknown log type %q (written by a newer opwatch?)", st.LogType)
		in.finish(ctx, st, skew, &src, res.Err, true, nil, false)
		return res
	}
	feature := onepassword.Feature(lt.Feature)
	sc, err := in.client(hctx, src)
	if err != nil {
		res.Err = err
		in.finish(ctx, st, skew, &src, err, stopsClient(err), nil, false)
		in.logResult(ctx, log, res)
		return res
	}
	in.warnInsecure(log, sc.client)
	if !sc.client.Claims().Has(feature) {
		res.Err = lacksFeature(sc.client, feature, lt.Name)
		in.finish(ctx, st, skew, &src, res.Err, true, nil, false)
		in.logResult(ctx, log, res)
		return res
	}

	now := in.cfg.Now()
	budget := in.newBudget(now)
	// The time limit also holds while a page is being fetched: a server
	// that answers slowly cannot stretch a poll past it.
	pctx, cancel := context.WithTimeoutCause(hctx, in.cfg.MaxPollTime, errPollTime)
	defer cancel()
	req := in.request(st, src, now)
	err = in.drain(pctx, sc, feature, lt, src, st, req, &res, true, budget)
	var newCursor *string
	var apiErr *onepassword.Error
	if errors.As(err, &apiErr) && apiErr.Kind == onepassword.BadRequest && (req.Cursor != "" || res.Pages > 0) {
		// The server rejected a cursor: the stored one, or one it gave this
		// poll, now stored. It must not loop: drop it, so the next poll
		// resets to a day before what the stream had read (resumeFrom). The
		// unique key absorbs what is read twice.
		empty := ""
		newCursor = &empty
		err = &cursorRejectedError{from: in.resumeFrom(st, src, now), err: apiErr}
	}
	if cause := context.Cause(hctx); errors.Is(cause, store.ErrLeaseLost) {
		err = cause // the heartbeat found the lease gone and stopped the drain
	}
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn("lease lost; another poller has this stream", "err", err)
		res.Err = err
		return res
	}
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(pctx), errPollTime) {
		err = budget.timeUp(in.cfg.Now())
	}
	if err == nil && reconcile && in.reconcileDue(st, now.Add(skew)) {
		if rerr := in.reconcile(pctx, sc, feature, lt, src, st, now, &res, budget); interrupted(ctx, rerr) {
			log.Info("reconciliation interrupted; it runs again next poll")
		} else if rerr != nil {
			log.Warn("reconciliation failed; it is retried next poll", "err", rerr)
		} else {
			in.finish(ctx, st, skew, &src, nil, false, nil, true)
			in.logResult(ctx, log, res)
			return res
		}
	}
	res.Err = err
	in.finish(ctx, st, skew, &src, err, stops(err), newCursor, false)
	in.logResult(ctx, log, res)
	return res
}

// storeSkew is how far the store's clock is ahead of Config.Now, as the
// claim tells it: the store leased the stream for LeaseFor from its own now.
// The next poll and the reconciliation are scheduled on the store's clock,
// as leases are, so that a replica whose clock is off neither leaves a
// stream unpolled for hours nor polls it early. Off by the claim's latency.
func (in *Ingester) storeSkew(st store.Stream) time.Duration {
	if st.LeaseOwner != in.cfg.Owner || st.LeaseUntil.IsZero() {
		return 0
	}
	return st.LeaseUntil.Add(-in.cfg.LeaseFor).Sub(in.cfg.Now())
}

// logResult logs a poll's end. A poll that ends because ctx was cancelled
// (serve shutting down, Ctrl-C of pull) did not fail: what it committed
// stays, and finish records it as no failure by the same rule.
func (in *Ingester) logResult(ctx context.Context, log *slog.Logger, res Result) {
	if res.Err != nil && interrupted(ctx, res.Err) {
		log.Info("poll interrupted", "pages", res.Pages, "inserted", res.Inserted)
		return
	}
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

// interrupted reports whether err is ctx's own end: the poll was stopped,
// it did not fail.
func interrupted(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// warnInsecure says on every poll that a source's token travels without
// TLS verification or in plain text: the setting must stay visible.
func (in *Ingester) warnInsecure(log *slog.Logger, c *onepassword.Client) {
	if why := c.Insecure(); why != "" {
		log.Warn("the connection to the Events API is not secure: the token can be read or replaced on the way", "why", why)
	}
}

// lacksFeature is the error of a stream whose log type the token cannot read.
func lacksFeature(c *onepassword.Client, f onepassword.Feature, logType string) error {
	return &onepassword.Error{Kind: onepassword.MissingFeature, Host: c.Host(), Feature: f,
		Message: fmt.Sprintf("the token lacks the %s feature, so %s cannot be collected: a token issued with it is needed", f, logType)}
}

// cursorRejectedError is a poll whose stored cursor the server refused:
// the cursor was dropped and the next poll re-reads from a start time.
type cursorRejectedError struct {
	from time.Time
	err  *onepassword.Error
}

func (e *cursorRejectedError) Error() string {
	// The server's words, not the client's advice: the recovery is done.
	said := ""
	if e.err.Status != 0 {
		said = fmt.Sprintf(" (%d from %s)", e.err.Status, e.err.Host)
	}
	return fmt.Sprintf("the server rejected the stored cursor%s; it was dropped and the next poll re-reads from %s, storing what it had read once",
		said, e.from.UTC().Format(time.RFC3339))
}

func (e *cursorRejectedError) Unwrap() error { return e.err }

// ErrPollLimit is matched (errors.Is) by the error of a poll that stopped
// at its page or time limit. What it read is stored; the rest is read by
// the next poll, which is due soon.
var ErrPollLimit = errors.New("poll stopped at its limit")

var errPollTime = errors.New("poll time limit reached")

type pollLimitError struct{ msg string }

func (e *pollLimitError) Error() string        { return e.msg }
func (e *pollLimitError) Is(target error) bool { return target == ErrPollLimit }

// budget counts what a poll has read against its limits.
type budget struct {
	start    time.Time
	pages    int
	maxPages int
	maxTime  time.Duration
}

func (in *Ingester) newBudget(now time.Time) *budget {
	return &budget{start: now, maxPages: in.cfg.MaxPollPages, maxTime: in.cfg.MaxPollTime}
}

// spend counts a committed page and returns an error once a limit is reached.
func (b *budget) spend(now time.Time) error {
	b.pages++
	if b.pages >= b.maxPages {
		return &pollLimitError{fmt.Sprintf("stopped after %d pages in one poll (the limit); what was read is stored and the rest is read next poll", b.pages)}
	}
	if now.Sub(b.start) >= b.maxTime {
		return b.timeUp(now)
	}
	return nil
}

func (b *budget) timeUp(now time.Time) error {
	return &pollLimitError{fmt.Sprintf("stopped after %s and %d pages in one poll (the limit is %s); what was read is stored and the rest is read next poll",
		now.Sub(b.start).Round(time.Second), b.pages, b.maxTime)}
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
// (withCursor) or, for re-reads, inserts its events only. It stops after
// the page that exhausts the budget.
func (in *Ingester) drain(ctx context.Context, sc sourceClient, feature onepassword.Feature, lt *logtype.LogType,
	src store.Source, st store.Stream, req onepassword.Request, res *Result, withCursor bool, b *budget) error {
	return sc.client.Drain(ctx, feature, req, func(p onepassword.Page) error {
		now := in.cfg.Now()
		events, quarantine := in.normalize(lt, src, sc.account, p.Items, now)
		var cr store.CommitResult
		var err error
		if withCursor {
			cr, err = in.cfg.Store.CommitPage(ctx, store.PageCommit{
				StreamID: st.ID, LeaseOwner: in.cfg.Owner, Cursor: p.Cursor,
				Events: events, Quarantine: quarantine,
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
		in.observePage(src.Name, lt.Name, cr)
		return b.spend(now)
	})
}

// normalize parses a page's items; the ones that fail validation are
// quarantined with the reason, the rest proceed.
func (in *Ingester) normalize(lt *logtype.LogType, src store.Source, account string, items []json.RawMessage, now time.Time) ([]store.Event, []store.Quarantined) {
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
			SourceID: src.ID, Account: account, LogType: lt.Name, UUID: ev.UUID,
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
// 1Password's ingestion order, but whether it keeps the first request's
// start_time filter is undocumented: if it does, an event that arrives later
// than its timestamp and older than that start never comes by cursor. This
// pass brings it (the emulator models both; see late_test.go), and the unique
// key makes it free of duplicates. A stream's first poll only starts the clock.
func (in *Ingester) reconcile(ctx context.Context, sc sourceClient, feature onepassword.Feature, lt *logtype.LogType,
	src store.Source, st store.Stream, now time.Time, res *Result, b *budget) error {
	if st.LastReconcileAt.IsZero() {
		return nil
	}
	req := onepassword.Request{Limit: in.cfg.PageLimit, StartTime: now.Add(-in.cfg.ReconcileWindow), EndTime: now}
	var rr Result
	err := in.drain(ctx, sc, feature, lt, src, st, req, &rr, false, b)
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

// stopsClient reports whether a failure to build a source's client needs
// the operator: a token that cannot be opened or read, or settings the
// client refuses, stay wrong until someone changes them. A failed request
// (learning the account) or store write passes by itself.
func stopsClient(err error) bool {
	var s *settingsError
	return errors.As(err, &s) || stops(err)
}

// settingsError is a source whose stored token or settings cannot work.
type settingsError struct{ err error }

func (e *settingsError) Error() string { return e.err.Error() }
func (e *settingsError) Unwrap() error { return e.err }

// finish records a poll's end and schedules the next one. It runs even when
// ctx is cancelled (shutdown), so the lease is released. cursor, when
// non-nil, replaces the stored one.
func (in *Ingester) finish(ctx context.Context, st store.Stream, skew time.Duration, src *store.Source, err error, stopped bool, cursor *string, reconciled bool) {
	now := in.cfg.Now().Add(skew) // the store's time: the schedule is kept on its clock
	interval := time.Minute
	if src != nil && src.Interval > 0 {
		interval = src.Interval
	}
	o := store.PollOutcome{StreamID: st.ID, LeaseOwner: in.cfg.Owner, Cursor: cursor, Reconciled: reconciled}
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
		case cursor != nil, errors.Is(err, ErrPollLimit):
			o.NextPollAt = now.Add(backoffBase) // recovery, or the rest of a backlog: soon
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

// client returns the source's API client and account, built once per
// version of the source. The account is known before any event is stored:
// events are unique per account.
func (in *Ingester) client(ctx context.Context, src store.Source) (sourceClient, error) {
	in.mu.Lock()
	c, ok := in.clients[src.ID]
	in.mu.Unlock()
	if ok && c.updated.Equal(src.UpdatedAt) {
		return c, nil
	}
	opts := ClientOptions{Logger: in.log, Retry: in.cfg.Retry, UserAgent: in.cfg.UserAgent, HTTPClient: in.cfg.HTTPClient,
		Observe: in.cfg.ObserveRequest}
	client, account, err := newClient(ctx, src, in.cfg.Secrets, in.cfg.Limiters, opts, true)
	if err != nil {
		return sourceClient{}, err
	}
	if account != src.AccountUUID {
		if err := in.cfg.Store.SetSourceAccount(ctx, src.ID, account); err != nil {
			return sourceClient{}, fmt.Errorf("record the token's 1Password account: %w", err)
		}
	}
	c = sourceClient{updated: src.UpdatedAt, client: client, account: account}
	in.mu.Lock()
	in.clients[src.ID] = c
	in.mu.Unlock()
	return c, nil
}

// ClientOptions are the client settings that do not come from the source.
type ClientOptions struct {
	Logger     *slog.Logger
	Retry      onepassword.RetryPolicy
	UserAgent  string
	HTTPClient *http.Client // nil: the client builds its own
	Observe    func(onepassword.RequestInfo)
}

// NewClient opens the source's sealed token and builds its API client. With
// limiters, the client shares the rate limiter of the token's 1Password
// account (learned from the token, the source, or introspection; failing
// all three, the source counts as its own account).
func NewClient(ctx context.Context, src store.Source, secrets Opener, limiters *onepassword.Limiters, o ClientOptions) (*onepassword.Client, error) {
	client, _, err := newClient(ctx, src, secrets, limiters, o, false)
	return client, err
}

// newClient builds the client and, when needed for the limiter or asked
// (mustKnow), learns the account; with mustKnow, not learning it fails.
func newClient(ctx context.Context, src store.Source, secrets Opener, limiters *onepassword.Limiters, o ClientOptions, mustKnow bool) (*onepassword.Client, string, error) {
	tok, err := secrets.Open(src.Token, src.Binding())
	if err != nil {
		return nil, "", &settingsError{fmt.Errorf("stored token: %w", err)}
	}
	opts := onepassword.Options{
		Token: string(tok), Region: src.Region, BaseURL: src.BaseURL, APIVersion: src.APIVersion,
		InsecureSkipVerify: src.InsecureSkipVerify, AllowOtherHost: src.AllowOtherHost, AllowInsecure: src.AllowInsecure,
		HTTPClient: o.HTTPClient, Retry: o.Retry, UserAgent: o.UserAgent, Logger: o.Logger,
		Observe: o.Observe,
	}
	client, err := onepassword.New(opts)
	if err != nil {
		return nil, "", &settingsError{err}
	}
	if limiters == nil && !mustKnow {
		return client, "", nil
	}
	account, err := learnAccount(ctx, client, src)
	if err != nil {
		if mustKnow {
			return nil, "", err
		}
		account = "source:" + src.ID
	}
	if limiters == nil {
		return client, account, nil
	}
	// All tokens of one account share its limits (600 requests a minute).
	opts.Limiter = limiters.For(account)
	if client, err = onepassword.New(opts); err != nil {
		return nil, "", &settingsError{err}
	}
	return client, account, nil
}

// learnAccount is the 1Password account a token reads: its auuid claim,
// else the one recorded for the source, else introspection's account_uuid.
func learnAccount(ctx context.Context, client *onepassword.Client, src store.Source) (string, error) {
	if a := client.Claims().AccountUUID; a != "" {
		return a, nil
	}
	if src.AccountUUID != "" {
		return src.AccountUUID, nil
	}
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	intro, err := client.Introspect(ictx)
	if err != nil {
		return "", fmt.Errorf("the token does not name its 1Password account and introspection failed; no event is stored until the account is known: %w", err)
	}
	if intro.AccountUUID == "" {
		return "", errors.New("the token does not name its 1Password account and introspection did not tell it; no event is stored until the account is known")
	}
	return intro.AccountUUID, nil
}

// observePage tells Metrics what a committed page stored.
func (in *Ingester) observePage(source, logType string, cr store.CommitResult) {
	if in.cfg.Metrics != nil {
		in.cfg.Metrics.PageStored(source, logType, cr)
	}
}

// observePoll tells Metrics how a poll ended; an interrupted one did not
// fail and its time says nothing.
func (in *Ingester) observePoll(ctx context.Context, res Result, d time.Duration) {
	if res.Err != nil && interrupted(ctx, res.Err) {
		return
	}
	source := res.Source
	if source == "" {
		source = res.Stream.SourceID // the source could not be loaded
	}
	in.cfg.Metrics.PollDone(source, res.Stream.LogType, d, pollErrorKind(res.Err))
}

// pollErrorKind names what made a poll fail, from a small fixed set (a
// metric's label): "" for none.
func pollErrorKind(err error) string {
	var rejected *cursorRejectedError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, store.ErrLeaseLost):
		return "lease_lost"
	case errors.Is(err, ErrPollLimit):
		return "poll_limit"
	case errors.As(err, &rejected):
		return "cursor_rejected"
	}
	kind, ok := onepassword.KindOf(err)
	if !ok {
		return "other" // the store, or a source that cannot be loaded
	}
	switch kind {
	case onepassword.Unauthorized:
		return "unauthorized"
	case onepassword.MissingFeature:
		return "missing_feature"
	case onepassword.BadRequest:
		return "bad_request"
	case onepassword.RateLimited:
		return "rate_limited"
	case onepassword.Server:
		return "server"
	case onepassword.Network:
		return "network"
	case onepassword.Decode:
		return "decode"
	case onepassword.Protocol:
		return "protocol"
	}
	return "unexpected"
}
