-- Indicator search (issue 9): the events that name one e-mail or IP address
-- in a time range, fast on a lake of tens of millions of events, while ingest
-- stays fast. One row per event and indicator value.
--
-- The key leads with the event's block, seq >> 12 (4096 events stored one
-- after another), not with the value: keyed by value, each page of events
-- touches one leaf per distinct value all over a large index, and ingest
-- fell from 69,000 to 10,000 events/s at only 300,000 events in a prototype
-- (docs/benchmarks.md, "Indicator search"). A block is indexed when the
-- events reach the next one: its rows are sorted first, so they land at the
-- end of the B-tree (see indicator.go). A search seeks the value once in
-- each block whose event times overlap its range (event_indicator_blocks),
-- newest first, and reads the unfinished block's events whole.
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

-- Every indexed block, with the range of its rows' times (0 and 0 for a
-- block without any indicator); the blocks above the last are not indexed.
CREATE TABLE event_indicator_blocks (
	block INTEGER PRIMARY KEY,
	min_t INTEGER NOT NULL,
	max_t INTEGER NOT NULL
) STRICT;

-- The finished blocks of the events stored before this migration. SQL has
-- no canonical IPv6 form, so an IPv6 address is keyed here as stored,
-- lowercased; 1Password sends either the canonical (compressed) form or the
-- fully expanded one, and a search for an IPv6 address looks up both.
CREATE TEMP TABLE indexed_below AS SELECT ((coalesce(max(seq), 0) + 1) >> 12) << 12 AS seq FROM events;

INSERT OR IGNORE INTO event_indicators (block, indicator, t, seq)
SELECT e.seq >> 12, lower(trim(j.value)),
	unixepoch(substr(e.p_event_time, 1, 19)) * 1000000000 + CAST(substr(e.p_event_time, 21, 9) AS INTEGER), e.seq
FROM events e, json_each(e.p_any_emails) j
WHERE e.seq < (SELECT seq FROM indexed_below) AND e.p_any_emails IS NOT NULL AND instr(j.value, '@') > 0;

INSERT OR IGNORE INTO event_indicators (block, indicator, t, seq)
SELECT e.seq >> 12, CASE WHEN substr(lower(trim(j.value)), 1, 7) = '::ffff:' AND instr(j.value, '.') > 0
		THEN substr(trim(j.value), 8) ELSE lower(trim(j.value)) END,
	unixepoch(substr(e.p_event_time, 1, 19)) * 1000000000 + CAST(substr(e.p_event_time, 21, 9) AS INTEGER), e.seq
FROM events e, json_each(e.p_any_ip_addresses) j
WHERE e.seq < (SELECT seq FROM indexed_below) AND e.p_any_ip_addresses IS NOT NULL;

WITH RECURSIVE b(block) AS (
	SELECT 0 WHERE (SELECT seq FROM indexed_below) > 0
	UNION ALL SELECT block + 1 FROM b WHERE (block + 1) << 12 < (SELECT seq FROM indexed_below)
)
INSERT INTO event_indicator_blocks (block, min_t, max_t)
SELECT b.block, coalesce(min(i.t), 0), coalesce(max(i.t), 0)
FROM b LEFT JOIN event_indicators i ON i.block = b.block GROUP BY b.block;

DROP TABLE indexed_below;
