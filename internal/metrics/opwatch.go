package metrics

import (
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// BuildInfo labels opwatch_build_info.
type BuildInfo struct {
	Version   string // "" is shown as "dev"
	Revision  string // the VCS revision, if known
	GoVersion string // default runtime.Version()
}

// OpwatchOptions configure NewOpwatch.
type OpwatchOptions struct {
	Build BuildInfo
	// Now is the clock of the ages computed at scrape time; default time.Now.
	Now           func() time.Time
	ScrapeTimeout time.Duration // per collector; default 5s
	MaxSeries     int           // per family; default DefaultMaxSeries
	Logger        *slog.Logger
}

// Opwatch holds opwatch's instruments on a registry of their own. Its
// methods are the hooks the stages call (each safe for concurrent use and
// cheap), and its Collect* methods add the state read from the store at
// scrape time.
type Opwatch struct {
	reg *Registry
	now func() time.Time

	eventsStored      *CounterVec
	eventsQuarantined *CounterVec
	eventsDuplicate   *CounterVec
	pollDuration      *HistogramVec
	pollErrors        *CounterVec
	apiRequests       *CounterVec
	apiRateLimited    *CounterVec
	apiDuration       *HistogramVec
	ruleEvals         *CounterVec
	ruleErrors        *CounterVec
	ruleSeconds       *CounterVec
	alertsRaised      *CounterVec

	rules sync.Map // rule id → *ruleInstruments
}

// Buckets of the duration histograms, in seconds. A poll may run up to
// ingest's MaxPollTime (10 minutes by default); a request up to its 30 s
// timeout.
var (
	PollBuckets    = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	RequestBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// NewOpwatch registers opwatch's instruments on a new registry.
func NewOpwatch(o OpwatchOptions) *Opwatch {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Build.Version == "" {
		o.Build.Version = "dev"
	}
	if o.Build.GoVersion == "" {
		o.Build.GoVersion = runtime.Version()
	}
	r := NewRegistry(Options{Namespace: "opwatch", ScrapeTimeout: o.ScrapeTimeout, MaxSeries: o.MaxSeries, Logger: o.Logger})
	m := &Opwatch{reg: r, now: o.Now}
	r.Gauge("opwatch_build_info", "Always 1; the labels say which opwatch runs.", "version", "revision", "goversion").
		With(o.Build.Version, o.Build.Revision, o.Build.GoVersion).Set(1)
	m.eventsStored = r.Counter("opwatch_events_stored_total",
		"Events stored by this process (new, not duplicates), per source and log type.", "source", "log_type")
	m.eventsQuarantined = r.Counter("opwatch_events_quarantined_total",
		"Events quarantined by this process (failed validation), per source and log type.", "source", "log_type")
	m.eventsDuplicate = r.Counter("opwatch_events_duplicate_total",
		"Events read again and absorbed by the unique key (overlaps, reconciliation), per source and log type.", "source", "log_type")
	m.pollDuration = r.Histogram("opwatch_poll_duration_seconds",
		"How long a poll of one stream took (every page of it).", PollBuckets, "source", "log_type")
	m.pollErrors = r.Counter("opwatch_poll_errors_total",
		"Polls that failed, per source, log type and what failed (unauthorized, rate_limited, network, ...).", "source", "log_type", "kind")
	m.apiRequests = r.Counter("opwatch_api_requests_total",
		"HTTP attempts at the 1Password Events API (retries included), per endpoint and status class (2xx, 4xx, 5xx; none when no response came).",
		"endpoint", "status_class")
	m.apiRateLimited = r.Counter("opwatch_api_rate_limited_total",
		"429 answers of the 1Password Events API, per endpoint.", "endpoint")
	m.apiDuration = r.Histogram("opwatch_api_request_duration_seconds",
		"How long an HTTP attempt at the Events API took, per endpoint.", RequestBuckets, "endpoint")
	m.ruleEvals = r.Counter("opwatch_rule_evaluations_total", "Evaluations of a rule on an event.", "rule")
	m.ruleErrors = r.Counter("opwatch_rule_errors_total", "Evaluations of a rule that failed.", "rule")
	m.ruleSeconds = r.Counter("opwatch_rule_evaluation_seconds_total",
		"Time spent evaluating a rule; divided by opwatch_rule_evaluations_total, its mean cost.", "rule")
	m.alertsRaised = r.Counter("opwatch_alerts_raised_total", "Alerts created, per type (rule, rule_error, system_error) and severity.", "type", "severity")
	return m
}

// Registry is the registry to serve at /metrics.
func (m *Opwatch) Registry() *Registry { return m.reg }

// PageStored counts what a committed page stored (ingest.Metrics).
func (m *Opwatch) PageStored(source, logType string, r store.CommitResult) {
	m.eventsStored.With(source, logType).Add(float64(r.Inserted))
	m.eventsQuarantined.With(source, logType).Add(float64(r.Quarantined))
	m.eventsDuplicate.With(source, logType).Add(float64(r.Duplicates))
}

// PollDone records a poll's duration and, with errKind, its failure
// (ingest.Metrics).
func (m *Opwatch) PollDone(source, logType string, d time.Duration, errKind string) {
	m.pollDuration.With(source, logType).ObserveDuration(d)
	if errKind != "" {
		m.pollErrors.With(source, logType, errKind).Inc()
	}
}

// ObserveRequest records one HTTP attempt at the Events API
// (onepassword.Options.Observe, ingest.Config.ObserveRequest).
func (m *Opwatch) ObserveRequest(ri onepassword.RequestInfo) {
	endpoint := ri.Endpoint
	switch onepassword.Feature(endpoint) {
	case onepassword.SignInAttempts, onepassword.ItemUsages, onepassword.AuditEvents:
	default:
		if endpoint != "introspect" {
			endpoint = "other"
		}
	}
	m.apiRequests.With(endpoint, statusClass(ri.Status)).Inc()
	if ri.Status == 429 {
		m.apiRateLimited.With(endpoint).Inc()
	}
	m.apiDuration.With(endpoint).ObserveDuration(ri.Duration)
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return strconv.Itoa(status/100) + "xx"
}

// ruleInstruments are one rule's counters, looked up once per rule.
type ruleInstruments struct{ evals, errors, seconds *Counter }

func (m *Opwatch) rule(id string) *ruleInstruments {
	if ri, ok := m.rules.Load(id); ok {
		return ri.(*ruleInstruments)
	}
	ri := &ruleInstruments{m.ruleEvals.With(id), m.ruleErrors.With(id), m.ruleSeconds.With(id)}
	// Only ids below the family's bound are remembered: past it, every
	// new id shares the overflow series and is looked up again each time,
	// so the map stays as bounded as the families.
	if ri.evals.s.labels[0] == OverflowValue && id != OverflowValue {
		return ri
	}
	actual, _ := m.rules.LoadOrStore(id, ri)
	return actual.(*ruleInstruments)
}

// ObserveRule records one evaluation of a rule on an event: its time, and
// whether it failed. For the detect stage; rule ids label the series, so
// their number is the number of loaded rules (bounded by MaxSeries).
func (m *Opwatch) ObserveRule(ruleID string, d time.Duration, failed bool) {
	m.ObserveRules(ruleID, 1, d, btoi(failed))
}

// ObserveRules records n evaluations of a rule, taking d in all, of which
// errs failed: the cheaper hook for a stage that times a rule over a batch.
func (m *Opwatch) ObserveRules(ruleID string, n int, d time.Duration, errs int) {
	ri := m.rule(ruleID)
	ri.evals.Add(float64(n))
	ri.seconds.Add(d.Seconds())
	ri.errors.Add(float64(errs))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AlertRaised counts a created alert of a type (store.AlertRule, ...) and
// severity (INFO ... CRITICAL). For the detect and health stages.
func (m *Opwatch) AlertRaised(alertType, severity string) {
	m.alertsRaised.With(alertType, severity).Inc()
}
