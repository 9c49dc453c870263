-- Compact storage (issue 11; see compact.go): events stored long enough
-- ago move, in seq order, from the events table into segments of one log
-- type, each the JSON text of package segment, which TOAST compresses as a
-- whole (lz4). Events of one kind repeat their keys and most values, so a
-- segment of a few hundred compresses far better than a row each; the
-- rows' indexes go with them.
--
-- Every event below compacted_below is in a segment (or was purged); every
-- one at or above it is in events. cold_max_t is the newest event time in
-- any segment (NULL: none yet): an event stored later with a time after it
-- cannot be a compacted one, so only older ones are looked up in
-- event_keys.
CREATE TABLE lake_compaction (
	id              boolean PRIMARY KEY DEFAULT true CHECK (id),
	compacted_below bigint NOT NULL,
	cold_max_t      timestamptz
);
INSERT INTO lake_compaction (compacted_below, cold_max_t) VALUES (0, NULL);

-- A segment: the events of one log type, ordered by event time, that one
-- compaction moved. Text columns hold the engine's stored forms (text.go),
-- as the events table does, so a view's cold rows read as its hot ones.
-- sources is a JSON object {"source id": [events, raw bytes, "greatest
-- source label", "oldest", "newest"]} (times as in the segment) for
-- LakeStats. data is the segment's JSON as written (json, not jsonb, keeps
-- the raw events' text byte for byte). indicators holds the distinct keys
-- of its events ('e:' or 'i:' and store.IndicatorKey, stored as in
-- events.indicators), for indicator search: a GIN index stores each key
-- once with its segments' list compressed, a tenth of what a table of
-- (indicator, segment) rows and its index took (235 bytes an event on the
-- emulator's events, more than the segment's compressed events).
CREATE TABLE event_segments (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	log_type  text COLLATE "C" NOT NULL,
	min_seq   bigint NOT NULL,
	max_seq   bigint NOT NULL,
	min_t     timestamptz NOT NULL,
	max_t     timestamptz NOT NULL,
	events    integer NOT NULL,
	raw_bytes bigint NOT NULL,
	sources    text COLLATE "C" NOT NULL,
	data       text COLLATE "C" NOT NULL,
	nul        boolean NOT NULL, -- data may hold \u0000 (see opwatch_segment_events)
	indicators text[] -- NULL when none
);
-- Compressed out of line (EXTENDED, the default for text, said here
-- because it is the point), with lz4 where the server has it (PostgreSQL
-- 14 built with lz4): several times faster to read than pglz, the fallback.
ALTER TABLE event_segments ALTER COLUMN data SET STORAGE EXTENDED;
DO $$ BEGIN
	EXECUTE 'ALTER TABLE event_segments ALTER COLUMN data SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN NULL;
END $$;
-- Retention goes by log type and newest event time, indicator search by
-- key (then newest event time);
-- EventsAfter by seq; EventsBySeq and alerts by the seq range holding one.
CREATE INDEX event_segments_time ON event_segments (log_type, max_t);
CREATE INDEX event_segments_max_seq ON event_segments (max_seq);
CREATE INDEX event_segments_min_seq ON event_segments (min_seq);
CREATE INDEX event_segments_seqs ON event_segments USING gist (int8range(min_seq, max_seq, '[]'));
CREATE INDEX event_segments_indicators ON event_segments USING gin (indicators);

-- The unique key of compacted events (events_key holds the hot ones): the
-- event time and opwatch_event_key of log type, account and uuid. A false
-- duplicate needs two events of the same microsecond and 64-bit hash.
CREATE TABLE event_keys (
	t timestamptz NOT NULL,
	h bigint NOT NULL,
	PRIMARY KEY (t, h)
);

-- An event's hash for event_keys, computed in SQL so that one statement
-- stores a page (see insert.go). A record's text quotes its fields, so
-- distinct triples hash distinct texts.
CREATE FUNCTION opwatch_event_key(log_type text, account text, uuid text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT hashtextextended(ROW(log_type, account, uuid)::text, 0)
$$;

-- The events of a segment, as the events table's columns (raw as the
-- bytes received). PostgreSQL's JSON functions refuse a string holding
-- \u0000 anywhere in what they parse, so a segment that may hold one (nul)
-- is read with it as \ufffd (as opwatch_event_json reads a hot event);
-- only a raw event can hold one (the other fields are stored forms,
-- without NUL), and the escape's length stays. nul is the segment's
-- column, not a test of data here: each mention of a TOASTed value
-- decompresses it again. Not STRICT, so that the planner inlines it (and
-- leaves out the columns a query does not read).
CREATE FUNCTION opwatch_segment_events(data text, nul boolean)
RETURNS TABLE (seq bigint, account text, source_id text, log_type text, uuid text, p_event_time timestamptz,
	p_parse_time timestamptz, p_row_id text, p_source_label text, p_any_ip_addresses text[], p_any_emails text[], raw bytea)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT r.seq, r.account, r.source_id, r.log_type, r.uuid, r.p_event_time AT TIME ZONE 'UTC',
		r.p_parse_time AT TIME ZONE 'UTC', r.p_row_id, r.p_source_label, r.p_any_ip_addresses, r.p_any_emails,
		CASE WHEN r.raw IS NOT NULL THEN convert_to(r.raw::text, 'UTF8')
			WHEN r.raw_text IS NOT NULL THEN convert_to(r.raw_text, 'UTF8')
			ELSE decode(r.raw_base64, 'base64') END
	FROM json_to_recordset((CASE WHEN nul THEN regexp_replace(data, '(?<![\\])((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')
		ELSE data END)::json)
		AS r(seq bigint, account text, source_id text, log_type text, uuid text, p_event_time timestamp,
			p_parse_time timestamp, p_row_id text, p_source_label text, p_any_ip_addresses text[], p_any_emails text[],
			raw json, raw_text text, raw_base64 text)
$$;
