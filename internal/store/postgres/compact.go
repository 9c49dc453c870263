package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// Compact storage (issue 11; 0002_compaction.sql): events below
// lake_compaction.compacted_below live in event_segments, the rest in
// events. A segment's text is package segment's JSON of the events' stored
// forms (text.go), so that the views read its text columns as they read
// the hot rows'; TOAST compresses it. Every read that reaches below the
// boundary reads both sides in one snapshot (readSnapshot).
//
// Two advisory locks keep compaction apart from the other writers of the
// lake: compactLock, which a page takes shared before it reads
// lake_compaction (else a compaction could delete hot row E, and commit its
// key, between a page's check of event_keys and its insert of a duplicate
// of E, which events_key no longer stops), and purgeLock, which keeps
// retention from deleting the hot rows a compaction is moving (the two
// would otherwise deadlock, or the compaction find rows gone).
const (
	compactMark = 0x6f70_636f // "opco"
	purgeMark   = 0x6f70_7075 // "oppu"
)

var (
	compactLock       = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, 'event_segments'::regclass::oid::int)`, compactMark)
	compactLockShared = fmt.Sprintf(`SELECT pg_advisory_xact_lock_shared(%d, 'event_segments'::regclass::oid::int)`, compactMark)
	purgeLock         = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, 'event_segments'::regclass::oid::int)`, purgeMark)
)

// errLakeMoved: the events read for a compaction changed before its write
// (another compaction, or retention); it is tried again.
var errLakeMoved = errors.New("the lake changed while compacting")

// hotEvent is a hot row as compaction reads it: text in stored form.
type hotEvent struct {
	store.StoredEvent
	indicators []string // events.indicators, stored form
}

// builtSegment is a segment ready to be written.
type builtSegment struct {
	logType        string
	minSeq, maxSeq int64
	minT, maxT     time.Time
	events         int
	rawBytes       int64
	sources        string
	data           string
	indicators     []string
}

// CompactEvents moves up to max events stored before storedBefore, and at
// or below the detect stage's position, into segments; see 0002.
func (s *Store) CompactEvents(ctx context.Context, storedBefore time.Time, max int) (store.CompactResult, error) {
	if s.readOnly {
		return store.CompactResult{}, s.errReadOnlyStore()
	}
	if max <= 0 {
		return store.CompactResult{}, nil
	}
	for attempt := 0; ; attempt++ {
		res, err := s.compactOnce(ctx, storedBefore, max)
		if errors.Is(err, errLakeMoved) && attempt < 3 {
			continue
		}
		if err != nil {
			return store.CompactResult{}, fmt.Errorf("compact events: %w", err)
		}
		return res, nil
	}
}

func (s *Store) compactOnce(ctx context.Context, storedBefore time.Time, max int) (store.CompactResult, error) {
	c, err := s.prepareCompaction(ctx, storedBefore, max)
	if err != nil || c == nil {
		return store.CompactResult{}, err
	}
	if err := s.withTx(ctx, func(tx pgx.Tx) error { return c.write(ctx, tx) }); err != nil {
		return store.CompactResult{}, err
	}
	return c.res, nil
}

// compaction is one CompactEvents' move, read and encoded, to be written.
type compaction struct {
	below int64 // compacted_below as read
	segs  []builtSegment
	seqs  []int64 // of the events moved, ascending
	maxT  time.Time
	res   store.CompactResult
}

// prepareCompaction reads the events to move and builds their segments,
// outside the write transaction (encoding takes the time); nil when there
// is nothing to move.
func (s *Store) prepareCompaction(ctx context.Context, storedBefore time.Time, max int) (*compaction, error) {
	c := &compaction{}
	var pos *int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT compacted_below FROM lake_compaction),
		(SELECT position FROM stage_positions WHERE stage = $1)`, enc(store.CompactStage)).Scan(&c.below, &pos); err != nil {
		return nil, err
	}
	if pos == nil {
		return nil, nil // detect has evaluated nothing
	}
	evs, err := s.readHot(ctx, c.below, *pos, max, ceilMicro(storedBefore))
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	if c.segs, err = buildSegments(evs); err != nil {
		return nil, err
	}
	c.seqs = make([]int64, len(evs))
	c.res = store.CompactResult{Events: len(evs), Segments: len(c.segs)}
	for i, e := range evs {
		c.seqs[i] = e.Seq
		c.maxT = latest(c.maxT, e.EventTime)
		c.res.RawBytes += int64(len(e.Raw))
	}
	return c, nil
}

// write moves the events in tx: it holds purgeLock throughout and
// compactLock (pages wait) from the delete of the hot rows on, until tx
// ends, and fails with errLakeMoved when the events read changed
// meanwhile.
func (c *compaction) write(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, purgeLock); err != nil {
		return err
	}
	var now int64
	if err := tx.QueryRow(ctx, `SELECT compacted_below FROM lake_compaction FOR UPDATE`).Scan(&now); err != nil {
		return err
	}
	if now != c.below {
		return errLakeMoved // another compaction moved them
	}
	ids := make([]int64, len(c.segs))
	for i, sg := range c.segs {
		var inds any // NULL when none, as in events.indicators
		if len(sg.indicators) > 0 {
			inds = sg.indicators
		}
		if err := tx.QueryRow(ctx, `INSERT INTO event_segments
			(log_type, min_seq, max_seq, min_t, max_t, events, raw_bytes, sources, data, nul, indicators)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			sg.logType, sg.minSeq, sg.maxSeq, sg.minT, sg.maxT, sg.events, sg.rawBytes, sg.sources, sg.data,
			strings.Contains(sg.data, `\u0000`), inds).
			Scan(&ids[i]); err != nil {
			return fmt.Errorf("store a segment: %w", err)
		}
	}
	// The events moved are every hot row from the first seq read to the
	// last (no seq in between can commit later: detect has passed them),
	// unless retention deleted some meanwhile, which the count tells.
	first, last := c.seqs[0], c.seqs[len(c.seqs)-1]
	if _, err := tx.Exec(ctx, `INSERT INTO event_keys (t, h)
		SELECT e.p_event_time, opwatch_event_key(e.log_type, e.account, e.uuid) FROM events e WHERE e.seq BETWEEN $1 AND $2
		ON CONFLICT DO NOTHING`, first, last); err != nil {
		return fmt.Errorf("store the events' keys: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(pg_column_size(data)), 0) FROM event_segments WHERE id = ANY ($1)`, ids).
		Scan(&c.res.Bytes); err != nil {
		return err
	}
	// What is written so far no page can see before the commit; from the
	// delete of the hot rows on, pages wait (see compactLock).
	if _, err := tx.Exec(ctx, compactLock); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM events WHERE seq BETWEEN $1 AND $2`, first, last)
	if err != nil {
		return fmt.Errorf("delete the hot rows: %w", err)
	}
	if tag.RowsAffected() != int64(len(c.seqs)) {
		return errLakeMoved // retention purged some since the read
	}
	_, err = tx.Exec(ctx, `UPDATE lake_compaction SET compacted_below = $1, cold_max_t = greatest(cold_max_t, $2)`, last+1, c.maxT)
	return err
}

// readHot reads up to max hot events from seq below to pos, in seq order,
// up to the first one stored at or after storedBefore.
func (s *Store) readHot(ctx context.Context, below, pos int64, max int, storedBefore time.Time) ([]hotEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.seq, e.account, e.source_id, e.log_type, e.uuid, e.p_event_time, e.p_parse_time,
		e.p_row_id, e.p_source_label, e.p_any_ip_addresses, e.p_any_emails, e.raw, e.indicators
		FROM events e WHERE e.seq >= $1 AND e.seq <= $2 ORDER BY e.seq LIMIT $3`, below, pos, max)
	if err != nil {
		return nil, fmt.Errorf("read the events to compact: %w", err)
	}
	var out []hotEvent
	var e hotEvent
	_, err = pgx.ForEachRow(rows, []any{&e.Seq, &e.Account, &e.SourceID, &e.LogType, &e.UUID, timeCol{&e.EventTime},
		timeCol{&e.ParseTime}, &e.RowID, &e.SourceLabel, &e.IPs, &e.Emails, &e.Raw, &e.indicators}, func() error {
		if !e.ParseTime.Before(storedBefore) {
			return errStop
		}
		out = append(out, e)
		e = hotEvent{}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("read the events to compact: %w", err)
	}
	return out, nil
}

var errStop = errors.New("stop")

// buildSegments groups evs (in seq order) by log type and cuts each group,
// in seq order, into segments of at most segment.MaxEvents events and
// segment.MaxBytes of JSON.
func buildSegments(evs []hotEvent) ([]builtSegment, error) {
	byType := map[string][]hotEvent{}
	var order []string
	for _, e := range evs {
		if _, ok := byType[e.LogType]; !ok {
			order = append(order, e.LogType)
		}
		byType[e.LogType] = append(byType[e.LogType], e)
	}
	var out []builtSegment
	var text []byte
	for _, lt := range order {
		group := byType[lt]
		for len(group) > 0 {
			n, size := 0, 2
			for n < len(group) && n < segment.MaxEvents {
				size += encodedSize(&group[n])
				if n > 0 && size > segment.MaxBytes {
					break
				}
				n++
			}
			for {
				part := make([]store.StoredEvent, n)
				for i := range part {
					part[i] = group[i].StoredEvent
				}
				var err error
				if text, err = segment.Encode(text[:0], part); err != nil {
					return nil, err
				}
				if len(text) <= segment.MaxBytes || n == 1 {
					break
				}
				n = max(n/2, 1) // the estimate was short (escapes): cut again
			}
			out = append(out, describeSegment(lt, group[:n], string(text)))
			group = group[n:]
		}
	}
	return out, nil
}

// encodedSize estimates an event's share of a segment's JSON: its values
// and the keys and punctuation around them.
func encodedSize(e *hotEvent) int {
	n := 260 + len(e.Raw) + len(e.Account) + len(e.SourceID) + len(e.LogType) + len(e.UUID) + len(e.RowID) + len(e.SourceLabel)
	for _, v := range e.IPs {
		n += len(v) + 3
	}
	for _, v := range e.Emails {
		n += len(v) + 3
	}
	return n
}

// segmentSource is one source's part of a segment, as LakeStats reads it.
type segmentSource struct {
	events, rawBytes int64
	label            string
	oldest, newest   time.Time
}

func describeSegment(lt string, part []hotEvent, data string) builtSegment {
	b := builtSegment{logType: lt, minSeq: part[0].Seq, maxSeq: part[0].Seq, minT: part[0].EventTime,
		maxT: part[0].EventTime, events: len(part), data: data}
	srcs := map[string]*segmentSource{}
	inds := map[string]bool{}
	for _, e := range part {
		b.minSeq, b.maxSeq = min(b.minSeq, e.Seq), max(b.maxSeq, e.Seq)
		if e.EventTime.Before(b.minT) {
			b.minT = e.EventTime
		}
		b.maxT = latest(b.maxT, e.EventTime)
		b.rawBytes += int64(len(e.Raw))
		st := srcs[e.SourceID]
		if st == nil {
			st = &segmentSource{oldest: e.EventTime, newest: e.EventTime}
			srcs[e.SourceID] = st
		}
		st.events++
		st.rawBytes += int64(len(e.Raw))
		st.label = max(st.label, e.SourceLabel) // as LakeStats picks a label of the hot rows
		if e.EventTime.Before(st.oldest) {
			st.oldest = e.EventTime
		}
		st.newest = latest(st.newest, e.EventTime)
		for _, k := range e.indicators {
			if !inds[k] {
				inds[k] = true
				b.indicators = append(b.indicators, k)
			}
		}
	}
	sources := make(map[string][5]any, len(srcs))
	for id, st := range srcs {
		sources[id] = [5]any{st.events, st.rawBytes, st.label, st.oldest.Format(segment.TimeLayout), st.newest.Format(segment.TimeLayout)}
	}
	j, _ := json.Marshal(sources) // numbers and strings always marshal
	b.sources = string(j)
	return b
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ReclaimSpace vacuums the lake's tables. full adds VACUUM FULL of events
// (which locks it out for its duration) and rebuilds the segments'
// indicator index without locking it (it grows to several times its
// rebuilt size as segments come one at a time: 4.8 MB against 0.9 MB for
// 100,000 emulator events).
func (s *Store) ReclaimSpace(ctx context.Context, full bool) error {
	if s.readOnly {
		return s.errReadOnlyStore()
	}
	qs := []string{`VACUUM (ANALYZE) events, event_segments, event_keys`}
	if full {
		qs = append(qs, `VACUUM (FULL, ANALYZE) events`, `REINDEX INDEX CONCURRENTLY event_segments_indicators`)
	}
	for _, q := range qs {
		// The simple protocol: neither runs inside a transaction block.
		if _, err := s.pool.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("reclaim space (%s): %w", q, err)
		}
	}
	return nil
}

// decodeSegment reads a segment's events, their text decoded from the
// stored forms.
func decodeSegment(data []byte) ([]store.StoredEvent, error) {
	evs, err := segment.Decode(data)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		e := &evs[i]
		e.Account, e.SourceID, e.LogType, e.UUID = dec(e.Account), dec(e.SourceID), dec(e.LogType), dec(e.UUID)
		e.RowID, e.SourceLabel = dec(e.RowID), dec(e.SourceLabel)
		e.IPs, e.Emails = decAll(e.IPs), decAll(e.Emails)
	}
	return evs, nil
}

// readSnapshot runs f in one read-only REPEATABLE READ transaction (one
// snapshot, whichever compactions commit meanwhile), with the boundary as
// of it.
func (s *Store) readSnapshot(ctx context.Context, f func(tx pgx.Tx, below int64) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var below int64
		if err := tx.QueryRow(ctx, `SELECT compacted_below FROM lake_compaction`).Scan(&below); err != nil {
			return err
		}
		return f(tx, below)
	})
}

// segmentData reads and decodes one segment.
func segmentData(ctx context.Context, q querier, id int64) ([]store.StoredEvent, error) {
	var data []byte
	if err := q.QueryRow(ctx, `SELECT data FROM event_segments WHERE id = $1`, id).Scan(&data); err != nil {
		return nil, fmt.Errorf("read segment %d: %w", id, err)
	}
	evs, err := decodeSegment(data)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", id, err)
	}
	return evs, nil
}

// segmentRef is a segment's place, without its data.
type segmentRef struct {
	id     int64
	minSeq int64
	maxT   time.Time
}

// coldEventsAfter reads up to limit compacted events with seq > after, in
// seq order. Segments of several log types (and of one, ordered by time)
// overlap in seq: they are decoded by min_seq until the next one starts
// above the limit-th seq collected.
func coldEventsAfter(ctx context.Context, tx pgx.Tx, after int64, limit int) ([]store.StoredEvent, error) {
	// The segments that straddle after, then those after it by min_seq,
	// a page at a time.
	rows, err := tx.Query(ctx, `SELECT id, min_seq FROM event_segments
		WHERE int8range(min_seq, max_seq, '[]') @> $1::bigint AND max_seq > $1`, after)
	if err != nil {
		return nil, err
	}
	refs, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(refs, func(a, b segmentRef) int { return cmp.Or(cmp.Compare(a.minSeq, b.minSeq), cmp.Compare(a.id, b.id)) })
	var got []store.StoredEvent
	full := func(next int64) bool { return len(got) >= limit && got[limit-1].Seq < next }
	for _, r := range refs {
		if full(r.minSeq) {
			return got[:limit], nil
		}
		if got, err = addSegment(ctx, tx, got, r.id, func(e *store.StoredEvent) bool { return e.Seq > after }); err != nil {
			return nil, err
		}
	}
	lastMin, lastID := after, int64(-1)
	const page = 32
	for {
		rows, err := tx.Query(ctx, `SELECT id, min_seq FROM event_segments WHERE min_seq > $1 AND (min_seq, id) > ($2, $3)
			ORDER BY min_seq, id LIMIT $4`, after, lastMin, lastID, page)
		if err != nil {
			return nil, err
		}
		refs, err := pgx.CollectRows(rows, scanRef)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			if full(r.minSeq) {
				return got[:limit], nil
			}
			if got, err = addSegment(ctx, tx, got, r.id, func(e *store.StoredEvent) bool { return e.Seq > after }); err != nil {
				return nil, err
			}
			lastMin, lastID = r.minSeq, r.id
		}
		if len(refs) < page {
			return got[:min(limit, len(got))], nil
		}
	}
}

func scanRef(r pgx.CollectableRow) (segmentRef, error) {
	var ref segmentRef
	err := r.Scan(&ref.id, &ref.minSeq)
	return ref, err
}

// addSegment decodes a segment and merges the events keep takes into got,
// in seq order.
func addSegment(ctx context.Context, q querier, got []store.StoredEvent, id int64, keep func(*store.StoredEvent) bool) ([]store.StoredEvent, error) {
	evs, err := segmentData(ctx, q, id)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		if keep(&evs[i]) {
			got = append(got, evs[i])
		}
	}
	slices.SortFunc(got, func(a, b store.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return got, nil
}

// coldEventsBySeq reads the compacted events of seqs (ascending), in seq
// order, stopping once it has limit (0: all).
func coldEventsBySeq(ctx context.Context, tx pgx.Tx, seqs []int64, limit int) ([]store.StoredEvent, error) {
	var got []store.StoredEvent
	const chunk = 256
	for len(seqs) > 0 && (limit <= 0 || len(got) < limit) {
		part := seqs[:min(chunk, len(seqs))]
		seqs = seqs[len(part):]
		rows, err := tx.Query(ctx, `SELECT DISTINCT s.id FROM unnest($1::bigint[]) x(seq)
			JOIN event_segments s ON int8range(s.min_seq, s.max_seq, '[]') @> x.seq ORDER BY s.id`, part)
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		want := make(map[int64]bool, len(part))
		for _, s := range part {
			want[s] = true
		}
		for _, id := range ids { // a segment may be read again for a later chunk: it takes that chunk's seqs
			if got, err = addSegment(ctx, tx, got, id, func(e *store.StoredEvent) bool { return want[e.Seq] }); err != nil {
				return nil, err
			}
		}
	}
	if limit > 0 && len(got) > limit {
		got = got[:limit]
	}
	return got, nil
}
