package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// Readers by position must never skip an event. A sequence hands out seq
// values at insert, and transactions commit in any order: one holding seq
// 100 can commit after another has committed 101 and the detect stage has
// read past 100, which it would then never see.
//
// So every transaction that inserts events first marks itself in flight,
// with two shared transaction-level advisory locks, before it takes any
// seq: one that says "writing this events table" (eventsMark and the
// table's oid, so schemas in one database keep apart), then one whose key
// is the events sequence's last value L (all its seqs will be above L).
// Advisory locks are visible to every session at once (they are not
// transactional) and go away when the transaction ends. A reader (see
// inFlightBound) first reads the lowest L held by a session that also
// holds the table's mark, and the sequence's last value; then, in a later
// statement and so a later snapshot, it reads only the seqs below both. A
// seq below them was either committed before that snapshot, or belongs to a
// writer whose mark it saw. Writers never wait for each other; a reader
// waits, at most, for the oldest writer in flight.
//
// (Serialising the inserts with an exclusive lock held through commit is
// the simpler way; it made a bench pull of three streams about a fifth
// slower, the inserts of one stream waiting for another's.)
const eventsMark = 0x6f70_6576 // "opev"

var markInFlight = [2]string{
	fmt.Sprintf(`SELECT pg_advisory_xact_lock_shared(%d, 'events'::regclass::oid::int)`, eventsMark),
	`SELECT pg_advisory_xact_lock_shared(last_value) FROM events_seq_seq`,
}

// arraySep joins an event's IP addresses (or e-mails) into one text for
// the insert, which string_to_array splits again: a batch binds one array
// per column, and PostgreSQL's arrays cannot be ragged.
const arraySep = "\x1e"

// insertEventsSQL inserts a batch of events bound as arrays, in their order
// (seqs follow the page). ON CONFLICT DO NOTHING skips the events already
// stored (see events_key), so a replayed page or an overlapping re-scan
// inserts nothing twice; an event given twice in one batch is stored once.
const insertEventsSQL = `INSERT INTO events (source_id, log_type, account, uuid, p_event_time, p_parse_time,
		p_row_id, p_source_label, p_any_ip_addresses, p_any_emails, raw, indicators)
	SELECT $1, $2, coalesce(nullif(u.account, ''), $3), u.uuid, u.event_time, u.parse_time,
		u.row_id, coalesce(nullif(u.label, ''), $4), string_to_array(u.ips, E'\x1e'), string_to_array(u.emails, E'\x1e'), u.raw,
		string_to_array(u.indicators, E'\x1e')
	FROM unnest($5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[],
		$11::text[], $12::text[], $13::bytea[], $14::text[]) WITH ORDINALITY
		AS u(account, uuid, event_time, parse_time, row_id, label, ips, emails, raw, indicators, n)
	ORDER BY u.n
	ON CONFLICT DO NOTHING`

// batch is a page's events as the insert binds them.
type batch struct {
	accounts, uuids, rowIDs, labels []string
	eventTimes, parseTimes          []time.Time
	ips, emails, indicators         []*string
	raws                            [][]byte
	unparsed                        []int // events without a parse time: stamped with the store's now
	newest                          time.Time
}

// prepareBatch converts the events before the transaction starts.
func prepareBatch(events []store.Event) (*batch, error) {
	n := len(events)
	b := &batch{accounts: make([]string, n), uuids: make([]string, n), rowIDs: make([]string, n), labels: make([]string, n),
		eventTimes: make([]time.Time, n), parseTimes: make([]time.Time, n), ips: make([]*string, n), emails: make([]*string, n),
		indicators: make([]*string, n), raws: make([][]byte, n)}
	for i := range events {
		e := &events[i]
		if e.UUID == "" {
			return nil, fmt.Errorf("event %d of %d has no uuid", i+1, n)
		}
		if len(e.Raw) == 0 {
			return nil, fmt.Errorf("event %s has no raw JSON", e.UUID)
		}
		b.accounts[i], b.uuids[i], b.labels[i] = enc(e.Account), enc(e.UUID), enc(e.SourceLabel)
		rowID := e.RowID
		if rowID == "" {
			rowID = newRowID()
		}
		b.rowIDs[i] = enc(rowID)
		b.parseTimes[i] = floorMicro(e.ParseTime)
		b.eventTimes[i] = floorMicro(e.EventTime)
		if e.ParseTime.IsZero() {
			b.unparsed = append(b.unparsed, i)
		} else if e.EventTime.IsZero() {
			b.eventTimes[i] = b.parseTimes[i] // as Panther does
		}
		if b.eventTimes[i].After(b.newest) {
			b.newest = b.eventTimes[i]
		}
		b.ips[i], b.emails[i] = joinArray(e.IPs), joinArray(e.Emails)
		b.indicators[i] = joinArray(indicatorKeys(e.Emails, e.IPs))
		b.raws[i] = e.Raw // pgx copies it into the message; nothing holds it after
	}
	return b, nil
}

// stamp gives the events without a parse time the store's now (and those
// also without an event time, that too).
func (b *batch) stamp(now time.Time, events []store.Event) {
	for _, i := range b.unparsed {
		b.parseTimes[i] = now
		if events[i].EventTime.IsZero() {
			b.eventTimes[i] = now
			if now.After(b.newest) {
				b.newest = now
			}
		}
	}
}

// lastEvent is the newest event time of the batch, or NULL.
func (b *batch) lastEvent() any { return timeArg(b.newest) }

// joinArray is the bound form of a p_any_ list: its values encoded and
// joined by arraySep, nil (NULL) when empty. A value that holds arraySep,
// or is empty, is stored quoted (see enc), so the split gives it back.
func joinArray(vals []string) *string {
	if len(vals) == 0 {
		return nil
	}
	var sb strings.Builder
	for i, v := range vals {
		if i > 0 {
			sb.WriteString(arraySep)
		}
		e := enc(v)
		if e == "" || strings.Contains(e, arraySep) {
			e = escapeMark + strconv.Quote(v)
		}
		sb.WriteString(e)
	}
	s := sb.String()
	return &s
}

// newRowID makes a p_row_id for an event that came without one.
func newRowID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// target is the stream a batch of events goes to, in stored (encoded) form.
type target struct {
	sourceID, logType, sourceName string
	account                       string // the source's, or its stand-in (see the SQLite engine's 0002)
}

// streamTarget reads what a stream's events share. An event's account is
// Event.Account, else its source's, else (not known yet, or the source is
// gone) 'source:' || source_id, the key events had before accounts.
const streamTarget = `SELECT st.source_id, st.log_type, coalesce(so.name, ''),
		coalesce(nullif(so.account_uuid, ''), 'source:' || st.source_id)
	FROM streams st LEFT JOIN sources so ON so.id = st.source_id WHERE st.id = $1`

// queueQuarantine adds the insert of quarantined events to a pgx batch.
func queueQuarantine(q *pgx.Batch, t target, qs []store.Quarantined, now time.Time) {
	if len(qs) == 0 {
		return
	}
	raws := make([][]byte, len(qs))
	reasons := make([]string, len(qs))
	ats := make([]time.Time, len(qs))
	for i, x := range qs {
		raws[i] = x.Raw
		if raws[i] == nil {
			raws[i] = []byte{}
		}
		reasons[i] = enc(x.Reason)
		ats[i] = now
		if !x.At.IsZero() {
			ats[i] = floorMicro(x.At)
		}
	}
	q.Queue(`INSERT INTO quarantine (source_id, log_type, raw, reason, at)
		SELECT $1, $2, u.raw, u.reason, u.at FROM unnest($3::bytea[], $4::text[], $5::timestamptz[]) WITH ORDINALITY
			AS u(raw, reason, at, n) ORDER BY u.n`, t.sourceID, t.logType, raws, reasons, ats)
}

// CommitPage stores the page and the cursor in one transaction, fenced by the
// lease: checked first (so a lost lease costs nothing), and again by the
// UPDATE of the stream that goes with the insert, whose zero rows roll
// everything back.
func (s *Store) CommitPage(ctx context.Context, c store.PageCommit) (store.CommitResult, error) {
	b, err := prepareBatch(c.Events)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	var res store.CommitResult
	lost := fmt.Errorf("commit page of stream %d: %w: %q no longer holds a live lease; the page will be fetched again",
		c.StreamID, store.ErrLeaseLost, c.LeaseOwner)
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		b.stamp(now, c.Events)
		var t target
		err = tx.QueryRow(ctx, streamTarget+` AND st.lease_owner = $2 AND st.lease_until > $3`,
			c.StreamID, enc(c.LeaseOwner), now).Scan(&t.sourceID, &t.logType, &t.sourceName, &t.account)
		if errors.Is(err, pgx.ErrNoRows) || c.LeaseOwner == "" {
			return lost
		}
		if err != nil {
			return err
		}
		// The fence's time is taken when the UPDATE runs, after the lock is
		// held: a commit that waited for the lock past its lease's end does
		// not land. (Options.Now's clock does not move by itself.)
		var fenceAt any
		if s.clock != nil {
			fenceAt = now
		}
		res.Inserted, err = s.writeBatch(ctx, tx, b, t, c.Quarantine, now, `cursor = $16,`,
			`AND lease_owner = $17 AND lease_until > coalesce($18, clock_timestamp())`,
			c.StreamID, enc(c.Cursor), enc(c.LeaseOwner), fenceAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return lost
		}
		return err
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

// writeBatch inserts the batch's events and quarantined events into the
// stream t in tx, and moves the stream's counters (and what set adds) with
// an UPDATE limited by where; it returns how many events were new, or
// pgx.ErrNoRows when the UPDATE found no row. Everything goes to the server
// in one round trip: the in-flight mark (when there are events), the quarantine
// insert, and one statement that inserts the events and updates the stream
// with their count. extra are $16 onwards.
func (s *Store) writeBatch(ctx context.Context, tx pgx.Tx, b *batch, t target, quarantine []store.Quarantined,
	now time.Time, set, where string, streamID int64, extra ...any) (int, error) {
	q := &pgx.Batch{}
	// A page's commit need not wait for the disk: if the server loses it
	// in a crash, it loses the cursor with it, and the page is fetched
	// again; any later commit that waits (a detect batch) flushes it first.
	q.Queue(`SET LOCAL synchronous_commit TO OFF`)
	if len(b.uuids) > 0 {
		q.Queue(markInFlight[0]) // in this order: see markInFlight
		q.Queue(markInFlight[1])
	}
	queueQuarantine(q, t, quarantine, now)
	args := []any{t.sourceID, t.logType, t.account, t.sourceName,
		b.accounts, b.uuids, b.eventTimes, b.parseTimes, b.rowIDs, b.labels, b.ips, b.emails, b.raws, b.indicators,
		streamID, // $15
	}
	args = append(args, extra...)
	args = append(args, len(quarantine), b.lastEvent(), now) // the last three
	k := len(args)
	q.Queue(`WITH ins AS (`+insertEventsSQL+` RETURNING 1)
		UPDATE streams SET `+set+` events = events + (SELECT count(*) FROM ins),
			quarantined = quarantined + $`+strconv.Itoa(k-2)+`,
			last_event_at = greatest(last_event_at, $`+strconv.Itoa(k-1)+`),
			last_stored_at = CASE WHEN EXISTS (SELECT FROM ins) THEN $`+strconv.Itoa(k)+` ELSE last_stored_at END
		WHERE id = $15 `+where+`
		RETURNING (SELECT count(*) FROM ins)`, args...)
	br := tx.SendBatch(ctx, q)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, err
	}
	if len(b.uuids) > 0 {
		for range markInFlight {
			if _, err := br.Exec(); err != nil {
				return 0, fmt.Errorf("mark the insert in flight: %w", err)
			}
		}
	}
	if len(quarantine) > 0 {
		if _, err := br.Exec(); err != nil {
			return 0, fmt.Errorf("quarantine events: %w", err)
		}
	}
	var inserted int64
	if err := br.QueryRow().Scan(&inserted); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, err
		}
		return 0, fmt.Errorf("insert events: %w", err)
	}
	return int(inserted), br.Close()
}

// InsertEvents stores events for backfill and reconciliation: no cursor, no
// lease, but the stream's counters and last event time still move.
func (s *Store) InsertEvents(ctx context.Context, streamID int64, events []store.Event, quarantine []store.Quarantined) (store.CommitResult, error) {
	b, err := prepareBatch(events)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	var res store.CommitResult
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		b.stamp(now, events)
		var t target
		err = tx.QueryRow(ctx, streamTarget, streamID).Scan(&t.sourceID, &t.logType, &t.sourceName, &t.account)
		if err == nil {
			res.Inserted, err = s.writeBatch(ctx, tx, b, t, quarantine, now, "", "", streamID)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("stream %d: %w", streamID, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	res.Duplicates = len(events) - res.Inserted
	res.Quarantined = len(quarantine)
	return res, nil
}

// ListQuarantine returns quarantined events, newest first ("" = all sources).
func (s *Store) ListQuarantine(ctx context.Context, sourceID string, limit int) ([]store.Quarantined, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, source_id, log_type, raw, reason, at FROM quarantine
		WHERE $1 = '' OR source_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, enc(sourceID), lim)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	qs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Quarantined, error) {
		var q store.Quarantined
		err := r.Scan(&q.ID, textCol{&q.SourceID}, textCol{&q.LogType}, &q.Raw, textCol{&q.Reason}, timeCol{&q.At})
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return qs, nil
}
