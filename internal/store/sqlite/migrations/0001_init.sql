-- Times are text in UTC, "2006-01-02 15:04:05.000000000": sortable as text.

CREATE TABLE sources (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	settings   TEXT NOT NULL, -- JSON: region, base_url, api_version, ...
	token      BLOB,          -- sealed by package secret
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

-- One row per source and log type: the poll schedule, the cursor and the lease.
CREATE TABLE streams (
	id                   INTEGER PRIMARY KEY,
	source_id            TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
	log_type             TEXT NOT NULL,
	cursor               TEXT NOT NULL DEFAULT '',
	status               TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error', 'stopped')),
	next_poll_at         TEXT NOT NULL,
	last_poll_at         TEXT,
	last_success_at      TEXT,
	last_error           TEXT NOT NULL DEFAULT '',
	last_error_at        TEXT,
	consecutive_failures INTEGER NOT NULL DEFAULT 0,
	last_event_at        TEXT,
	last_reconcile_at    TEXT,
	events               INTEGER NOT NULL DEFAULT 0,
	quarantined          INTEGER NOT NULL DEFAULT 0,
	lease_owner          TEXT NOT NULL DEFAULT '',
	lease_until          TEXT,
	UNIQUE (source_id, log_type)
) STRICT;

-- The lake. seq is the global sequence the later stages read from;
-- AUTOINCREMENT so that a number is never handed out twice. Events outlive
-- their source, so source_id is not a foreign key.
CREATE TABLE events (
	seq                INTEGER PRIMARY KEY AUTOINCREMENT,
	source_id          TEXT NOT NULL,
	log_type           TEXT NOT NULL,
	uuid               TEXT NOT NULL,
	p_event_time       TEXT NOT NULL,
	p_parse_time       TEXT NOT NULL,
	p_row_id           TEXT NOT NULL,
	p_source_label     TEXT NOT NULL,
	p_any_ip_addresses TEXT, -- JSON array or NULL
	p_any_emails       TEXT, -- JSON array or NULL
	raw                TEXT NOT NULL
) STRICT;

-- The unique key of an event is (source_id, log_type, uuid); an event's time
-- is part of it too (1Password never changes it), and leads, so that new
-- events land at the end of the index instead of at random places in it:
-- inserts stay as cheap at a billion rows as at a thousand. It also serves
-- time ranges in the log-type views.
CREATE UNIQUE INDEX events_key ON events (log_type, p_event_time, source_id, uuid);

CREATE TABLE quarantine (
	id        INTEGER PRIMARY KEY,
	source_id TEXT NOT NULL,
	log_type  TEXT NOT NULL,
	raw       BLOB NOT NULL, -- exactly as received, which may not even be JSON
	reason    TEXT NOT NULL,
	at        TEXT NOT NULL
) STRICT;

CREATE INDEX quarantine_at ON quarantine (at);
