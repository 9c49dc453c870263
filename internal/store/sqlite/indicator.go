package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// The indicator index (migrations/0007_indicators.sql): event_indicators
// holds one row per event and p_any_ value, keyed (block, indicator, t,
// seq), for every finished block of 1<<blockShift events stored one after
// another, and event_indicator_blocks each finished block's range of event
// times. The commit whose events reach a new block indexes the blocks
// before it, in its own transaction: it reads their events back, keys and
// sorts their values in Go and appends the rows at the end of the B-tree,
// where SQLite skips the search from the root. Every other commit only
// reads where the index ends. The events of the unfinished block (fewer
// than 4096) are read by searches from events itself.
//
// So the index is derived from events alone, and a commit within a block
// (live polling's small pages) writes nothing more than its events. Inserting
// each commit's rows as they came, into the index or into a small table moved
// into it at each block's end, cost as much CPU or more, and more WAL per
// commit (docs/benchmarks.md, "Indicator search").

// blockShift makes a block of 1<<blockShift events stored one after
// another (the migration's backfill uses the same shift). A search seeks
// once per block in its range, and reads the unfinished block whole.
const blockShift = 12

// maxIndicatorChunk is the most index rows one INSERT carries.
const maxIndicatorChunk = 256

// indicatorRowColumns is the number of values bound per index row.
const indicatorRowColumns = 3

// The index's statements are kept among Store.inserts, whose keys for
// events are positive row counts: -n inserts n rows, and these the rest.
const (
	blockStmtKey = math.MinInt32 + iota
	indexedStmtKey
	readBackStmtKey
)

func indicatorStmtKey(n int) int { return -n }

// insertIndicatorsSQL inserts n index rows of (seq, indicator, t).
func insertIndicatorsSQL(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `INSERT OR IGNORE INTO event_indicators (block, indicator, t, seq)
	SELECT column1 >> %d, column2, column3, column1 FROM (VALUES `, blockShift)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?)")
	}
	b.WriteString(")")
	return b.String()
}

const (
	insertBlockSQL = `INSERT OR REPLACE INTO event_indicator_blocks (block, min_t, max_t) VALUES (?, ?, ?)`
	// indexedSQL is the first block not indexed yet.
	indexedSQL = `SELECT coalesce(max(block) + 1, 0) FROM event_indicator_blocks`
	// readBackSQL reads a block's events as one text: rows separated by
	// char(29), seq, time and the two arrays by char(30). Scanning its
	// rows one by one took twice as long, most of it in the driver.
	readBackSQL = `SELECT coalesce(group_concat(seq || char(30) || p_event_time || char(30) ||
	coalesce(p_any_emails, '') || char(30) || coalesce(p_any_ip_addresses, ''), char(29)), '') FROM events
	WHERE seq >= ? AND seq < ? AND (p_any_emails IS NOT NULL OR p_any_ip_addresses IS NOT NULL)`
)

// prepareIndicatorStmts prepares, once, the statements indexing blocks
// (before any transaction: see insertStmt).
func (s *Store) prepareIndicatorStmts(ctx context.Context) (map[int]*sql.Stmt, error) {
	keys := []int{blockStmtKey, indexedStmtKey, readBackStmtKey}
	for n := maxIndicatorChunk; n > 0; n /= 2 {
		keys = append(keys, indicatorStmtKey(n))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stmts := make(map[int]*sql.Stmt, len(keys))
	for _, key := range keys {
		st := s.inserts[key]
		if st == nil {
			var err error
			if st, err = s.writer.PrepareContext(ctx, indicatorSQL(key)); err != nil {
				return nil, err
			}
			s.inserts[key] = st
		}
		stmts[key] = st
	}
	return stmts, nil
}

// indicatorSQL is the text of the statement kept at key.
func indicatorSQL(key int) string {
	switch key {
	case blockStmtKey:
		return insertBlockSQL
	case indexedStmtKey:
		return indexedSQL
	case readBackStmtKey:
		return readBackSQL
	}
	return insertIndicatorsSQL(-key)
}

// indicatorChunkSizes splits n index rows as chunkSizes splits events.
func indicatorChunkSizes(n int) []int {
	var sizes []int
	for ; n >= maxIndicatorChunk; n -= maxIndicatorChunk {
		sizes = append(sizes, maxIndicatorChunk)
	}
	for size := maxIndicatorChunk / 2; size > 0; size /= 2 {
		if n >= size {
			sizes = append(sizes, size)
			n -= size
		}
	}
	return sizes
}

// blockIndexer indexes the blocks a batch's transaction finishes.
type blockIndexer struct {
	stmts  map[int]*sql.Stmt
	newest int64 // the newest seq the transaction inserted
}

// inserted notes a statement that inserted k events.
func (bi *blockIndexer) inserted(res sql.Result, k int64) error {
	if k == 0 {
		return nil
	}
	last, err := res.LastInsertId()
	bi.newest = max(bi.newest, last)
	return err
}

// indicatorRow is one row of event_indicators.
type indicatorRow struct {
	seq int64
	key string
	t   int64
}

// index indexes every block before the one that holds the newest event,
// if not done yet.
func (bi *blockIndexer) index(ctx context.Context, tx *sql.Tx) error {
	if bi.newest == 0 {
		return nil
	}
	var next int64
	if err := tx.StmtContext(ctx, bi.stmts[indexedStmtKey]).QueryRowContext(ctx).Scan(&next); err != nil {
		return fmt.Errorf("index indicators: %w", err)
	}
	var rows []indicatorRow
	var args []any
	for ; next < (bi.newest+1)>>blockShift; next++ {
		var err error
		if rows, err = bi.readBlock(ctx, tx, next, rows[:0]); err != nil {
			return fmt.Errorf("index indicators of block %d: %w", next, err)
		}
		slices.SortFunc(rows, func(a, b indicatorRow) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			if a.t != b.t {
				return cmpInt64(a.t, b.t)
			}
			return cmpInt64(a.seq, b.seq)
		})
		minT, maxT := int64(0), int64(0)
		for i, r := range rows {
			if i == 0 || r.t < minT {
				minT = r.t
			}
			if i == 0 || r.t > maxT {
				maxT = r.t
			}
		}
		off := 0
		for _, n := range indicatorChunkSizes(len(rows)) {
			args = args[:0]
			for _, r := range rows[off : off+n] {
				args = append(args, r.seq, r.key, r.t)
			}
			if _, err := tx.StmtContext(ctx, bi.stmts[indicatorStmtKey(n)]).ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("index indicators of block %d: %w", next, err)
			}
			off += n
		}
		// A block without any indicator is recorded too: it is indexed.
		if _, err := tx.StmtContext(ctx, bi.stmts[blockStmtKey]).ExecContext(ctx, next, minT, maxT); err != nil {
			return fmt.Errorf("index indicators of block %d: %w", next, err)
		}
	}
	return nil
}

func cmpInt64(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

// readBlock appends the index rows of block's events to rows.
func (bi *blockIndexer) readBlock(ctx context.Context, tx *sql.Tx, block int64, rows []indicatorRow) ([]indicatorRow, error) {
	var text string
	err := tx.StmtContext(ctx, bi.stmts[readBackStmtKey]).QueryRowContext(ctx, block<<blockShift, (block+1)<<blockShift).Scan(&text)
	if err != nil {
		return nil, err
	}
	// The stored arrays escape control characters (jsonArray), so the
	// separators cannot occur inside a value. An event that cannot be read
	// anyway is left out of the index rather than stopping ingest.
	for event := range strings.SplitSeq(text, "\x1d") {
		f := strings.Split(event, packSep)
		if len(f) != 4 {
			continue
		}
		seq, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		rows = appendIndicatorRows(rows, seq, f[1], f[2], f[3])
	}
	return rows, nil
}

// appendIndicatorRows appends the rows of one stored event: one per
// distinct key of its p_any_ values. Values that are not indicators, or
// an event whose time or arrays cannot be read, add none.
func appendIndicatorRows(rows []indicatorRow, seq int64, at, emails, ips string) []indicatorRow {
	if emails == "" && ips == "" {
		return rows
	}
	when, err := parseTimeText(at)
	if err != nil {
		return rows
	}
	t := unixNano(when)
	first := len(rows)
	for i, text := range []string{emails, ips} {
		vals, err := stringArray(sql.NullString{String: text, Valid: true})
		if err != nil {
			continue
		}
		for _, v := range vals {
			var k string
			var ok bool
			if i == 0 {
				k, ok = emailKey(v)
			} else {
				k, ok = ipKey(v)
			}
			if ok && !slices.ContainsFunc(rows[first:], func(r indicatorRow) bool { return r.key == k }) {
				rows = append(rows, indicatorRow{seq: seq, key: k, t: t})
			}
		}
	}
	return rows
}

// emailKey is store.IndicatorKey for an e-mail, without its allocations
// for the usual lowercase address.
func emailKey(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "@") {
		return "", false
	}
	return strings.ToLower(v), true // no copy when already lowercase ASCII
}

// ipKey is store.IndicatorKey for an IP address: an IPv4 address that
// parses is already in canonical form, so only IPv6 is rewritten.
func ipKey(v string) (string, bool) {
	v = strings.TrimSpace(v)
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	if a.Is4() {
		return v, true
	}
	return a.Unmap().String(), true
}

// unixNano is t in Unix nanoseconds, clamped to what an int64 holds.
func unixNano(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// SearchIndicator finds the events naming q.Value, newest first. It reads
// the unfinished block's events, then the index in the blocks whose times
// overlap the range, newest first, a growing group of blocks per statement,
// and stops once the events found are newer than anything the remaining
// blocks hold: a search for a rare value seeks once per block in the range,
// one for a value in every other event reads a few blocks.
func (s *Store) SearchIndicator(ctx context.Context, q store.IndicatorQuery) ([]store.StoredEvent, error) {
	evs, err := s.searchIndicator(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("search for %s %q: %w", q.Kind, q.Value, err)
	}
	return evs, nil
}

type indicatorHit struct{ t, seq int64 }

// indicatorSearch is one search's bounds, in the index's terms.
type indicatorSearch struct {
	kind, key, alt   string
	from, to         int64 // t in [from, to)
	afterT, afterSeq int64 // (t, seq) below
	logTypes         []string
	limit            int
}

// matches says whether a hit at (t, seq) is within the bounds.
func (is *indicatorSearch) matches(t, seq int64) bool {
	return t >= is.from && t < is.to && (t < is.afterT || t == is.afterT && seq < is.afterSeq)
}

func (s *Store) searchIndicator(ctx context.Context, q store.IndicatorQuery) ([]store.StoredEvent, error) {
	if q.Limit <= 0 {
		return nil, errors.New("the limit must be positive")
	}
	key, err := store.IndicatorKey(q.Kind, q.Value)
	if err != nil {
		return nil, err
	}
	is := indicatorSearch{kind: q.Kind, key: key, alt: key, logTypes: q.LogTypes, limit: q.Limit,
		from: math.MinInt64, to: math.MaxInt64, afterT: math.MaxInt64, afterSeq: math.MaxInt64}
	// Events stored before the index (0007) keyed an IPv6 address as
	// received: 1Password's other form is the fully expanded one.
	if q.Kind == store.IndicatorIP {
		if a, err := netip.ParseAddr(key); err == nil && a.Is6() {
			is.alt = a.StringExpanded()
		}
	}
	if !q.From.IsZero() {
		is.from = unixNano(q.From)
	}
	if !q.To.IsZero() {
		is.to = unixNano(q.To)
	}
	if q.After != nil {
		is.afterT, is.afterSeq = unixNano(q.After.EventTime), q.After.Seq
	}
	if is.from >= is.to || is.afterT < is.from {
		return nil, nil
	}
	logTypes := "[]"
	if len(q.LogTypes) > 0 {
		logTypes = stringJSONArray(q.LogTypes)
	}

	// The blocks indexed: a block indexed after this read is read from the
	// events below, and only once.
	var next int64
	if err := s.reader.QueryRowContext(ctx, indexedSQL).Scan(&next); err != nil {
		return nil, err
	}
	type blockTimes struct{ block, maxT int64 }
	var blocks []blockTimes
	rows, err := s.reader.QueryContext(ctx, `SELECT block, max_t FROM event_indicator_blocks
		WHERE block < ? AND max_t >= ? AND min_t < ? AND min_t <= ? ORDER BY max_t DESC`, next, is.from, is.to, is.afterT)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var b blockTimes
		if err := rows.Scan(&b.block, &b.maxT); err != nil {
			rows.Close()
			return nil, err
		}
		blocks = append(blocks, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	hits, err := s.unindexedHits(ctx, &is, next<<blockShift)
	if err != nil {
		return nil, err
	}

	var found []indicatorHit
	group := 1
	ids := make([]int64, 0, 1024)
	for i := 0; i < len(blocks); {
		if len(hits) >= q.Limit && hits[q.Limit-1].t > blocks[i].maxT {
			break // every remaining block is older than the events found
		}
		ids = ids[:0]
		for j := i; j < len(blocks) && j < i+group; j++ {
			ids = append(ids, blocks[j].block)
		}
		i += len(ids)
		group = min(group*2, 512)
		slices.Sort(ids)
		found, err = s.indicatorHits(ctx, found[:0], ids, &is, logTypes)
		if err != nil {
			return nil, err
		}
		hits = mergeHits(hits, found, q.Limit)
	}
	// Then the compacted events, after the hot ones: an event compacted
	// between the two reads is found twice (and merged), never missed.
	cold, coldEvents, err := s.coldIndicatorHits(ctx, &is, hits)
	if err != nil {
		return nil, err
	}
	hits = mergeHits(hits, cold, q.Limit)
	if len(hits) == 0 {
		return nil, nil
	}
	seqs := make([]int64, 0, len(hits))
	for _, h := range hits {
		if _, ok := coldEvents[h.seq]; !ok {
			seqs = append(seqs, h.seq)
		}
	}
	evs, err := s.EventsBySeq(ctx, seqs)
	if err != nil {
		return nil, err
	}
	bySeq := make(map[int64]int, len(evs))
	for i, e := range evs {
		bySeq[e.Seq] = i
	}
	out := make([]store.StoredEvent, 0, len(hits))
	for _, h := range hits {
		if e, ok := coldEvents[h.seq]; ok {
			out = append(out, e)
		} else if i, ok := bySeq[h.seq]; ok { // an event deleted since is left out
			out = append(out, evs[i])
		}
	}
	return out, nil
}

// coldIndicatorHits searches the segments that name the value, newest
// first, until the hits found (with hot's, sorted newest first) fill the
// limit with events newer than the next segment holds. It returns its hits
// and their events.
func (s *Store) coldIndicatorHits(ctx context.Context, is *indicatorSearch, hot []indicatorHit) ([]indicatorHit, map[int64]store.StoredEvent, error) {
	logTypes := "[]"
	if len(is.logTypes) > 0 {
		logTypes = stringJSONArray(is.logTypes)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT s.id, s.max_t, s.min_seq, s.max_seq FROM segment_indicators i JOIN event_segments s ON s.id = i.segment
		WHERE i.h IN (?1, ?2) AND s.max_t >= ?3 AND s.min_t < ?4 AND s.min_t <= ?5
			AND (?6 = '[]' OR s.log_type IN (SELECT value FROM json_each(?6)))
		ORDER BY s.max_t DESC, s.id DESC`, indicatorHash(is.key), indicatorHash(is.alt), is.from, is.to, is.afterT, logTypes)
	if err != nil {
		return nil, nil, err
	}
	type seg struct{ id, maxT, minSeq, maxSeq int64 }
	var segs []seg
	for rows.Next() {
		var g seg
		if err := rows.Scan(&g.id, &g.maxT, &g.minSeq, &g.maxSeq); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if len(segs) == 0 || segs[len(segs)-1].id != g.id {
			segs = append(segs, g)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var hits []indicatorHit
	events := map[int64]store.StoredEvent{}
	needle, scratch, field := prefilter(is), []byte(nil), "p_any_emails"
	if is.kind == store.IndicatorIP {
		field = "p_any_ip_addresses"
	}
	for _, g := range segs {
		all := mergeHits(hot, hits, is.limit)
		if len(all) >= is.limit && all[is.limit-1].t > g.maxT {
			break // every remaining segment is older than the events found
		}
		text, err := s.segmentText(ctx, s.reader, segmentKey{g.id, g.minSeq, g.maxSeq})
		if errors.Is(err, sql.ErrNoRows) {
			continue // purged since
		}
		if err != nil {
			return nil, nil, fmt.Errorf("segment %d: %w", g.id, err)
		}
		// Only the events whose text holds the value are decoded (a segment
		// names a value in a few of its hundreds of events).
		var found []indicatorHit
		err = segment.Elements(text, func(el []byte) error {
			if needle != nil {
				// The values as received, lowered: a few bytes per event.
				text, ok := segment.Field(el, field)
				if ok && !containsFoldASCII(text, needle, &scratch) {
					return nil
				}
			}
			e, err := segment.DecodeOne(el)
			if err != nil {
				return err
			}
			if t := unixNano(e.EventTime); is.matches(t, e.Seq) && namesIndicator(e, is) {
				found = append(found, indicatorHit{t, e.Seq})
				events[e.Seq] = e
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("segment %d: %w", g.id, err)
		}
		slices.SortFunc(found, func(a, b indicatorHit) int {
			if a.t != b.t {
				return cmpInt64(b.t, a.t)
			}
			return cmpInt64(b.seq, a.seq)
		})
		hits = mergeHits(hits, found, is.limit)
	}
	return hits, events, nil
}

// prefilter is the text an event naming the searched value holds, lowered:
// an e-mail's key or an IPv4 address, when plain ASCII that JSON writes as
// it is; nil when the value may be written otherwise (an IPv6 address in
// its expanded form), and every event is decoded.
func prefilter(is *indicatorSearch) []byte {
	if is.kind == store.IndicatorIP && strings.Contains(is.key, ":") {
		return nil
	}
	for i := 0; i < len(is.key); i++ {
		if c := is.key[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return nil
		}
	}
	return []byte(is.key) // keys are lowercase
}

// containsFoldASCII says whether text, ASCII letters lowered, holds needle
// (lowercase); scratch is reused between calls.
func containsFoldASCII(text, needle []byte, scratch *[]byte) bool {
	b := append((*scratch)[:0], text...)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	*scratch = b
	return bytes.Contains(b, needle)
}

// namesIndicator says whether e names the searched value, by its key.
func namesIndicator(e store.StoredEvent, is *indicatorSearch) bool {
	if len(is.logTypes) > 0 && !slices.Contains(is.logTypes, e.LogType) {
		return false
	}
	vals, key := e.IPs, ipKey
	if is.kind == store.IndicatorEmail {
		vals, key = e.Emails, emailKey
	}
	for _, v := range vals {
		if k, ok := key(v); ok && (k == is.key || k == is.alt) {
			return true
		}
	}
	return false
}

// blockHitsSQL reads the newest index rows of ?2 (or ?3) in blocks ?1,
// within [?4, ?5), after (?6, ?7), of the log types ?8 (a JSON array;
// empty: all), at most ?9.
const blockHitsSQL = `SELECT i.t, i.seq FROM event_indicators i
	WHERE i.block IN (SELECT value FROM json_each(?1)) AND i.indicator IN (?2, ?3)
		AND i.t >= ?4 AND i.t < ?5 AND (i.t, i.seq) < (?6, ?7)
		AND (?8 = '[]' OR (SELECT log_type FROM events e WHERE e.seq = i.seq) IN (SELECT value FROM json_each(?8)))
	ORDER BY i.t DESC, i.seq DESC LIMIT ?9`

// indicatorHits appends the hits in blocks to dst.
func (s *Store) indicatorHits(ctx context.Context, dst []indicatorHit, blocks []int64, is *indicatorSearch, logTypes string) ([]indicatorHit, error) {
	rows, err := s.reader.QueryContext(ctx, blockHitsSQL, int64Array(blocks), is.key, is.alt, is.from, is.to,
		is.afterT, is.afterSeq, logTypes, is.limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h indicatorHit
		if err := rows.Scan(&h.t, &h.seq); err != nil {
			return nil, err
		}
		dst = append(dst, h)
	}
	return dst, rows.Err()
}

// unindexedHits reads the events from seq on (the unfinished block) and
// returns the newest limit that match, newest first.
func (s *Store) unindexedHits(ctx context.Context, is *indicatorSearch, from int64) ([]indicatorHit, error) {
	column := "p_any_emails"
	if is.kind == store.IndicatorIP {
		column = "p_any_ip_addresses"
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT seq, p_event_time, log_type, `+column+` FROM events
		WHERE seq >= ? AND `+column+` IS NOT NULL`, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []indicatorHit
	var seq int64
	var at, logType, values string
	for rows.Next() {
		if err := rows.Scan(&seq, &at, &logType, &values); err != nil {
			return nil, err
		}
		vals, err := stringArray(sql.NullString{String: values, Valid: true})
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", seq, err)
		}
		if !slices.ContainsFunc(vals, func(v string) bool {
			k, ok := emailKey(v)
			if is.kind == store.IndicatorIP {
				k, ok = ipKey(v)
			}
			return ok && (k == is.key || k == is.alt)
		}) || len(is.logTypes) > 0 && !slices.Contains(is.logTypes, logType) {
			continue
		}
		when, err := parseTimeText(at)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", seq, err)
		}
		if t := unixNano(when); is.matches(t, seq) {
			hits = append(hits, indicatorHit{t: t, seq: seq})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(hits, func(a, b indicatorHit) int {
		if a.t != b.t {
			return cmpInt64(b.t, a.t)
		}
		return cmpInt64(b.seq, a.seq)
	})
	return hits[:min(len(hits), is.limit)], nil
}

// mergeHits merges two lists sorted newest first into the newest limit.
func mergeHits(a, b []indicatorHit, limit int) []indicatorHit {
	if len(b) == 0 {
		return a
	}
	out := make([]indicatorHit, 0, min(len(a)+len(b), limit))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		if len(a) > 0 && len(b) > 0 && a[0] == b[0] { // found on both sides of a compaction
			b = b[1:]
		}
		if len(b) == 0 || len(a) > 0 && (a[0].t > b[0].t || a[0].t == b[0].t && a[0].seq > b[0].seq) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// stringJSONArray is vals as a JSON array of strings.
func stringJSONArray(vals []string) string {
	if s, ok := jsonArray(vals).(string); ok {
		return s
	}
	return "[]"
}
