package detect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// StageName is the detect stage's position key in the store.
const StageName = "detect"

// DefaultAlertsPerHour is Panther's alert limiter: a rule that creates this
// many alerts within an hour creates no more until the hour ends.
const DefaultAlertsPerHour = 1000

// StageConfig wires a Stage. Store and Rules are required.
type StageConfig struct {
	Store  store.Detect
	Rules  *Set
	Logger *slog.Logger
	// Stage names the position the stage keeps; default "detect". A replay
	// in memory never commits, whatever it is called.
	Stage string
	Batch int           // events read per batch; default 1000
	Idle  time.Duration // wait when caught up; default 1s
	Retry time.Duration // wait after a failed batch; default 5s
	// Workers evaluates different rules of a batch at once (each rule still
	// sees its events in order); default GOMAXPROCS.
	Workers       int
	AlertsPerHour int           // the limiter; default DefaultAlertsPerHour
	NewID         func() string // alert ids; default store.NewID
	// Now is the wall clock, used only to log how long an event waited for
	// its alert. Every decision takes its time from the events.
	Now func() time.Time
	// Only, when set, are the rules evaluated, enabled or not, instead of
	// the set's enabled ones (a replay of one rule).
	Only []*Rule
	// Metrics, when set, is told each rule's evaluations per batch and the
	// alerts stored.
	Metrics Metrics
	// Route turns a new alert into its notifications, stored with it (the
	// outbox); nil: alerts are recorded, not delivered.
	Route func(ctx context.Context, a store.Alert) ([]store.Notification, error)
	// EventClock takes each decision's time from p_event_time instead of
	// p_parse_time: a replay over history, whose parse times are when it
	// was collected.
	EventClock bool
}

// Metrics is what the stage reports (package metrics implements it).
type Metrics interface {
	// ObserveRules: a rule evaluated n events in d, errs of them failing.
	ObserveRules(ruleID string, n int, d time.Duration, errs int)
	AlertRaised(alertType, severity string)
}

// Stage reads events after its stored position, evaluates the enabled
// rules of each event's log type and commits alerts, matches, dedup groups,
// rule memory and its new position in one transaction. The clock of every
// decision (dedup periods, thresholds, the limiter, memory TTLs) is the
// event's p_parse_time, so a batch evaluated again after a crash decides
// exactly as it did the first time.
type Stage struct {
	cfg StageConfig
	log *slog.Logger

	loaded    bool
	pos       int64
	groups    map[groupKey]store.DedupGroup
	cache     map[string]map[stateKey]cachedValue // committed rule memory, by rule
	complete  bool                                // cache holds all of it (see ruleState)
	stateCap  int                                 // bound of cache; maxCachedState
	epoch     int64                               // the alert epoch the groups were read at
	lookups   *lookups
	byLogType map[string][]*Rule
	lastSweep time.Time
	// cost is how long each rule took over the last batch: the slowest
	// start first, so that the batch is not left waiting on one of them.
	cost map[string]time.Duration
	// prefetch reads the next batch while this one is evaluated.
	prefetch *prefetch
	// inflight is the commit of the last batch, stored while the next one
	// is evaluated. The next batch reads memory as that commit leaves it
	// and is itself committed only after it succeeded; when it fails, the
	// next batch is dropped and everything is read again from the store.
	inflight *inflight
	// watermark is the latest p_parse_time evaluated. An event's clock is
	// its parse time or the watermark, whichever is later: parse times are
	// not quite in seq order (pages of different streams commit in any
	// order), and a clock that never goes back makes every decision
	// independent of where batches happen to end.
	watermark time.Time
}

// groupKey is a dedup key: rule + dedup string. Rule errors are grouped
// under errorGroupRule(rule) so a dedup string cannot reach them.
type groupKey struct{ rule, dedup string }

const (
	ruleErrorDedup = "rule error"
	limiterDedup   = "alert limit"
	// Reserved names in the rule-id space for the stage's own groups and
	// memory; a rule id cannot be chosen by event data.
	errorGroupPrefix = "opwatch/rule-error/"
	limiterRule      = "opwatch/limiter"
)

func errorGroupRule(ruleID string) string { return errorGroupPrefix + ruleID }

// NewStage returns a Stage with cfg's defaults filled in.
func NewStage(cfg StageConfig) *Stage {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Stage == "" {
		cfg.Stage = StageName
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.AlertsPerHour <= 0 {
		cfg.AlertsPerHour = DefaultAlertsPerHour
	}
	if cfg.NewID == nil {
		cfg.NewID = store.NewID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Stage{cfg: cfg, log: cfg.Logger.With("stage", cfg.Stage), byLogType: map[string][]*Rule{},
		cost: map[string]time.Duration{}, stateCap: maxCachedState}
}

// prefetch is a read of the batch after position after, in flight.
type prefetch struct {
	after  int64
	done   chan struct{}
	events []store.StoredEvent
	err    error
}

func (s *Stage) startPrefetch(ctx context.Context, after int64) {
	p := &prefetch{after: after, done: make(chan struct{})}
	s.prefetch = p
	go func() {
		defer close(p.done)
		p.events, p.err = s.cfg.Store.EventsAfter(ctx, after, s.cfg.Batch)
	}()
}

// read returns the events after the stage's position: the prefetched ones
// when they were read from there.
func (s *Stage) read(ctx context.Context) ([]store.StoredEvent, error) {
	if p := s.prefetch; p != nil {
		s.prefetch = nil
		<-p.done
		if p.after == s.pos && p.err == nil {
			return p.events, nil
		}
	}
	return s.cfg.Store.EventsAfter(ctx, s.pos, s.cfg.Batch)
}

// inflight is a batch's commit in progress.
type inflight struct {
	done chan struct{}
	err  error
}

// startCommit stores c in the background; the batch's alerts are logged
// once they are stored.
// latency is measured from the p_parse_time of the event that opened each
// alert (taken just before its page committed) to the alert's commit.
func (s *Stage) startCommit(ctx context.Context, c store.DetectCommit, parsed map[string]time.Time) {
	f := &inflight{done: make(chan struct{})}
	s.inflight = f
	// A commit under way when serve stops is finished, not abandoned.
	cctx := context.WithoutCancel(ctx)
	go func() {
		defer close(f.done)
		if err := s.cfg.Store.CommitDetect(cctx, c); err != nil {
			f.err = fmt.Errorf("commit detections up to %d: %w", c.To, err)
			return
		}
		for _, a := range c.Alerts {
			if s.cfg.Metrics != nil {
				s.cfg.Metrics.AlertRaised(a.Type, a.Severity)
			}
			s.log.Info("alert opened", "alert", a.ID, "type", a.Type, "rule", a.RuleID, "severity", a.Severity,
				"title", a.Title, "latency", s.cfg.Now().Sub(parsed[a.ID]).Round(time.Millisecond))
		}
	}()
}

// settle waits for the commit in flight and returns its error (then
// nothing of that batch was stored).
func (s *Stage) settle() error {
	f := s.inflight
	if f == nil {
		return nil
	}
	<-f.done
	s.inflight = nil
	return f.err
}

// Flush waits until every batch Step evaluated is stored, and returns the
// error of a commit that failed (the next Step reads from the store again).
func (s *Stage) Flush() error {
	if err := s.settle(); err != nil {
		s.loaded = false
		return err
	}
	return nil
}

// stopPrefetch waits for a read in flight (Run returns with nothing left running).
func (s *Stage) stopPrefetch() {
	if p := s.prefetch; p != nil {
		<-p.done
		s.prefetch = nil
	}
}

// Run evaluates batches until ctx is cancelled, waiting Idle when caught
// up. It fails at once when the store cannot be read at start (a wrong
// schema would fail every batch after); later failures are logged and the
// batch is retried from the stored position after Retry.
func (s *Stage) Run(ctx context.Context) error {
	if err := s.load(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("detect cannot start: %w", err)
	}
	defer s.stopPrefetch()
	defer func() {
		if err := s.Flush(); err != nil {
			s.log.Error("the last detect batch was not stored; it is evaluated again at the next start", "err", err)
		}
	}()
	s.log.Info("detect started", "position", s.pos, "rules", len(s.cfg.Rules.Rules()), "open_groups", len(s.groups))
	for {
		res, err := s.Step(ctx)
		wait := time.Duration(0)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, store.ErrPositionMoved):
			s.log.Info("reloading the detect position and dedup groups: an alert was resolved, or another detect runner committed first")
		case err != nil:
			s.log.Error("detect batch failed; retrying from the stored position", "err", err)
			wait = s.cfg.Retry
		case res.Events < s.cfg.Batch:
			wait = s.cfg.Idle
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// StepResult is what one batch did.
type StepResult struct {
	Events     int
	Position   int64 // after the batch
	Alerts     int   // alerts opened (rule, rule error and system error)
	Matches    int   // matches stored (in new and open alerts)
	RuleErrors int   // evaluations that failed
}

// Step evaluates and commits one batch (fewer than Batch events: caught
// up). After a failed Step the next one reloads the stored state first.
func (s *Stage) Step(ctx context.Context) (StepResult, error) {
	if !s.loaded {
		if err := s.load(ctx); err != nil {
			return StepResult{}, err
		}
	}
	events, err := s.read(ctx)
	if err != nil {
		return StepResult{}, fmt.Errorf("read events after %d: %w", s.pos, err)
	}
	if len(events) == 0 {
		// Caught up: what was evaluated is stored before this is said.
		if err := s.Flush(); err != nil {
			return StepResult{}, err
		}
		return StepResult{Position: s.pos}, nil
	}
	if len(events) == s.cfg.Batch {
		// More are likely waiting: read them while this batch is evaluated.
		s.startPrefetch(ctx, events[len(events)-1].Seq)
	}
	if err := s.lookups.refresh(ctx, s.cfg.Store); err != nil {
		return StepResult{}, err
	}
	b := s.newBatch(ctx, events)
	if err := b.evaluate(); err != nil {
		s.loaded = false
		return StepResult{}, err
	}
	if err := b.decide(); err != nil {
		s.loaded = false
		return StepResult{}, err
	}
	c := b.commit()
	if err := s.route(ctx, &c); err != nil {
		s.loaded = false
		return StepResult{}, err
	}
	// This batch was evaluated on what the previous one left in memory: it
	// is stored only if that was. When it was not, nothing of either is,
	// and both are read and evaluated again from the stored position.
	if err := s.Flush(); err != nil {
		return StepResult{}, err
	}
	s.trimCache()
	s.startCommit(ctx, c, b.parsed)
	s.applied(b, c)
	return StepResult{Events: len(events), Position: s.pos, Alerts: len(c.Alerts), Matches: len(c.Matches), RuleErrors: b.ruleErrors}, nil
}

// load reads the stored position and dedup groups, and starts the caches
// afresh: after a failed commit nothing in memory can be trusted.
func (s *Stage) load(ctx context.Context) error {
	s.settle() // whatever it did is read back below
	pos, err := s.cfg.Store.Position(ctx, s.cfg.Stage)
	if err != nil {
		return fmt.Errorf("read the detect position: %w", err)
	}
	// Read before the groups: a resolve in between moves it, and the first
	// commit then reloads rather than keep a group the resolve ended.
	epoch, err := s.cfg.Store.AlertEpoch(ctx)
	if err != nil {
		return fmt.Errorf("read the alert epoch: %w", err)
	}
	gs, err := s.cfg.Store.DedupGroups(ctx)
	if err != nil {
		return fmt.Errorf("read the dedup groups: %w", err)
	}
	s.stopPrefetch()
	s.pos = pos
	s.epoch = epoch
	s.groups = make(map[groupKey]store.DedupGroup, len(gs))
	for _, g := range gs {
		s.groups[groupKey{g.RuleID, g.Dedup}] = g
	}
	s.cache = map[string]map[stateKey]cachedValue{}
	s.lookups = newLookups()
	s.lastSweep = time.Time{}
	s.watermark = time.Time{}
	if pos > 0 && !s.cfg.EventClock {
		evs, err := s.cfg.Store.EventsBySeq(ctx, []int64{pos})
		if err != nil {
			return fmt.Errorf("read the last event evaluated: %w", err)
		}
		if len(evs) == 1 {
			s.watermark = evs[0].ParseTime
		}
	}
	if err := s.preloadState(ctx); err != nil {
		return err
	}
	s.loaded = true
	return nil
}

// route adds the notifications of the batch's new alerts.
func (s *Stage) route(ctx context.Context, c *store.DetectCommit) error {
	if s.cfg.Route == nil {
		return nil
	}
	for _, a := range c.Alerts {
		ns, err := s.cfg.Route(ctx, a)
		if err != nil {
			return fmt.Errorf("route alert %s: %w", a.ID, err)
		}
		c.Notifications = append(c.Notifications, ns...)
	}
	return nil
}

// rulesFor is the enabled rules of a log type, asked of the set once.
func (s *Stage) rulesFor(logType string) []*Rule {
	rs, ok := s.byLogType[logType]
	if !ok {
		if s.cfg.Only != nil {
			for _, r := range s.cfg.Only {
				if slices.Contains(r.LogTypes, logType) {
					rs = append(rs, r)
				}
			}
		} else {
			rs = s.cfg.Rules.ForLogType(logType)
		}
		s.byLogType[logType] = rs
	}
	return rs
}

// applied makes a batch whose commit started the stage's state.
func (s *Stage) applied(b *batch, c store.DetectCommit) {
	s.pos = c.To
	s.watermark = b.clock
	if b.swept {
		s.lastSweep = b.clock
	}
	for k, g := range b.groups {
		if g == nil {
			delete(s.groups, k)
			continue
		}
		s.groups[k] = *g
	}
	for _, rs := range b.states {
		rs.committed()
	}
}

// preloadState reads all of the rules' memory live at the watermark in one
// pass, when it fits the cache: reads of absent keys then cost nothing.
// Every later decision's clock is at or past the watermark, so a value
// expired at it stays expired.
func (s *Stage) preloadState(ctx context.Context) error {
	s.complete = false
	complete, err := s.cfg.Store.RuleStates(ctx, s.watermark, s.stateCap, func(rule, key string, v store.StateValue) {
		c, ok := s.cache[rule]
		if !ok {
			c = map[stateKey]cachedValue{}
			s.cache[rule] = c
		}
		c[stateKey{rule, key}] = cachedValue{value: v.Value, expires: v.ExpiresAt, found: true}
	})
	if err != nil {
		return fmt.Errorf("read the rules' memory: %w", err)
	}
	s.complete = complete
	return nil
}

// trimCache bounds the cache of committed memory: values expired at the
// watermark go first; when that is not enough the cache is dropped and
// keys are read from the store again. Only while no commit is in flight:
// the cache holds the writes of a batch being committed, which the store
// may not show yet.
func (s *Stage) trimCache() {
	n := 0
	for _, m := range s.cache {
		n += len(m)
	}
	if n <= s.stateCap {
		return
	}
	n = 0
	for _, m := range s.cache {
		for k, c := range m {
			if !c.found || !live(c.expires, s.watermark) {
				if s.complete || !c.found {
					// Absent either way: complete, or remembered absent.
					delete(m, k)
					continue
				}
				m[k] = cachedValue{} // remembered as absent, so not read again
			}
			n++
		}
	}
	if n > s.stateCap {
		s.cache = map[string]map[stateKey]cachedValue{}
		s.complete = false
	}
}

// batch is one batch being evaluated: everything it changes stays here
// until the commit is stored.
type batch struct {
	s      *Stage
	ctx    context.Context
	events []store.StoredEvent
	evs    []*Event
	rules  [][]*Rule   // per event
	now    []time.Time // per event: the clock of its decisions

	states map[string]*ruleState // by rule id (the limiter's included)
	hits   []hit

	groups     map[groupKey]*store.DedupGroup // changed groups; nil = dropped
	alerts     []store.Alert
	alertIdx   map[string]int // alert id → index in alerts
	matches    []store.AlertMatch
	parsed     map[string]time.Time // alert id → p_parse_time of the event that opened it
	ruleErrors int
	clock      time.Time // the clock after the batch
	swept      bool
}

// hit is an evaluation that matched or failed.
type hit struct {
	event, order int // event index; rule order within the event
	rule         *Rule
	out          Outcome
}

func (s *Stage) newBatch(ctx context.Context, events []store.StoredEvent) *batch {
	b := &batch{s: s, ctx: ctx, events: events, states: map[string]*ruleState{},
		groups: map[groupKey]*store.DedupGroup{}, alertIdx: map[string]int{}, parsed: map[string]time.Time{}}
	b.evs = make([]*Event, len(events))
	b.rules = make([][]*Rule, len(events))
	b.now = make([]time.Time, len(events))
	b.clock = s.watermark
	for i, ev := range events {
		b.evs[i] = NewEvent(ev, s.lookups.enrich(ev))
		b.rules[i] = s.rulesFor(ev.LogType)
		for _, r := range b.rules[i] {
			b.state(r.ID)
		}
		if s.cfg.EventClock {
			b.now[i] = ev.EventTime
			continue
		}
		if ev.ParseTime.After(b.clock) {
			b.clock = ev.ParseTime
		}
		b.now[i] = b.clock
	}
	return b
}

// state is a rule's memory for this batch (created before evaluation
// starts, so the map is only read while rules run in parallel).
func (b *batch) state(ruleID string) *ruleState {
	rs, ok := b.states[ruleID]
	if !ok {
		c, ok := b.s.cache[ruleID]
		if !ok {
			c = map[stateKey]cachedValue{}
			b.s.cache[ruleID] = c
		}
		rs = newRuleState(b.ctx, b.s.cfg.Store, c, b.s.complete)
		b.states[ruleID] = rs
	}
	return rs
}

// evaluate runs every rule over its events. Each rule sees its events in
// seq order on one goroutine (its memory depends on the order); different
// rules run at once.
func (b *batch) evaluate() error {
	type work struct {
		rule   *Rule
		events []int // event indexes
		orders []int // the rule's place among each event's rules (a map cost more than the rules)
	}
	byRule := map[*Rule]*work{}
	var works []*work
	for i, rs := range b.rules {
		for j, r := range rs {
			w := byRule[r]
			if w == nil {
				w = &work{rule: r}
				byRule[r] = w
				works = append(works, w)
			}
			w.events = append(w.events, i)
			w.orders = append(w.orders, j)
		}
	}
	// The slowest rules first (by the last batch; else the most events).
	slices.SortStableFunc(works, func(x, y *work) int {
		if c := cmp.Compare(b.s.cost[y.rule.ID], b.s.cost[x.rule.ID]); c != 0 {
			return c
		}
		return cmp.Compare(len(y.events), len(x.events))
	})
	results := make([][]hit, len(works))
	took := make([]time.Duration, len(works))
	run := func(k int) {
		w := works[k]
		st := b.states[w.rule.ID]
		start := time.Now()
		defer func() { took[k] = time.Since(start) }()
		for n, i := range w.events {
			st.now = b.now[i]
			out := evaluateSafely(w.rule, b.evs[i], st, st.now)
			if out.Matched || out.Err != nil || out.AuxErr != nil {
				results[k] = append(results[k], hit{event: i, order: w.orders[n], rule: w.rule, out: out})
			}
		}
	}
	workers := min(b.s.cfg.Workers, len(works))
	if workers <= 1 {
		for k := range works {
			run(k)
		}
	} else {
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for k := range next {
					run(k)
				}
			})
		}
		for k := range works {
			next <- k
		}
		close(next)
		wg.Wait()
	}
	for k, w := range works {
		b.s.cost[w.rule.ID] = took[k]
		if m := b.s.cfg.Metrics; m != nil {
			errs := 0
			for _, h := range results[k] {
				if h.out.Err != nil {
					errs++
				}
			}
			m.ObserveRules(w.rule.ID, len(w.events), took[k], errs)
		}
		if err := b.states[w.rule.ID].err; err != nil {
			return fmt.Errorf("read the memory of rule %s: %w", w.rule.ID, err)
		}
	}
	for _, r := range results {
		b.hits = append(b.hits, r...)
	}
	// Alerts are decided in the order the events were stored, then in the
	// order of the rules: the same on every run.
	slices.SortFunc(b.hits, func(x, y hit) int {
		if x.event != y.event {
			return x.event - y.event
		}
		return x.order - y.order
	})
	return nil
}

// evaluateSafely turns a panic of a rule's evaluation into a rule error:
// a rule never stops the stage.
func evaluateSafely(r *Rule, ev *Event, st State, now time.Time) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			out = Outcome{Err: fmt.Errorf("rule evaluation panicked: %v", p)}
		}
	}()
	return r.Evaluate(ev, st, now)
}

// decide applies dedup, threshold, limiter and rule errors to the hits.
func (b *batch) decide() error {
	for _, h := range b.hits {
		ev, now := b.events[h.event], b.now[h.event]
		// A failed title, dedup, ... is reported as a rule error too, and
		// its match still counts (with Panther's fallbacks).
		if err := cmp.Or(h.out.Err, h.out.AuxErr); err != nil {
			b.ruleErrors++
			b.ruleError(h.rule, ev, now, err)
		}
		if h.out.Matched {
			if err := b.match(h.rule, ev, now, h.out); err != nil {
				return err
			}
		}
	}
	if st := b.states[limiterRule]; st != nil && st.err != nil {
		return fmt.Errorf("read the alert limiter: %w", st.err)
	}
	b.sweep()
	return nil
}

// group is the current state of a dedup key, with the batch's changes.
func (b *batch) group(k groupKey) *store.DedupGroup {
	if g, ok := b.groups[k]; ok {
		return g
	}
	g, ok := b.s.groups[k]
	if !ok {
		return nil
	}
	c := g
	c.Pending = slices.Clone(g.Pending)
	b.groups[k] = &c
	return &c
}

func dedupPeriod(r *Rule) time.Duration {
	if r.DedupPeriod <= 0 {
		return time.Hour
	}
	return r.DedupPeriod
}

// match records one match of a rule: it joins the open alert of its dedup
// key, counts towards the threshold, or opens an alert.
func (b *batch) match(r *Rule, ev store.StoredEvent, now time.Time, out Outcome) error {
	dedup := out.Dedup
	if dedup == "" {
		dedup = "defaultDedupString:" + r.ID
	}
	k := groupKey{r.ID, dedup}
	g := b.group(k)
	if g == nil || !now.Before(g.PeriodEnd) {
		// The period counts from the first match.
		g = &store.DedupGroup{RuleID: r.ID, Dedup: dedup, PeriodEnd: now.Add(dedupPeriod(r))}
		b.groups[k] = g
	}
	g.Matches++
	if g.AlertID != "" {
		b.addMatch(g.AlertID, ev.Seq, ev.EventTime)
		return nil
	}
	g.Pending = append(g.Pending, ev.Seq)
	if g.Matches < max(r.Threshold, 1) {
		return nil
	}
	if !b.allow(r, ev, now) {
		// Limited: the matches are signals only. The count starts again.
		g.Matches, g.Pending = 0, nil
		return nil
	}
	// The alert takes its title, severity and context from the match that
	// reached the threshold; the matches counted on the way are its events.
	times, err := b.eventTimes(g.Pending)
	if err != nil {
		return err
	}
	a := store.Alert{
		ID: b.s.cfg.NewID(), Type: store.AlertRule, RuleID: r.ID, Dedup: dedup,
		Title: out.Title, Severity: severity(out.Severity, r.Severity), Status: store.AlertOpen,
		Context: out.Context, Description: out.Description, Reference: out.Reference, Runbook: out.Runbook,
		PeriodEnd: g.PeriodEnd,
	}
	if a.Title == "" {
		a.Title = cmp.Or(r.DisplayName, r.ID)
	}
	a.Description = cmp.Or(a.Description, r.Description)
	a.Reference = cmp.Or(a.Reference, r.Reference)
	a.Runbook = cmp.Or(a.Runbook, r.Runbook)
	if out.DestinationsSet {
		a.Destinations = append([]string{}, out.Destinations...) // [] suppresses delivery
	}
	b.openAlert(a, ev)
	for i, seq := range g.Pending {
		b.addMatch(a.ID, seq, times[i])
	}
	g.AlertID, g.Pending = a.ID, nil
	return nil
}

// eventTimes is the p_event_time of pending matches: from the batch, or
// from the store for matches of earlier batches.
func (b *batch) eventTimes(seqs []int64) ([]time.Time, error) {
	out := make([]time.Time, len(seqs))
	var missing []int64
	for i, seq := range seqs {
		if j, ok := slices.BinarySearchFunc(b.events, seq, func(e store.StoredEvent, s int64) int { return cmp64(e.Seq, s) }); ok {
			out[i] = b.events[j].EventTime
		} else {
			missing = append(missing, seq)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	evs, err := b.s.cfg.Store.EventsBySeq(b.ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("read the pending matches of a dedup group: %w", err)
	}
	at := make(map[int64]time.Time, len(evs))
	for _, e := range evs {
		at[e.Seq] = e.EventTime
	}
	for i, seq := range seqs {
		if out[i].IsZero() {
			out[i] = at[seq]
		}
	}
	return out, nil
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (b *batch) openAlert(a store.Alert, ev store.StoredEvent) {
	a.FirstEventAt, a.LastEventAt = ev.EventTime, ev.EventTime
	b.alertIdx[a.ID] = len(b.alerts)
	b.alerts = append(b.alerts, a)
	b.parsed[a.ID] = ev.ParseTime
}

// addMatch ties an event to an alert; an alert of this batch follows its
// matches' event times (the store does so for stored alerts).
func (b *batch) addMatch(alertID string, seq int64, at time.Time) {
	b.matches = append(b.matches, store.AlertMatch{AlertID: alertID, Seq: seq, EventTime: at})
	if i, ok := b.alertIdx[alertID]; ok {
		a := &b.alerts[i]
		a.Events++
		if !at.IsZero() && at.Before(a.FirstEventAt) {
			a.FirstEventAt = at
		}
		if at.After(a.LastEventAt) {
			a.LastEventAt = at
		}
	}
}

// allow is the limiter: a rule may open AlertsPerHour alerts per clock hour
// (of p_parse_time); the first refusal raises one system error. The counts
// are kept in the stage's memory, committed with the batch, so a replay
// counts the same.
func (b *batch) allow(r *Rule, ev store.StoredEvent, now time.Time) bool {
	hour := now.UTC().Truncate(time.Hour)
	st := b.state(limiterRule)
	st.now = now
	key := r.ID + "@" + hour.Format(time.RFC3339)
	n := 0
	if v, ok := st.Get(limiterRule, key); ok {
		_ = json.Unmarshal(v, &n)
	}
	limit := b.s.cfg.AlertsPerHour
	if n > limit {
		return false
	}
	n++
	v, _ := json.Marshal(n)
	st.Put(limiterRule, key, v, hour.Add(2*time.Hour))
	if n <= limit {
		return true
	}
	ctx, _ := json.Marshal(map[string]any{"rule_id": r.ID, "limit": limit, "hour": hour.Format(time.RFC3339)})
	b.openAlert(store.Alert{
		ID: b.s.cfg.NewID(), Type: store.AlertSystemError, RuleID: r.ID, Dedup: limiterDedup,
		Title: fmt.Sprintf("Rule %s reached %d alerts within an hour: it creates no more alerts until %s UTC",
			r.ID, limit, hour.Add(time.Hour).Format("15:04")),
		Severity: "HIGH", Status: store.AlertOpen, Context: ctx, PeriodEnd: hour.Add(time.Hour),
		Runbook: "The rule matches far more than it should: tune it (opwatch rules replay --rule " + r.ID +
			" --since 1d shows what it raises), raise its threshold or dedup period, or disable it. Its matches in the rest of the hour are not alerts.",
	}, ev)
	b.s.log.Warn("alert limit reached; the rule creates no more alerts this hour", "rule", r.ID, "limit", limit)
	return false
}

// ruleError raises a rule-error alert, one per rule per dedup period; the
// failing events are its matches.
func (b *batch) ruleError(r *Rule, ev store.StoredEvent, now time.Time, err error) {
	k := groupKey{errorGroupRule(r.ID), ruleErrorDedup}
	g := b.group(k)
	if g != nil && now.Before(g.PeriodEnd) && g.AlertID != "" {
		g.Matches++
		b.addMatch(g.AlertID, ev.Seq, ev.EventTime)
		return
	}
	msg := err.Error()
	g = &store.DedupGroup{RuleID: k.rule, Dedup: k.dedup, PeriodEnd: now.Add(dedupPeriod(r)), Matches: 1}
	b.groups[k] = g
	ctx, _ := json.Marshal(map[string]any{"rule_id": r.ID, "error": msg, "log_type": ev.LogType, "p_row_id": ev.RowID})
	a := store.Alert{
		ID: b.s.cfg.NewID(), Type: store.AlertRuleError, RuleID: r.ID, Dedup: ruleErrorDedup,
		Title: fmt.Sprintf("Rule %s failed: %s", r.ID, truncate(firstLine(msg), 300)), Severity: severity("", r.Severity),
		Status: store.AlertOpen, Context: ctx, PeriodEnd: g.PeriodEnd,
		Runbook: "The rule failed on the events of this alert and did not judge them. Fix it, check it with " +
			"opwatch rules test --filter RuleID=" + r.ID + ", and run opwatch rules replay --rule " + r.ID + " to see what it missed.",
	}
	g.AlertID = a.ID
	b.openAlert(a, ev)
	b.addMatch(a.ID, ev.Seq, ev.EventTime)
	b.s.log.Warn("rule error", "rule", r.ID, "alert", a.ID, "err", msg)
}

// sweep drops the groups whose period ended before the batch's clock, at
// most once a minute of it (a group past its end is never joined anyway).
// Under EventClock the clock goes back and forth: groups stay (a replay's
// groups live in memory only).
func (b *batch) sweep() {
	if b.s.cfg.EventClock || b.clock.Sub(b.s.lastSweep) < time.Minute {
		return
	}
	b.swept = true
	for k, g := range b.s.groups {
		if _, changed := b.groups[k]; !changed && !b.clock.Before(g.PeriodEnd) {
			b.groups[k] = nil
		}
	}
	for k, g := range b.groups {
		if g != nil && !b.clock.Before(g.PeriodEnd) {
			if _, stored := b.s.groups[k]; stored {
				b.groups[k] = nil
			} else {
				delete(b.groups, k)
			}
		}
	}
}

// commit is the batch as one store transaction.
func (b *batch) commit() store.DetectCommit {
	c := store.DetectCommit{Stage: b.s.cfg.Stage, From: b.s.pos, To: b.events[len(b.events)-1].Seq,
		Alerts: b.alerts, Matches: b.matches, Epoch: b.s.epoch}
	if !b.s.cfg.EventClock {
		c.Now = b.clock // expired memory is purged by the events' clock, as it expires
	}
	keys := make([]groupKey, 0, len(b.groups))
	for k := range b.groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y groupKey) int {
		return cmp.Or(strings.Compare(x.rule, y.rule), strings.Compare(x.dedup, y.dedup))
	})
	for _, k := range keys {
		if g := b.groups[k]; g != nil {
			c.Groups = append(c.Groups, *g)
		} else {
			c.DropGroups = append(c.DropGroups, store.DedupGroup{RuleID: k.rule, Dedup: k.dedup})
		}
	}
	ids := make([]string, 0, len(b.states))
	for id := range b.states {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.State = append(c.State, b.states[id].commitChanges()...)
	}
	return c
}

// severity is an alert's severity in the store's form: severity()'s value,
// else the rule's.
func severity(dynamic, static string) string {
	s := strings.ToUpper(strings.TrimSpace(dynamic))
	if s == "" || s == "DEFAULT" {
		s = strings.ToUpper(strings.TrimSpace(static))
	}
	if s == "" {
		s = "INFO"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && (s[cut]&0xC0) == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
