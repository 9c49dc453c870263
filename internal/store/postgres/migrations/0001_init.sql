-- The schema of opwatch on PostgreSQL: the same tables as the SQLite engine
-- (its migrations 0001 to 0006), with PostgreSQL's types. Times are
-- timestamptz (microseconds); text that comes from outside (event fields,
-- errors, alert titles) is stored through the engine's text encoding, which
-- keeps a NUL character (that text cannot hold) reversibly escaped. Text
-- compares and sorts by bytes (COLLATE "C"), as in SQLite: keys and names
-- have no language, and a locale's rules (en_US.UTF-8) cost several times
-- more in every index.

CREATE TABLE sources (
	id               text COLLATE "C" PRIMARY KEY,
	name             text COLLATE "C" NOT NULL UNIQUE,
	settings         text COLLATE "C" NOT NULL, -- JSON: region, base_url, api_version, ...
	token            bytea,         -- sealed by package secret; Query may not read it
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	account_uuid     text COLLATE "C" NOT NULL DEFAULT '',
	token_expires_at timestamptz,
	no_events_alarm  bigint NOT NULL DEFAULT 86400 CHECK (no_events_alarm >= 0)
);

-- One row per source and log type: the poll schedule, the cursor and the lease.
CREATE TABLE streams (
	id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source_id            text COLLATE "C" NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
	log_type             text COLLATE "C" NOT NULL,
	cursor               text COLLATE "C" NOT NULL DEFAULT '', -- Query may not read it
	status               text COLLATE "C" NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error', 'stopped')),
	next_poll_at         timestamptz NOT NULL,
	last_poll_at         timestamptz,
	last_success_at      timestamptz,
	last_error           text COLLATE "C" NOT NULL DEFAULT '',
	last_error_at        timestamptz,
	consecutive_failures integer NOT NULL DEFAULT 0,
	last_event_at        timestamptz,
	last_reconcile_at    timestamptz,
	events               bigint NOT NULL DEFAULT 0,
	quarantined          bigint NOT NULL DEFAULT 0,
	lease_owner          text COLLATE "C" NOT NULL DEFAULT '',
	lease_until          timestamptz,
	enabled              boolean NOT NULL DEFAULT true,
	last_stored_at       timestamptz,
	UNIQUE (source_id, log_type)
);

-- ClaimStreams reads the due streams that may be polled.
CREATE INDEX streams_due ON streams (next_poll_at, id) WHERE enabled AND status <> 'stopped';

-- The lake. seq is the position the later stages read from. Inserts are
-- serialised by the engine (see insert.go), so that seqs become visible in
-- order and a reader by position never skips one. raw is bytea: the event
-- exactly as received, byte for byte (jsonb would reorder its keys and
-- refuse \u0000). Events outlive their source: source_id is no foreign key.
CREATE TABLE events (
	seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source_id          text COLLATE "C" NOT NULL,
	log_type           text COLLATE "C" NOT NULL,
	uuid               text COLLATE "C" NOT NULL,
	p_event_time       timestamptz NOT NULL,
	p_parse_time       timestamptz NOT NULL,
	p_row_id           text COLLATE "C" NOT NULL,
	p_source_label     text COLLATE "C" NOT NULL,
	p_any_ip_addresses text[], -- NULL when none
	p_any_emails       text[], -- NULL when none
	raw                bytea NOT NULL,
	account            text COLLATE "C" NOT NULL,
	-- The keys indicator search matches (store.IndicatorKey): 'e:' and a
	-- lowercased e-mail, 'i:' and a canonical IP; NULL when none.
	indicators         text[]
);

-- The unique key of an event is (account, log type, event time, uuid);
-- time leads, so that new events land at the right edge of the index, and
-- it serves time ranges in the log-type views.
CREATE UNIQUE INDEX events_key ON events (log_type, p_event_time, account, uuid);
-- Indicator search (SearchIndicator; in SQL, indicators @> ARRAY['i:192.0.2.1']).
-- GIN gathers new entries in a pending list and merges them in bulk, which
-- keeps it cheap for inserts.
CREATE INDEX events_indicators ON events USING gin (indicators);

CREATE TABLE quarantine (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source_id text COLLATE "C" NOT NULL,
	log_type  text COLLATE "C" NOT NULL,
	raw       bytea NOT NULL, -- exactly as received, which may not even be JSON
	reason    text COLLATE "C" NOT NULL,
	at        timestamptz NOT NULL
);

CREATE INDEX quarantine_at ON quarantine (at);

-- The later stages: each reads the events after its own position and stores
-- what it made together with its new position, in one transaction.
CREATE TABLE stage_positions (
	stage      text COLLATE "C" PRIMARY KEY,
	position   bigint NOT NULL,
	updated_at timestamptz NOT NULL
);

-- One alert: a rule's matches grouped by dedup string within the rule's
-- dedup period, or an error. context is a JSON object and destinations a
-- JSON array (NULL: by severity), kept as text: a rule's context may hold
-- \u0000 from an event. ord orders alerts created at the same time.
CREATE TABLE alerts (
	id             text COLLATE "C" PRIMARY KEY,
	ord            bigint GENERATED ALWAYS AS IDENTITY,
	type           text COLLATE "C" NOT NULL CHECK (type IN ('rule', 'rule_error', 'system_error')),
	rule_id        text COLLATE "C" NOT NULL DEFAULT '',
	dedup          text COLLATE "C" NOT NULL DEFAULT '',
	title          text COLLATE "C" NOT NULL DEFAULT '',
	severity       text COLLATE "C" NOT NULL DEFAULT '',
	status         text COLLATE "C" NOT NULL CHECK (status IN ('open', 'triaged', 'resolved')),
	context        text,
	description    text COLLATE "C" NOT NULL DEFAULT '',
	reference      text COLLATE "C" NOT NULL DEFAULT '',
	runbook        text COLLATE "C" NOT NULL DEFAULT '',
	destinations   text,
	assignee       text COLLATE "C" NOT NULL DEFAULT '',
	events         integer NOT NULL DEFAULT 0, -- rows in alert_matches
	first_event_at timestamptz,
	last_event_at  timestamptz,
	period_end     timestamptz,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL
);

CREATE INDEX alerts_created ON alerts (created_at, ord);
-- The limiter counts a rule's alerts of the last hour.
CREATE INDEX alerts_rule_created ON alerts (rule_id, created_at);
-- A condition opwatch watches (source health, delivery) is raised once,
-- whichever replica sees it (see the SQLite engine's 0004).
CREATE UNIQUE INDEX alerts_condition ON alerts (dedup)
	WHERE type = 'system_error' AND rule_id = '' AND dedup <> '' AND status <> 'resolved';
CREATE INDEX alerts_unresolved ON alerts (type, dedup) WHERE status <> 'resolved';
CREATE INDEX alerts_resolved ON alerts (updated_at) WHERE status = 'resolved';

-- The events of an alert, by position; a match is stored (and counted) once.
CREATE TABLE alert_matches (
	alert_id   text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	seq        bigint NOT NULL,
	event_time timestamptz NOT NULL,
	PRIMARY KEY (alert_id, seq)
);

-- The state of a dedup key (rule + dedup string) in its current period;
-- pending holds the seqs matched below the threshold.
CREATE TABLE dedup_groups (
	rule_id    text COLLATE "C" NOT NULL,
	dedup      text COLLATE "C" NOT NULL,
	period_end timestamptz NOT NULL,
	alert_id   text COLLATE "C" NOT NULL DEFAULT '',
	matches    integer NOT NULL DEFAULT 0,
	pending    bigint[],
	PRIMARY KEY (rule_id, dedup)
);

CREATE INDEX dedup_groups_alert ON dedup_groups (alert_id) WHERE alert_id <> '';

-- Stateful rules' memory; expires_at NULL: never.
CREATE TABLE rule_state (
	rule_id    text COLLATE "C" NOT NULL,
	key        text COLLATE "C" NOT NULL,
	value      bytea NOT NULL,
	expires_at timestamptz,
	PRIMARY KEY (rule_id, key)
);

CREATE INDEX rule_state_expires ON rule_state (expires_at) WHERE expires_at IS NOT NULL;

-- User-loaded lookup tables; version comes from counters('lookup_version').
CREATE TABLE lookup_tables (
	name       text COLLATE "C" PRIMARY KEY,
	key_column text COLLATE "C" NOT NULL,
	log_type   text COLLATE "C" NOT NULL,
	selector   text COLLATE "C" NOT NULL,
	rows       integer NOT NULL,
	version    bigint NOT NULL,
	loaded_at  timestamptz NOT NULL
);

CREATE TABLE lookup_rows (
	table_name text COLLATE "C" NOT NULL REFERENCES lookup_tables (name) ON DELETE CASCADE,
	key        text COLLATE "C" NOT NULL,
	row        text COLLATE "C" NOT NULL, -- a JSON object
	PRIMARY KEY (table_name, key)
);

CREATE TABLE counters (
	name  text COLLATE "C" PRIMARY KEY,
	value bigint NOT NULL
);

-- Where notifications go; secret is sealed by package secret, and Query
-- may not read it.
CREATE TABLE destinations (
	id           text COLLATE "C" PRIMARY KEY,
	name         text COLLATE "C" NOT NULL UNIQUE,
	type         text COLLATE "C" NOT NULL,
	min_severity text COLLATE "C" NOT NULL DEFAULT '',
	alert_types  text, -- JSON array; NULL: all types
	settings     text, -- JSON object
	secret       bytea,
	enabled      boolean NOT NULL DEFAULT true,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL
);

-- The outbox (see the SQLite engine's 0004): destination_id is no foreign
-- key, as sent and failed rows outlive their destination.
CREATE TABLE notifications (
	id              text COLLATE "C" PRIMARY KEY,
	alert_id        text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	destination_id  text COLLATE "C" NOT NULL,
	kind            text COLLATE "C" NOT NULL CHECK (kind IN ('trigger', 'resolve')),
	status          text COLLATE "C" NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	last_attempt_at timestamptz,
	last_error      text COLLATE "C" NOT NULL DEFAULT '',
	last_error_at   timestamptz,
	sent_at         timestamptz,
	created_at      timestamptz NOT NULL,
	lease_owner     text COLLATE "C" NOT NULL DEFAULT '',
	lease_until     timestamptz
);

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_alert ON notifications (alert_id);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_destination ON notifications (destination_id, status, sent_at);
CREATE INDEX notifications_destination_errors ON notifications (destination_id, last_error_at)
	WHERE last_error_at IS NOT NULL;

-- Triage: who did what to an alert, oldest first (by id).
CREATE TABLE alert_history (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	alert_id    text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	at          timestamptz NOT NULL,
	actor       text COLLATE "C" NOT NULL DEFAULT '',
	action      text COLLATE "C" NOT NULL,
	from_status text COLLATE "C" NOT NULL DEFAULT '',
	to_status   text COLLATE "C" NOT NULL DEFAULT '',
	assignee    text COLLATE "C" NOT NULL DEFAULT '',
	comment     text COLLATE "C" NOT NULL DEFAULT ''
);

CREATE INDEX alert_history_alert ON alert_history (alert_id, id);

-- What the log-type views extract with. opwatch_event_json reads an
-- event's raw bytes as jsonb; jsonb cannot hold \u0000, so an event that has
-- one shows it as U+FFFD in its view (the raw event keeps it). The others
-- turn one JSON value into a column of a kind, NULL when it does not fit:
-- the planner inlines them, so a view costs what the expressions would.
CREATE FUNCTION opwatch_event_json(raw bytea) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT CASE WHEN strpos(t, '\u0000') = 0 THEN t::jsonb
		ELSE regexp_replace(t, '(?<![\\])((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')::jsonb END
	FROM convert_from(raw, 'UTF8') AS t
$$;

CREATE FUNCTION opwatch_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE jsonb_typeof(v) WHEN 'null' THEN NULL WHEN 'boolean' THEN (CASE WHEN v = 'true' THEN '1' ELSE '0' END)
		ELSE v #>> '{}' END
$$;

CREATE FUNCTION opwatch_json(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE jsonb_typeof(v) WHEN 'null' THEN NULL WHEN 'object' THEN v::text WHEN 'array' THEN v::text
		WHEN 'boolean' THEN (CASE WHEN v = 'true' THEN '1' ELSE '0' END) ELSE v #>> '{}' END
$$;

CREATE FUNCTION opwatch_numeric(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE jsonb_typeof(v)
		WHEN 'number' THEN v::numeric
		WHEN 'boolean' THEN (CASE WHEN v = 'true' THEN 1 ELSE 0 END)
		WHEN 'string' THEN (CASE WHEN v #>> '{}' ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$'
			THEN (v #>> '{}')::numeric END)
		END
$$;

CREATE FUNCTION opwatch_integer(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN n BETWEEN -9223372036854775808 AND 9223372036854775807 THEN trunc(n)::bigint END
	FROM opwatch_numeric(v) AS n
$$;

CREATE FUNCTION opwatch_float(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN abs(n) < 1e308 THEN n::double precision END FROM opwatch_numeric(v) AS n
$$;

-- Replicas: opwatch processes sharing one database. Each heartbeats; a
-- stage that runs on one replica at a time (detect, health) is leased by
-- name, fenced by the store's clock like the streams' leases.
CREATE TABLE replicas (
	id         text PRIMARY KEY,
	host       text NOT NULL DEFAULT '',
	pid        integer NOT NULL DEFAULT 0,
	version    text NOT NULL DEFAULT '',
	started_at timestamptz NOT NULL,
	seen_at    timestamptz NOT NULL
);

CREATE TABLE stage_leases (
	stage       text PRIMARY KEY,
	lease_owner text NOT NULL,
	lease_until timestamptz NOT NULL
);

-- Console sign-in: users, their sessions and the API's tokens. Only hashes
-- are stored (argon2id for passwords, SHA-256 for session ids and tokens);
-- Query may not read the password hashes. Session times are the auth
-- service's clock.
CREATE TABLE users (
	id            text PRIMARY KEY,
	name          text NOT NULL UNIQUE,
	role          text NOT NULL CHECK (role IN ('admin', 'analyst')),
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	last_login_at timestamptz
);

CREATE TABLE sessions (
	hash       text PRIMARY KEY,
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	seen_at    timestamptz NOT NULL,
	idle_until timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_ends ON sessions (idle_until);

CREATE TABLE api_tokens (
	id           text PRIMARY KEY,
	name         text NOT NULL UNIQUE,
	role         text NOT NULL CHECK (role IN ('admin', 'analyst')),
	hash         text NOT NULL UNIQUE,
	last4        text NOT NULL,
	created_by   text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz,
	last_used_at timestamptz
);

-- The alert epoch's row exists from the start, so that CommitDetect can
-- lock it (see detect.go).
INSERT INTO counters (name, value) VALUES ('alert_epoch', 0);

-- SQLite's json_extract(json, '$.a.b[0]') for the JSON text columns of the
-- views (client, details, ...), so that the queries people write for one
-- engine read the same on the other: a string's text, an object's or
-- array's JSON, a number's or boolean's text; NULL for JSON null or a path
-- that is not there (or not of this form: '$', then .key and [index] steps,
-- keys without dots or brackets). Text that is not JSON is an error.
CREATE FUNCTION json_extract(j text, path text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN path ~ '^\$(\.[^.\[\]]+|\[[0-9]+\])*$'
		THEN opwatch_json(j::jsonb #> array_remove(regexp_split_to_array(
			regexp_replace(substr(path, 2), '\[([0-9]+)\]', '.\1', 'g'), '\.'), '')) END
$$;

-- Raises an error of the given SQLSTATE: how one statement that stores a
-- page says the lease was lost (OPL01) or the stream is gone (OPN01), so
-- that its transaction rolls back (see insert.go).
CREATE FUNCTION opwatch_raise(code text, message text) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message; END $$;
