-- The detect stage (and later stages): each reads the events after its own
-- position (events.seq) and stores what it made together with its new
-- position, in one transaction.
CREATE TABLE stage_positions (
	stage      TEXT PRIMARY KEY,
	position   INTEGER NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

-- One alert: a rule's matches grouped by dedup string within the rule's
-- dedup period, or an error. Times are text as everywhere (see 0001);
-- context is a JSON object, destinations a JSON array (NULL: by severity).
CREATE TABLE alerts (
	id             TEXT PRIMARY KEY,
	type           TEXT NOT NULL CHECK (type IN ('rule', 'rule_error', 'system_error')),
	rule_id        TEXT NOT NULL DEFAULT '',
	dedup          TEXT NOT NULL DEFAULT '',
	title          TEXT NOT NULL DEFAULT '',
	severity       TEXT NOT NULL DEFAULT '',
	status         TEXT NOT NULL CHECK (status IN ('open', 'triaged', 'resolved')),
	context        TEXT,
	description    TEXT NOT NULL DEFAULT '',
	reference      TEXT NOT NULL DEFAULT '',
	runbook        TEXT NOT NULL DEFAULT '',
	destinations   TEXT,
	events         INTEGER NOT NULL DEFAULT 0, -- rows in alert_matches
	first_event_at TEXT,
	last_event_at  TEXT,
	period_end     TEXT,
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL
) STRICT;

CREATE INDEX alerts_created ON alerts (created_at);
-- The limiter counts a rule's alerts of the last hour.
CREATE INDEX alerts_rule_created ON alerts (rule_id, created_at);

-- The events of an alert, by position. The primary key makes a match
-- impossible to store (and count) twice.
CREATE TABLE alert_matches (
	alert_id   TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,
	event_time TEXT NOT NULL,
	PRIMARY KEY (alert_id, seq)
) STRICT, WITHOUT ROWID;

-- The state of a dedup key (rule + dedup string) in its current period;
-- pending holds the seqs matched below the threshold, a JSON array.
CREATE TABLE dedup_groups (
	rule_id    TEXT NOT NULL,
	dedup      TEXT NOT NULL,
	period_end TEXT NOT NULL,
	alert_id   TEXT NOT NULL DEFAULT '',
	matches    INTEGER NOT NULL DEFAULT 0,
	pending    TEXT,
	PRIMARY KEY (rule_id, dedup)
) STRICT;

-- Stateful rules' memory; value is the rule's JSON, expires_at NULL: never.
CREATE TABLE rule_state (
	rule_id    TEXT NOT NULL,
	key        TEXT NOT NULL,
	value      BLOB NOT NULL,
	expires_at TEXT,
	PRIMARY KEY (rule_id, key)
) STRICT;

CREATE INDEX rule_state_expires ON rule_state (expires_at) WHERE expires_at IS NOT NULL;

-- User-loaded lookup tables. version comes from counters('lookup_version'),
-- so a table removed and loaded again never reuses a version a cache holds.
CREATE TABLE lookup_tables (
	name       TEXT PRIMARY KEY,
	key_column TEXT NOT NULL,
	log_type   TEXT NOT NULL,
	selector   TEXT NOT NULL,
	rows       INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	loaded_at  TEXT NOT NULL
) STRICT;

CREATE TABLE lookup_rows (
	table_name TEXT NOT NULL REFERENCES lookup_tables (name) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	row        TEXT NOT NULL, -- a JSON object
	PRIMARY KEY (table_name, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;
