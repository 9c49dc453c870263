-- Alerts out (issue 8): destinations, the outbox of notifications, triage
-- with its history, and what the source health stage watches. Times are
-- text as everywhere (see 0001).

-- Where notifications go. settings is the type's non-secret settings, a
-- JSON object; alert_types a JSON array (NULL: all types); secret is sealed
-- by package secret, bound to the id and type, and Query may not read it.
CREATE TABLE destinations (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	type         TEXT NOT NULL,
	min_severity TEXT NOT NULL DEFAULT '',
	alert_types  TEXT,
	settings     TEXT,
	secret       BLOB,
	enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL
) STRICT;

-- The outbox: one row per alert and destination and kind, written in the
-- transaction that creates (or resolves) the alert, so a crash loses none.
-- The deliver loop leases due rows as the poller leases streams. An alert
-- takes its notifications with it when purged; destination_id is no foreign
-- key because sent and failed rows outlive their destination as the alert's
-- delivery record (a removed destination's pending rows are deleted with
-- it). last_error_at dates last_error for DestinationStats.
CREATE TABLE notifications (
	id              TEXT PRIMARY KEY,
	alert_id        TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	destination_id  TEXT NOT NULL,
	kind            TEXT NOT NULL CHECK (kind IN ('trigger', 'resolve')),
	status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	last_attempt_at TEXT,
	last_error      TEXT NOT NULL DEFAULT '',
	last_error_at   TEXT,
	sent_at         TEXT,
	created_at      TEXT NOT NULL,
	lease_owner     TEXT NOT NULL DEFAULT '',
	lease_until     TEXT
) STRICT;

-- Claiming reads the pending rows that are due; sent and failed rows, the
-- bulk of the table, are not in this index.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_alert ON notifications (alert_id);
CREATE INDEX notifications_created ON notifications (created_at);
-- DestinationStats: counts by status and the last sent time from the index
-- alone, and the newest error without reading the rows that have none.
CREATE INDEX notifications_destination ON notifications (destination_id, status, sent_at);
CREATE INDEX notifications_destination_errors ON notifications (destination_id, last_error_at)
	WHERE last_error_at IS NOT NULL;

-- Triage: who did what to an alert, oldest first (by id: several entries
-- may share a time).
CREATE TABLE alert_history (
	id          INTEGER PRIMARY KEY,
	alert_id    TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	at          TEXT NOT NULL,
	actor       TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL,
	from_status TEXT NOT NULL DEFAULT '',
	to_status   TEXT NOT NULL DEFAULT '',
	assignee    TEXT NOT NULL DEFAULT '',
	comment     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX alert_history_alert ON alert_history (alert_id, id);

-- Alerts stored before this migration get their creation entry.
INSERT INTO alert_history (alert_id, at, actor, action, to_status)
	SELECT id, created_at, 'opwatch', 'create', status FROM alerts ORDER BY created_at, rowid;

ALTER TABLE alerts ADD COLUMN assignee TEXT NOT NULL DEFAULT '';

-- A condition opwatch watches (source health, delivery) is raised once,
-- whichever replica sees it: at most one unresolved system error per dedup
-- string (the condition's name) among those about no rule. The detect
-- stage's own system errors (the limiter's) name their rule and come once
-- per rule and hour, so they stay out of it: a commit of the stage never
-- fails on it.
CREATE UNIQUE INDEX alerts_condition ON alerts (dedup)
	WHERE type = 'system_error' AND rule_id = '' AND dedup <> '' AND status <> 'resolved';

-- Health lists the unresolved alerts of a type (and dedup) every round;
-- retention purges the resolved ones by age.
CREATE INDEX alerts_unresolved ON alerts (type, dedup) WHERE status <> 'resolved';
CREATE INDEX alerts_resolved ON alerts (updated_at) WHERE status = 'resolved';

-- Source health: the token's exp claim (NULL: none), and the no-events
-- alarm in seconds (0: off). Sources stored before it get the default, 24 h.
ALTER TABLE sources ADD COLUMN token_expires_at TEXT;
ALTER TABLE sources ADD COLUMN no_events_alarm INTEGER NOT NULL DEFAULT 86400 CHECK (no_events_alarm >= 0);

-- The store's time of the last commit that inserted an event into the
-- stream: the no-events alarm judges by ingest time, so late events count.
ALTER TABLE streams ADD COLUMN last_stored_at TEXT;
