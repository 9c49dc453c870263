-- Compact storage (issue 11): events stored long enough ago move, in seq
-- order, from the events table into segments of one log type, each a JSON
-- array of the events (package segment) compressed with zstd as a whole. A
-- compressor that sees a few hundred events of one kind at once stores each
-- in about a fifth of its row's size, and the rows' indexes go with them.
--
-- Every event below compacted_below is in a segment (or was purged); every
-- one at or above it is in events. cold_max_t is the newest event time in
-- any segment (Unix ns): an event stored later with a time after it cannot
-- be a compacted one, so only older ones are looked up in event_keys.
CREATE TABLE lake_compaction (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	compacted_below INTEGER NOT NULL,
	cold_max_t      INTEGER NOT NULL
) STRICT;
INSERT INTO lake_compaction (id, compacted_below, cold_max_t) VALUES (1, 0, -9223372036854775808);

-- min_t and max_t are event times in Unix ns. sources is a JSON object
-- {"source id": [events, raw bytes, "newest source label", newest ns]} for
-- LakeStats. data is zstd of the segment's JSON.
CREATE TABLE event_segments (
	id        INTEGER PRIMARY KEY,
	log_type  TEXT NOT NULL,
	min_seq   INTEGER NOT NULL,
	max_seq   INTEGER NOT NULL,
	min_t     INTEGER NOT NULL,
	max_t     INTEGER NOT NULL,
	events    INTEGER NOT NULL,
	raw_bytes INTEGER NOT NULL,
	sources   TEXT NOT NULL,
	data      BLOB NOT NULL
) STRICT;
CREATE INDEX event_segments_time ON event_segments (log_type, max_t);
CREATE INDEX event_segments_seq ON event_segments (log_type, max_seq);

-- The unique key of compacted events (events_key holds the hot ones): the
-- event time in Unix ns and a 64-bit FNV-1a of log type, account and uuid.
-- A false duplicate needs two events of the same nanosecond and hash.
CREATE TABLE event_keys (
	t INTEGER NOT NULL,
	h INTEGER NOT NULL,
	PRIMARY KEY (t, h)
) STRICT, WITHOUT ROWID;

-- The indicators each segment's events name, once per segment: h is the
-- 64-bit FNV-1a of the value's store.IndicatorKey (8 bytes where the text
-- took 20 or more: a row per value and segment is most of what compacted
-- events cost beside their segment). A search reads the segments that name
-- its value's hash and checks each event's values, so a collision only
-- costs a segment read.
CREATE TABLE segment_indicators (
	h       INTEGER NOT NULL,
	segment INTEGER NOT NULL,
	PRIMARY KEY (h, segment)
) STRICT, WITHOUT ROWID;

-- The compacted events as a table, for the log-type views (cold.go): a
-- virtual table of opwatch's own module, which other SQLite tools do not
-- have (they read the rest of the database, and the views' hot rows only
-- fail to open).
CREATE VIRTUAL TABLE event_cold USING opwatch_cold;
