-- Indicator search (issue 9): the events that name one e-mail or IP address
-- in a time range, fast on a lake of tens of millions of events, while ingest
-- stays fast. One row per event and indicator value.
--
-- The key leads with the event's block, seq >> 12 (4096 events stored one
-- after another), not with the value: keyed by value, each page of events
-- touches one leaf per distinct value all over a large index, and ingest
-- fell from 69,000 to 10,000 events/s at only 300,000 events in a prototype
-- (docs/benchmarks.md, "Indicator search"). A commit appends its rows to
-- event_indicators_recent in seq order; when the events reach the next
-- block, the finished block's rows move here sorted, so every insert lands
-- at the end of a B-tree. A search seeks the value once in each block whose
-- event times overlap its range (event_indicator_blocks), newest first, and
-- reads the recent rows whole.
--
-- indicator is store.IndicatorKey of the stored value (an e-mail trimmed
-- and lowercased, an IP in canonical form); t is p_event_time in Unix
-- nanoseconds.
CREATE TABLE event_indicators (
	block     INTEGER NOT NULL,
	indicator TEXT NOT NULL,
	t         INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	PRIMARY KEY (block, indicator, t, seq)
) STRICT, WITHOUT ROWID;

-- The rows of the unfinished block, appended in seq order; they move to
-- event_indicators, sorted, when the events reach the next block.
CREATE TABLE event_indicators_recent (
	seq       INTEGER NOT NULL,
	indicator TEXT NOT NULL,
	t         INTEGER NOT NULL,
	PRIMARY KEY (seq, indicator)
) STRICT, WITHOUT ROWID;

-- The range of event times in each block.
CREATE TABLE event_indicator_blocks (
	block INTEGER PRIMARY KEY,
	min_t INTEGER NOT NULL,
	max_t INTEGER NOT NULL
) STRICT;

-- The events stored before this migration. SQL has no canonical IPv6 form,
-- so an IPv6 address is keyed here as stored, lowercased; 1Password sends
-- either the canonical (compressed) form or the fully expanded one, and a
-- search for an IPv6 address looks up both (see indicator.go).
INSERT OR IGNORE INTO event_indicators (block, indicator, t, seq)
SELECT e.seq >> 12, lower(trim(j.value)),
	unixepoch(substr(e.p_event_time, 1, 19)) * 1000000000 + CAST(substr(e.p_event_time, 21, 9) AS INTEGER), e.seq
FROM events e, json_each(e.p_any_emails) j
WHERE e.p_any_emails IS NOT NULL AND instr(j.value, '@') > 0;

INSERT OR IGNORE INTO event_indicators (block, indicator, t, seq)
SELECT e.seq >> 12, CASE WHEN substr(lower(trim(j.value)), 1, 7) = '::ffff:' AND instr(j.value, '.') > 0
		THEN substr(trim(j.value), 8) ELSE lower(trim(j.value)) END,
	unixepoch(substr(e.p_event_time, 1, 19)) * 1000000000 + CAST(substr(e.p_event_time, 21, 9) AS INTEGER), e.seq
FROM events e, json_each(e.p_any_ip_addresses) j
WHERE e.p_any_ip_addresses IS NOT NULL;

INSERT INTO event_indicator_blocks (block, min_t, max_t)
SELECT block, min(t), max(t) FROM event_indicators GROUP BY block;
