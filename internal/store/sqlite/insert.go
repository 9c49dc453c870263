package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/opwatch/opwatch/internal/store"
)

// Inserting events is the hot path of opwatch (a page of 1000 events is
// committed in a few milliseconds), so it binds as little as it can: rows go
// in multi-row INSERTs, and what a page's rows share is bound once.

// maxChunk is the most rows one INSERT carries: the gain flattens out well
// before SQLite's limit of 32766 variables.
const maxChunk = 512

// rowColumns is the number of values bound per row.
const rowColumns = 6

// insertEventsSQL inserts rows events. ?1..?5 hold what a run of rows shares
// (source, log type, parse time, source label, account); each row binds its
// own six values after them. OR IGNORE skips rows already stored (see events_key), so
// a replayed page or an overlapping re-scan inserts nothing twice; unlike ON
// CONFLICT DO NOTHING it also spares SQLite a statement journal.
func insertEventsSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO events (source_id, log_type, p_parse_time, p_source_label, account,
	uuid, p_event_time, p_row_id, p_any_ip_addresses, p_any_emails, raw)
	SELECT ?1, ?2, ?3, ?4, ?5, * FROM (VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?)")
	}
	b.WriteString(")")
	return b.String()
}

// chunkSizes splits n rows into full chunks and then powers of two, so a
// handful of statements, prepared once, serve pages of any size.
func chunkSizes(n int) []int {
	var sizes []int
	for ; n >= maxChunk; n -= maxChunk {
		sizes = append(sizes, maxChunk)
	}
	for size := maxChunk / 2; size > 0; size /= 2 {
		if n >= size {
			sizes = append(sizes, size)
			n -= size
		}
	}
	return sizes
}

// insertStmt returns the statement inserting rows events, prepared once on
// the writer connection. It must not be called inside a transaction: the
// writer has one connection, and preparing needs it.
func (s *Store) insertStmt(ctx context.Context, rows int) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.inserts[rows]; st != nil {
		return st, nil
	}
	st, err := s.writer.PrepareContext(ctx, insertEventsSQL(rows))
	if err != nil {
		return nil, err
	}
	s.inserts[rows] = st
	return st, nil
}

// target is the stream a batch of events goes to.
type target struct {
	sourceID, logType, sourceName string
	account                       string // the source's, or its stand-in; see 0002_account_key.sql
}

// run is a stretch of a batch's rows sharing parse time and source label
// (normally the whole page).
type run struct {
	parseTime, label, account string
	start, n                  int
}

// batch is a page's events, converted for binding.
type batch struct {
	rows      []any // rowColumns values per event
	runs      []run
	stmts     map[int]*sql.Stmt // by rows per statement
	lastEvent any               // newest event time, or nil
	ind       blockIndexer      // the indicator index (indicator.go)
	times     []int64           // each event's time in Unix ns
	oldest    int64             // the oldest of them
}

// prepareBatch converts the events, and prepares the statements they need,
// before the transaction starts: the write lock is held only for inserting.
func (s *Store) prepareBatch(ctx context.Context, events []store.Event, now time.Time) (*batch, error) {
	b := &batch{rows: make([]any, 0, len(events)*rowColumns), stmts: map[int]*sql.Stmt{},
		times: make([]int64, 0, len(events)), oldest: math.MaxInt64}
	var newest, parsedAt time.Time
	var parsedText string
	for i := range events {
		e := &events[i]
		if e.UUID == "" {
			return nil, fmt.Errorf("event %d of %d has no uuid", i+1, len(events))
		}
		if len(e.Raw) == 0 {
			return nil, fmt.Errorf("event %s has no raw JSON", e.UUID)
		}
		parsed := e.ParseTime
		if parsed.IsZero() {
			parsed = now
		}
		if parsedText == "" || !parsed.Equal(parsedAt) {
			parsedAt, parsedText = parsed, timeText(parsed)
		}
		if r := len(b.runs) - 1; r < 0 || b.runs[r].parseTime != parsedText || b.runs[r].label != e.SourceLabel || b.runs[r].account != e.Account {
			b.runs = append(b.runs, run{parseTime: parsedText, label: e.SourceLabel, account: e.Account, start: i})
		}
		b.runs[len(b.runs)-1].n++
		at := e.EventTime
		if at.IsZero() {
			at = parsed // as Panther does
		}
		if at.After(newest) {
			newest = at
		}
		t := unixNano(at)
		b.times = append(b.times, t)
		b.oldest = min(b.oldest, t)
		rowID := e.RowID
		if rowID == "" {
			rowID = newRowID()
		}
		// The driver copies the text while binding, and nothing holds it
		// after the commit returns, so Raw need not be copied first (that
		// copy was a tenth of the cost of a commit).
		raw := unsafe.String(unsafe.SliceData(e.Raw), len(e.Raw))
		b.rows = append(b.rows, e.UUID, timeText(at), rowID, jsonArray(e.IPs), jsonArray(e.Emails), raw)
	}
	b.lastEvent = timeArg(newest)
	if len(events) > 0 {
		var err error
		if b.ind.stmts, err = s.prepareIndicatorStmts(ctx); err != nil {
			return nil, err
		}
	}
	// One row at a time is the way around compacted duplicates (insert).
	for _, r := range append(b.runs, run{n: 1}) {
		for _, n := range chunkSizes(r.n) {
			if b.stmts[n] != nil {
				continue
			}
			st, err := s.insertStmt(ctx, n)
			if err != nil {
				return nil, err
			}
			b.stmts[n] = st
		}
	}
	return b, nil
}

// insert runs the batch's inserts in tx and returns how many rows were new.
func (b *batch) insert(ctx context.Context, tx *sql.Tx, t target) (int, error) {
	skip, err := b.compacted(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	if skip != nil {
		return b.insertEach(ctx, tx, t, skip)
	}
	inserted := 0
	args := make([]any, 0, 5+rowColumns*maxChunk)
	for _, r := range b.runs {
		label := r.label
		if label == "" {
			label = t.sourceName
		}
		account := r.account
		if account == "" {
			account = t.account
		}
		off := r.start
		for _, n := range chunkSizes(r.n) {
			args = append(args[:0], t.sourceID, t.logType, r.parseTime, label, account)
			args = append(args, b.rows[off*rowColumns:(off+n)*rowColumns]...)
			res, err := tx.StmtContext(ctx, b.stmts[n]).ExecContext(ctx, args...)
			if err != nil {
				return 0, fmt.Errorf("insert events: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return 0, fmt.Errorf("insert events: %w", err)
			}
			if err := b.ind.inserted(res, k); err != nil {
				return 0, fmt.Errorf("insert events: %w", err)
			}
			inserted += int(k)
			off += n
		}
	}
	return inserted, b.ind.index(ctx, tx)
}

// compacted reports which of the batch's events are compacted already
// (event_keys, see 0008_compaction.sql), or nil for none: only events no
// newer than the newest compacted one are looked up, so a page of new
// events costs one read of one row.
func (b *batch) compacted(ctx context.Context, tx *sql.Tx, t target) ([]bool, error) {
	var coldMax int64
	if err := tx.QueryRowContext(ctx, `SELECT cold_max_t FROM lake_compaction`).Scan(&coldMax); err != nil {
		return nil, fmt.Errorf("read the compaction state: %w", err)
	}
	if b.oldest > coldMax {
		return nil, nil
	}
	var skip []bool
	for _, r := range b.runs {
		account := r.account
		if account == "" {
			account = t.account
		}
		for i := r.start; i < r.start+r.n; i++ {
			if b.times[i] > coldMax {
				continue
			}
			uuid := b.rows[i*rowColumns].(string)
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM event_keys WHERE t = ? AND h = ?`, b.times[i], coldKey(t.logType, account, uuid)).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("look up a compacted event: %w", err)
			}
			if skip == nil {
				skip = make([]bool, len(b.times))
			}
			skip[i] = true
		}
	}
	return skip, nil
}

// insertEach inserts the batch's events one at a time, but those skipped.
func (b *batch) insertEach(ctx context.Context, tx *sql.Tx, t target, skip []bool) (int, error) {
	inserted := 0
	args := make([]any, 0, 5+rowColumns)
	for _, r := range b.runs {
		label := r.label
		if label == "" {
			label = t.sourceName
		}
		account := r.account
		if account == "" {
			account = t.account
		}
		for i := r.start; i < r.start+r.n; i++ {
			if skip[i] {
				continue
			}
			args = append(args[:0], t.sourceID, t.logType, r.parseTime, label, account)
			args = append(args, b.rows[i*rowColumns:(i+1)*rowColumns]...)
			res, err := tx.StmtContext(ctx, b.stmts[1]).ExecContext(ctx, args...)
			if err != nil {
				return 0, fmt.Errorf("insert events: %w", err)
			}
			k, err := res.RowsAffected()
			if err == nil {
				err = b.ind.inserted(res, k)
			}
			if err != nil {
				return 0, fmt.Errorf("insert events: %w", err)
			}
			inserted += int(k)
		}
	}
	return inserted, b.ind.index(ctx, tx)
}

// jsonArray is the stored form of a p_any_ column: a JSON array, or NULL
// when empty (Panther omits empty p_any_ fields).
func jsonArray(vals []string) any {
	if len(vals) == 0 {
		return nil
	}
	// IPs and e-mail addresses are almost always plain ASCII, which needs no
	// escaping; json.Marshal handles the rest (and costs ten times more).
	b := make([]byte, 0, 64)
	b = append(b, '[')
	for i, v := range vals {
		for j := 0; j < len(v); j++ {
			if c := v[j]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				m, _ := json.Marshal(vals)
				return string(m)
			}
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, v...)
		b = append(b, '"')
	}
	b = append(b, ']')
	return string(b)
}

// newRowID makes a p_row_id for an event that came without one.
func newRowID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
