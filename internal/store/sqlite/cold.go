package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"modernc.org/sqlite/vtab"
)

// event_cold (0008_compaction.sql) is the compacted events as a table, for
// the log-type views: a virtual table of module opwatch_cold. A view reads
// it with its log type and the compaction boundary its own snapshot sees:
//
//	... FROM event_cold WHERE log_type = 'X' AND below = (SELECT compacted_below FROM lake_compaction)
//
// and SQLite hands it the view's constraints on p_event_time, so that a
// query over a day decodes that day's segments, not the year's. SQL cannot
// do that over the segments themselves: no planner infers "the segment's
// last time is after X" from "the event's time is after X".
//
// The table reads the segments through the store's reader pool, in a
// snapshot of its own: it returns only events below the boundary the view
// passed (an event compacted after the view's snapshot is in its hot rows),
// so no event is read twice or missed; one purged between the two snapshots
// may be missed, as it would be a moment later.

const coldSchema = `CREATE TABLE x (log_type TEXT, seq INTEGER, p_event_time TEXT, p_parse_time TEXT,
	p_row_id TEXT, source_id TEXT, p_source_label TEXT, p_any_ip_addresses TEXT, p_any_emails TEXT,
	raw TEXT, below INTEGER HIDDEN)`

// The columns of coldSchema.
const (
	coldLogType = iota
	coldSeq
	coldEventTime
	coldParseTime
	coldRowID
	coldSourceID
	coldSourceLabel
	coldIPs
	coldEmails
	coldRaw
	coldBelow
)

// coldModule makes the tables of opwatch_cold for one Store.
type coldModule struct{ s *Store }

func (m coldModule) Create(ctx vtab.Context, _ []string) (vtab.Table, error) {
	return m.Connect(ctx, nil)
}

func (m coldModule) Connect(ctx vtab.Context, _ []string) (vtab.Table, error) {
	if err := ctx.Declare(coldSchema); err != nil {
		return nil, err
	}
	return coldTable(m), nil
}

type coldTable struct{ s *Store }

// BestIndex takes the equality on log_type and below, and the bounds on
// p_event_time; idxStr lists, in argv order, what each value is: "l"
// log type, "b" below, ">" a lower and "<" an upper bound on the time.
func (t coldTable) BestIndex(info *vtab.IndexInfo) error {
	var plan []byte
	cost := 1e9
	for i := range info.Constraints {
		c := &info.Constraints[i]
		if !c.Usable {
			continue
		}
		var what byte
		switch {
		case c.Column == coldLogType && c.Op == vtab.OpEQ:
			what = 'l'
			cost /= 4
		case c.Column == coldBelow && c.Op == vtab.OpEQ:
			what = 'b'
		case c.Column == coldEventTime && (c.Op == vtab.OpGT || c.Op == vtab.OpGE):
			what = '>'
			cost /= 20
		case c.Column == coldEventTime && (c.Op == vtab.OpLT || c.Op == vtab.OpLE):
			what = '<'
			cost /= 20
		case c.Column == coldEventTime && c.Op == vtab.OpEQ:
			what = '='
			cost /= 400
		default:
			continue
		}
		c.ArgIndex = len(plan)
		plan = append(plan, what)
		// SQLite checks every constraint again on the rows: the segments
		// are chosen by day, and the rows filtered here too, but the text
		// comparison stays SQLite's.
		c.Omit = false
	}
	info.IdxStr = string(plan)
	info.EstimatedCost = cost
	info.EstimatedRows = int64(cost)
	return nil
}

func (t coldTable) Open() (vtab.Cursor, error) { return &coldRows{s: t.s}, nil }
func (t coldTable) Disconnect() error          { return nil }
func (t coldTable) Destroy() error             { return nil }

// coldRows walks the chosen segments' events.
type coldRows struct {
	s        *Store
	segments []int64 // ids still to read
	below    int64
	events   []store.StoredEvent
	i        int
}

// dayOf is the UTC midnight of the date a time text starts with, for
// choosing segments: a text compares after "2026-11-30…" only if its date
// is on or after that day, whatever follows the date.
func dayOf(v vtab.Value) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || len(s) < 10 {
		return time.Time{}, false
	}
	d, err := time.ParseInLocation("2006-01-02", s[:10], time.UTC)
	return d, err == nil
}

func (c *coldRows) Filter(_ int, idxStr string, vals []vtab.Value) error {
	ctx := context.Background()
	logType, hasType := "", false
	c.below = -1
	from, to := int64(-1<<63), int64(1<<63-1)
	for i, what := range []byte(idxStr) {
		if i >= len(vals) {
			break
		}
		switch what {
		case 'l':
			s, ok := vals[i].(string)
			if !ok {
				c.segments, c.events = nil, nil
				return nil // no log type is not a string
			}
			logType, hasType = s, true
		case 'b':
			if n, ok := vals[i].(int64); ok {
				c.below = n
			}
		case '>', '<', '=':
			d, ok := dayOf(vals[i])
			if !ok {
				continue
			}
			if what != '<' {
				from = max(from, d.UnixNano())
			}
			if what != '>' {
				to = min(to, d.Add(24*time.Hour).UnixNano())
			}
		}
	}
	if c.below < 0 {
		return errors.New("event_cold is read through the log-type views (it needs their compaction boundary)")
	}
	q := `SELECT id FROM event_segments WHERE max_t >= ? AND min_t < ? AND min_seq < ?`
	args := []any{from, to, c.below}
	if hasType {
		q += ` AND log_type = ?`
		args = append(args, logType)
	}
	rows, err := c.s.reader.QueryContext(ctx, q+` ORDER BY min_seq`, args...)
	if err != nil {
		return fmt.Errorf("event_cold: %w", err)
	}
	defer rows.Close()
	c.segments, c.events, c.i = c.segments[:0], nil, 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("event_cold: %w", err)
		}
		c.segments = append(c.segments, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("event_cold: %w", err)
	}
	return c.advance()
}

// advance moves to the next event below the boundary, reading segments as
// needed.
func (c *coldRows) advance() error {
	for {
		for c.i < len(c.events) && c.events[c.i].Seq >= c.below {
			c.i++
		}
		if c.i < len(c.events) || len(c.segments) == 0 {
			return nil
		}
		var data []byte
		id := c.segments[0]
		c.segments = c.segments[1:]
		err := c.s.reader.QueryRowContext(context.Background(), `SELECT data FROM event_segments WHERE id = ?`, id).Scan(&data)
		if err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				continue // purged since
			}
			return fmt.Errorf("event_cold: segment %d: %w", id, err)
		}
		if c.events, err = c.s.decodeSegment(data); err != nil {
			return fmt.Errorf("event_cold: segment %d: %w", id, err)
		}
		c.i = 0
	}
}

func (c *coldRows) Next() error {
	c.i++
	return c.advance()
}

func (c *coldRows) Eof() bool { return c.i >= len(c.events) }

func (c *coldRows) Column(col int) (vtab.Value, error) {
	e := &c.events[c.i]
	switch col {
	case coldLogType:
		return e.LogType, nil
	case coldSeq:
		return e.Seq, nil
	case coldEventTime:
		return timeText(e.EventTime), nil
	case coldParseTime:
		return timeText(e.ParseTime), nil
	case coldRowID:
		return e.RowID, nil
	case coldSourceID:
		return e.SourceID, nil
	case coldSourceLabel:
		return e.SourceLabel, nil
	case coldIPs:
		return jsonArray(e.IPs), nil
	case coldEmails:
		return jsonArray(e.Emails), nil
	case coldRaw:
		return string(e.Raw), nil
	case coldBelow:
		return c.below, nil
	}
	return nil, fmt.Errorf("event_cold: no column %d", col)
}

func (c *coldRows) Rowid() (int64, error) { return c.events[c.i].Seq, nil }
func (c *coldRows) Close() error          { return nil }
