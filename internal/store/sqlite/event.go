package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// maxChunk is the most rows one INSERT carries. Ten variables a row keeps
// it far under SQLite's limit of 32766; the gain flattens out well before.
const maxChunk = 512

// eventColumns is the number of bound values per row of insertEventsSQL.
const eventColumns = 10

func insertEventsSQL(rows int) string {
	var b strings.Builder
	// OR IGNORE skips rows already stored (see events_key): a replayed page or
	// an overlapping re-scan inserts nothing twice. Unlike ON CONFLICT DO
	// NOTHING it spares SQLite a statement journal.
	b.WriteString(`INSERT OR IGNORE INTO events (source_id, log_type, uuid, p_event_time, p_parse_time, p_row_id,
	p_source_label, p_any_ip_addresses, p_any_emails, raw) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
	}
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

// target is the stream a batch of events belongs to.
type target struct {
	sourceID, logType, sourceName string
}

// batch is a page's rows, ready to bind.
type batch struct {
	args      []any
	sizes     []int
	stmts     []*sql.Stmt
	lastEvent any // newest event time, or nil
}

// prepareBatch converts the events before the transaction starts, so the
// write lock is held only for the inserts.
func (s *Store) prepareBatch(ctx context.Context, events []store.Event, now time.Time) (*batch, error) {
	b := &batch{sizes: chunkSizes(len(events))}
	for _, n := range b.sizes {
		st, err := s.insertStmt(ctx, n)
		if err != nil {
			return nil, err
		}
		b.stmts = append(b.stmts, st)
	}
	b.args = make([]any, 0, len(events)*eventColumns)
	var newest time.Time
	var lastParsed time.Time // a page's events share their parse time
	var lastParsedText string
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
		if !parsed.Equal(lastParsed) || lastParsedText == "" {
			lastParsed, lastParsedText = parsed, timeText(parsed)
		}
		at := e.EventTime
		if at.IsZero() {
			at = parsed // as Panther does
		}
		if at.After(newest) {
			newest = at
		}
		rowID := e.RowID
		if rowID == "" {
			rowID = newRowID()
		}
		// source_id, log_type and p_source_label are filled in per target.
		b.args = append(b.args, nil, nil, e.UUID, timeText(at), lastParsedText, rowID,
			e.SourceLabel, jsonArray(e.IPs), jsonArray(e.Emails), string(e.Raw))
	}
	b.lastEvent = timeArg(newest)
	return b, nil
}

// insert runs the batch's inserts in tx and returns how many rows were new.
func (b *batch) insert(ctx context.Context, tx *sql.Tx, t target) (int, error) {
	for i := 0; i < len(b.args); i += eventColumns {
		b.args[i], b.args[i+1] = t.sourceID, t.logType
		if b.args[i+6] == "" {
			b.args[i+6] = t.sourceName
		}
	}
	inserted := 0
	args := b.args
	for i, n := range b.sizes {
		res, err := tx.StmtContext(ctx, b.stmts[i]).ExecContext(ctx, args[:n*eventColumns]...)
		if err != nil {
			return 0, fmt.Errorf("insert events: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("insert events: %w", err)
		}
		inserted += int(k)
		args = args[n*eventColumns:]
	}
	return inserted, nil
}

func insertQuarantine(ctx context.Context, tx *sql.Tx, t target, qs []store.Quarantined, now time.Time) error {
	for _, q := range qs {
		at := q.At
		if at.IsZero() {
			at = now
		}
		raw := q.Raw
		if raw == nil {
			raw = []byte{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO quarantine (source_id, log_type, raw, reason, at) VALUES (?, ?, ?, ?, ?)`,
			t.sourceID, t.logType, raw, q.Reason, timeText(at)); err != nil {
			return fmt.Errorf("quarantine event: %w", err)
		}
	}
	return nil
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

const streamTarget = `SELECT st.source_id, st.log_type, coalesce(so.name, '')
	FROM streams st LEFT JOIN sources so ON so.id = st.source_id WHERE st.id = ?`

// CommitPage stores the page and the cursor in one transaction, fenced by the
// lease: checked first (so a lost lease costs nothing) and again by the final
// UPDATE, whose zero rows roll everything back.
func (s *Store) CommitPage(ctx context.Context, c store.PageCommit) (store.CommitResult, error) {
	now := c.Now
	if now.IsZero() {
		now = s.now()
	}
	b, err := s.prepareBatch(ctx, c.Events, now)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	var res store.CommitResult
	lost := fmt.Errorf("commit page of stream %d: %w: %q no longer holds a live lease; the page will be fetched again",
		c.StreamID, store.ErrLeaseLost, c.LeaseOwner)
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var t target
		err := tx.QueryRowContext(ctx, streamTarget+` AND st.lease_owner = ? AND st.lease_until > ?`,
			c.StreamID, c.LeaseOwner, timeText(now)).Scan(&t.sourceID, &t.logType, &t.sourceName)
		if errors.Is(err, sql.ErrNoRows) || c.LeaseOwner == "" {
			return lost
		}
		if err != nil {
			return err
		}
		if res.Inserted, err = b.insert(ctx, tx, t); err != nil {
			return err
		}
		if err := insertQuarantine(ctx, tx, t, c.Quarantine, now); err != nil {
			return err
		}
		up, err := tx.ExecContext(ctx, `UPDATE streams SET cursor = $1, events = events + $2,
			quarantined = quarantined + $3, last_event_at = coalesce(max(last_event_at, $4), last_event_at, $4)
			WHERE id = $5 AND lease_owner = $6 AND lease_until > $7`,
			c.Cursor, res.Inserted, len(c.Quarantine), b.lastEvent, c.StreamID, c.LeaseOwner, timeText(now))
		if err != nil {
			return err
		}
		if n, _ := up.RowsAffected(); n == 0 {
			return lost
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return store.CommitResult{}, err
		}
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	res.Duplicates = len(c.Events) - res.Inserted
	res.Quarantined = len(c.Quarantine)
	return res, nil
}

// InsertEvents stores events for backfill and reconciliation: no cursor, no
// lease, but the stream's counters and last event time still move.
func (s *Store) InsertEvents(ctx context.Context, streamID int64, events []store.Event, quarantine []store.Quarantined) (store.CommitResult, error) {
	now := s.now()
	b, err := s.prepareBatch(ctx, events, now)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	var res store.CommitResult
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var t target
		err := tx.QueryRowContext(ctx, streamTarget, streamID).Scan(&t.sourceID, &t.logType, &t.sourceName)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("stream %d: %w", streamID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if res.Inserted, err = b.insert(ctx, tx, t); err != nil {
			return err
		}
		if err := insertQuarantine(ctx, tx, t, quarantine, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE streams SET events = events + $1, quarantined = quarantined + $2,
			last_event_at = coalesce(max(last_event_at, $3), last_event_at, $3) WHERE id = $4`,
			res.Inserted, len(quarantine), b.lastEvent, streamID)
		return err
	})
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	res.Duplicates = len(events) - res.Inserted
	res.Quarantined = len(quarantine)
	return res, nil
}

func (s *Store) ListQuarantine(ctx context.Context, sourceID string, limit int) ([]store.Quarantined, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT id, source_id, log_type, raw, reason, at FROM quarantine
		WHERE ? = '' OR source_id = ? ORDER BY at DESC, id DESC LIMIT ?`, sourceID, sourceID, limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var qs []store.Quarantined
	for rows.Next() {
		var q store.Quarantined
		if err := rows.Scan(&q.ID, &q.SourceID, &q.LogType, &q.Raw, &q.Reason, timeCol{&q.At}); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		qs = append(qs, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return qs, nil
}
