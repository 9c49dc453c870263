package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// The indicator index (migrations/0007_indicators.sql): one row per event
// and p_any_ value. A commit appends its rows to event_indicators_recent,
// keyed by seq, so that every insert lands at the end of that table's
// B-tree (SQLite then skips the search from the root); once the events
// reach the next block, the finished block's rows move to event_indicators,
// sorted by its key (block, indicator, t, seq), so they too land at the end.
// event_indicator_blocks holds each block's range of event times. All of it
// is written in the transaction that stores the events.

// blockShift makes a block of 1<<blockShift events stored one after
// another (the migration's backfill uses the same shift). A search seeks
// once per block and reads the unfinished block whole.
const blockShift = 12

// indicatorRowColumns is the number of values bound per index row.
const indicatorRowColumns = 3

// maxIndicatorChunk is the most index rows one INSERT carries.
const maxIndicatorChunk = 256

// indicatorStmtKey is where the statement inserting n index rows is kept
// among Store.inserts, whose keys for events are positive row counts.
func indicatorStmtKey(n int) int { return -n }

// Keys of the other statements among Store.inserts.
const (
	blockStmtKey = math.MinInt32 + iota
	flushStmtKey
	clearStmtKey
)

// insertIndicatorsSQL appends n index rows of (seq, indicator, t).
func insertIndicatorsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO event_indicators_recent (seq, indicator, t) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?)")
	}
	return b.String()
}

const widenBlockSQL = `INSERT INTO event_indicator_blocks (block, min_t, max_t) VALUES (?, ?, ?)
	ON CONFLICT (block) DO UPDATE SET min_t = min(min_t, excluded.min_t), max_t = max(max_t, excluded.max_t)`

// flushSQL moves the rows of the blocks before ?1's, sorted; clearSQL
// deletes them from the recent rows.
var (
	flushSQL = fmt.Sprintf(`INSERT OR IGNORE INTO event_indicators (block, indicator, t, seq)
	SELECT seq >> %[1]d, indicator, t, seq FROM event_indicators_recent WHERE seq < ?1 << %[1]d
	ORDER BY seq >> %[1]d, indicator, t, seq`, blockShift)
	clearSQL = fmt.Sprintf(`DELETE FROM event_indicators_recent WHERE seq < ?1 << %d`, blockShift)
)

// prepareIndicatorStmts prepares, once, the statements writing the index:
// every chunk size chunkSizes can give (before any transaction: see
// insertStmt).
func (s *Store) prepareIndicatorStmts(ctx context.Context) (map[int]*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stmts := map[int]*sql.Stmt{}
	want := map[int]string{blockStmtKey: widenBlockSQL, flushStmtKey: flushSQL, clearStmtKey: clearSQL}
	for n := maxIndicatorChunk; n > 0; n /= 2 {
		want[indicatorStmtKey(n)] = insertIndicatorsSQL(n)
	}
	for key, text := range want {
		st := s.inserts[key]
		if st == nil {
			var err error
			if st, err = s.writer.PrepareContext(ctx, text); err != nil {
				return nil, err
			}
			s.inserts[key] = st
		}
		stmts[key] = st
	}
	return stmts, nil
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

// batchIndicators are a batch's index keys, computed before the
// transaction, and the index rows of the events the transaction inserted.
type batchIndicators struct {
	keys  []string // every event's keys, in event order
	ends  []int    // ends[i] is where event i's keys end in keys
	times []int64  // each event's time, Unix ns
	stmts map[int]*sql.Stmt

	rows   []any // indicatorRowColumns values per index row
	blocks []blockRange
	newest int64 // the newest seq the transaction inserted
}

type blockRange struct{ block, minT, maxT int64 }

// add keys the indicators of one event, in event order.
func (bi *batchIndicators) add(e *store.Event, at time.Time) {
	for _, v := range e.Emails {
		if k, ok := emailKey(v); ok {
			bi.keys = append(bi.keys, k)
		}
	}
	for _, v := range e.IPs {
		if k, ok := ipKey(v); ok {
			bi.keys = append(bi.keys, k)
		}
	}
	bi.ends = append(bi.ends, len(bi.keys))
	bi.times = append(bi.times, unixNano(at))
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

// inserted records the index rows of events off..off+n-1 of the batch after
// the statement that inserted them reported res. When every event was new
// their seqs are the last n, in order (one writer, AUTOINCREMENT); when some
// were already stored, the new ones are found by their key among the seqs
// the statement may have used.
func (bi *batchIndicators) inserted(ctx context.Context, tx *sql.Tx, b *batch, t target, off, n int, res sql.Result, k int) error {
	if k == 0 || len(bi.keys) == 0 {
		return nil
	}
	last, err := res.LastInsertId()
	if err != nil {
		return err
	}
	bi.newest = max(bi.newest, last)
	if k == n {
		for i := range n {
			bi.addRows(off+i, last-int64(n)+1+int64(i))
		}
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, uuid, p_event_time FROM events
		WHERE seq > ? AND seq <= ? AND log_type = ?`, last-int64(n), last, t.logType)
	if err != nil {
		return err
	}
	defer rows.Close()
	seqs := make(map[[2]string]int64, k)
	for rows.Next() {
		var seq int64
		var uuid, at string
		if err := rows.Scan(&seq, &uuid, &at); err != nil {
			return err
		}
		seqs[[2]string{uuid, at}] = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range n {
		row := b.rows[(off+i)*rowColumns:]
		uuid, _ := row[0].(string)
		at, _ := row[1].(string)
		if seq, ok := seqs[[2]string{uuid, at}]; ok {
			bi.addRows(off+i, seq) // an event stored before is keyed again: OR IGNORE
		}
	}
	return nil
}

// addRows adds the index rows of event i, stored at seq.
func (bi *batchIndicators) addRows(i int, seq int64) {
	start := 0
	if i > 0 {
		start = bi.ends[i-1]
	}
	if start == bi.ends[i] {
		return
	}
	at := bi.times[i]
	for _, k := range bi.keys[start:bi.ends[i]] {
		bi.rows = append(bi.rows, seq, k, at)
	}
	block := seq >> blockShift
	if j := len(bi.blocks) - 1; j >= 0 && bi.blocks[j].block == block {
		bi.blocks[j].minT = min(bi.blocks[j].minT, at)
		bi.blocks[j].maxT = max(bi.blocks[j].maxT, at)
		return
	}
	bi.blocks = append(bi.blocks, blockRange{block: block, minT: at, maxT: at})
}

// write appends the index rows gathered, widens their blocks, and moves
// the rows of finished blocks to event_indicators.
func (bi *batchIndicators) write(ctx context.Context, tx *sql.Tx) error {
	if len(bi.rows) == 0 {
		return nil
	}
	off := 0
	for _, n := range indicatorChunkSizes(len(bi.rows) / indicatorRowColumns) {
		end := off + n*indicatorRowColumns
		if _, err := tx.StmtContext(ctx, bi.stmts[indicatorStmtKey(n)]).ExecContext(ctx, bi.rows[off:end]...); err != nil {
			return fmt.Errorf("index indicators: %w", err)
		}
		off = end
	}
	for _, r := range bi.blocks {
		if _, err := tx.StmtContext(ctx, bi.stmts[blockStmtKey]).ExecContext(ctx, r.block, r.minT, r.maxT); err != nil {
			return fmt.Errorf("index indicators: %w", err)
		}
	}
	var oldest int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(min(seq), 0) FROM event_indicators_recent`).Scan(&oldest); err != nil {
		return fmt.Errorf("index indicators: %w", err)
	}
	if current := bi.newest >> blockShift; oldest>>blockShift < current {
		for _, key := range []int{flushStmtKey, clearStmtKey} {
			if _, err := tx.StmtContext(ctx, bi.stmts[key]).ExecContext(ctx, current); err != nil {
				return fmt.Errorf("index indicators: move finished blocks: %w", err)
			}
		}
	}
	bi.rows, bi.blocks = bi.rows[:0], bi.blocks[:0]
	return nil
}

// SearchIndicator finds the events naming q.Value, newest first. It reads
// the blocks whose times overlap the range, newest first, a growing group
// of blocks per statement, and stops once the events found are newer than
// anything the remaining blocks hold: a search for a rare value seeks once
// per block in the range, one for a value in every other event reads a few
// blocks.
func (s *Store) SearchIndicator(ctx context.Context, q store.IndicatorQuery) ([]store.StoredEvent, error) {
	evs, err := s.searchIndicator(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("search for %s %q: %w", q.Kind, q.Value, err)
	}
	return evs, nil
}

type indicatorHit struct{ t, seq int64 }

func (s *Store) searchIndicator(ctx context.Context, q store.IndicatorQuery) ([]store.StoredEvent, error) {
	if q.Limit <= 0 {
		return nil, errors.New("the limit must be positive")
	}
	key, err := store.IndicatorKey(q.Kind, q.Value)
	if err != nil {
		return nil, err
	}
	// Events stored before the index (0007) keyed an IPv6 address as
	// received: 1Password's other form is the fully expanded one.
	alt := key
	if q.Kind == store.IndicatorIP {
		if a, err := netip.ParseAddr(key); err == nil && a.Is6() {
			alt = a.StringExpanded()
		}
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = unixNano(q.From)
	}
	if !q.To.IsZero() {
		to = unixNano(q.To)
	}
	afterT, afterSeq := int64(math.MaxInt64), int64(math.MaxInt64)
	if q.After != nil {
		afterT, afterSeq = unixNano(q.After.EventTime), q.After.Seq
	}
	if from >= to || afterT < from {
		return nil, nil
	}
	logTypes := "[]"
	if len(q.LogTypes) > 0 {
		logTypes = stringJSONArray(q.LogTypes)
	}

	type blockTimes struct{ block, maxT int64 }
	var blocks []blockTimes
	rows, err := s.reader.QueryContext(ctx, `SELECT block, max_t FROM event_indicator_blocks
		WHERE max_t >= ? AND min_t < ? AND min_t <= ? ORDER BY max_t DESC`, from, to, afterT)
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

	// The rows not moved to event_indicators yet: at most a block or two.
	hits, err := s.indicatorHits(ctx, nil, recentHitsSQL, nil, key, alt, from, to, afterT, afterSeq, logTypes, q.Limit)
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
		found, err = s.indicatorHits(ctx, found[:0], blockHitsSQL, ids, key, alt, from, to, afterT, afterSeq, logTypes, q.Limit)
		if err != nil {
			return nil, err
		}
		hits = mergeHits(hits, found, q.Limit)
	}
	if len(hits) == 0 {
		return nil, nil
	}
	seqs := make([]int64, len(hits))
	for i, h := range hits {
		seqs[i] = h.seq
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
		if i, ok := bySeq[h.seq]; ok { // an event deleted since is left out
			out = append(out, evs[i])
		}
	}
	return out, nil
}

// The newest index rows of ?2 (or ?3) in blocks ?1, or among the recent
// rows, within [?4, ?5), after (?6, ?7), of the log types ?8 (a JSON array;
// empty: all), at most ?9.
const (
	hitsFilter = `i.indicator IN (?2, ?3) AND i.t >= ?4 AND i.t < ?5 AND (i.t, i.seq) < (?6, ?7)
		AND (?8 = '[]' OR (SELECT log_type FROM events e WHERE e.seq = i.seq) IN (SELECT value FROM json_each(?8)))
		ORDER BY i.t DESC, i.seq DESC LIMIT ?9`
	blockHitsSQL = `SELECT i.t, i.seq FROM event_indicators i
		WHERE i.block IN (SELECT value FROM json_each(?1)) AND ` + hitsFilter
	recentHitsSQL = `SELECT i.t, i.seq FROM event_indicators_recent i WHERE ?1 IS NULL AND ` + hitsFilter
)

// indicatorHits appends the hits query finds to dst.
func (s *Store) indicatorHits(ctx context.Context, dst []indicatorHit, query string, blocks []int64, key, alt string,
	from, to, afterT, afterSeq int64, logTypes string, limit int) ([]indicatorHit, error) {
	var blockList any // NULL for the recent rows
	if blocks != nil {
		blockList = int64Array(blocks)
	}
	rows, err := s.reader.QueryContext(ctx, query, blockList, key, alt, from, to, afterT, afterSeq, logTypes, limit)
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

// mergeHits merges two lists sorted newest first into the newest limit.
func mergeHits(a, b []indicatorHit, limit int) []indicatorHit {
	if len(b) == 0 {
		return a
	}
	out := make([]indicatorHit, 0, min(len(a)+len(b), limit))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
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
