package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// Compact storage (issue 11; 0008_compaction.sql): events below
// lake_compaction.compacted_below live in event_segments, the rest in
// events. Every read that reaches below the boundary reads both in one
// snapshot.

// errLakeMoved: the events read for a compaction changed before its write
// (another compaction, or retention); it is tried again.
var errLakeMoved = errors.New("the lake changed while compacting")

// coldKey is an event's key in event_keys: 64-bit FNV-1a of its log type,
// account and uuid (its time is the other half of the key).
func coldKey(logType, account, uuid string) int64 { return fnv64(logType, account, uuid) }

// indicatorHash is an indicator key's hash in segment_indicators.
func indicatorHash(key string) int64 { return fnv64(key) }

// fnv64 is 64-bit FNV-1a of parts, each followed by a zero byte, so that
// ("ab", "c") and ("a", "bc") differ.
func fnv64(parts ...string) int64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h *= prime // h ^ 0
	}
	return int64(h)
}

// addIndicators adds the hashes of e's indicator keys to set.
func addIndicators(set map[int64]bool, e store.StoredEvent) {
	for _, v := range e.Emails {
		if k, ok := emailKey(v); ok {
			set[indicatorHash(k)] = true
		}
	}
	for _, v := range e.IPs {
		if k, ok := ipKey(v); ok {
			set[indicatorHash(k)] = true
		}
	}
}

// hashList is set as a sorted JSON array.
func hashList(set map[int64]bool) string {
	list := make([]int64, 0, len(set))
	for h := range set {
		list = append(list, h)
	}
	slices.Sort(list)
	j, _ := json.Marshal(list) // numbers always marshal
	return string(j)
}

// builtSegment is a segment ready to be written.
type builtSegment struct {
	logType          string
	minSeq, maxSeq   int64
	minT, maxT       int64
	events           int
	rawBytes         int64
	sources          string // JSON, see 0008
	data             []byte // compressed
	indicators       string // JSON array of indicator hashes
	keys             string // JSON array of [t, h]
	seqs             []int64
	newestEventTimeN int64
}

// sourceStats is one source's part of a segment, as LakeStats reads it.
type sourceStats struct {
	events, rawBytes int64
	label            string
	oldest, newest   int64
}

// buildSegments cuts evs (in seq order) into segments of one log type each.
func (s *Store) buildSegments(evs []store.StoredEvent) ([]builtSegment, error) {
	byType := map[string][]store.StoredEvent{}
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
			n, size := 0, 0
			for n < len(group) && n < segment.MaxEvents && (n == 0 || size+len(group[n].Raw)+300 <= segment.MaxBytes) {
				size += len(group[n].Raw) + 300
				n++
			}
			part := group[:n]
			group = group[n:]
			var err error
			if text, err = segment.Encode(text[:0], part); err != nil {
				return nil, err
			}
			data, err := s.codec.Compress(nil, text)
			if err != nil {
				return nil, err
			}
			out = append(out, describeSegment(lt, part, data))
		}
	}
	return out, nil
}

func describeSegment(lt string, part []store.StoredEvent, data []byte) builtSegment {
	b := builtSegment{logType: lt, minSeq: part[0].Seq, maxSeq: part[len(part)-1].Seq, events: len(part), data: data,
		minT: math.MaxInt64, maxT: math.MinInt64}
	srcs := map[string]*sourceStats{}
	inds := map[int64]bool{}
	keys := make([][2]int64, 0, len(part))
	for _, e := range part {
		t := unixNano(e.EventTime)
		b.minT, b.maxT = min(b.minT, t), max(b.maxT, t)
		b.rawBytes += int64(len(e.Raw))
		b.seqs = append(b.seqs, e.Seq)
		st := srcs[e.SourceID]
		if st == nil {
			st = &sourceStats{oldest: math.MaxInt64, newest: math.MinInt64}
			srcs[e.SourceID] = st
		}
		st.events++
		st.rawBytes += int64(len(e.Raw))
		st.oldest, st.newest = min(st.oldest, t), max(st.newest, t)
		st.label = max(st.label, e.SourceLabel) // as LakeStats reads the hot rows
		addIndicators(inds, e)
		keys = append(keys, [2]int64{t, coldKey(e.LogType, e.Account, e.UUID)})
	}
	sources := map[string][5]any{}
	for id, st := range srcs {
		sources[id] = [5]any{st.events, st.rawBytes, st.label, st.oldest, st.newest}
	}
	j, _ := json.Marshal(sources) // maps of numbers and strings always marshal
	b.sources = string(j)
	b.indicators = hashList(inds)
	j, _ = json.Marshal(keys)
	b.keys = string(j)
	return b
}

// CompactEvents moves the oldest evaluated events stored before
// storedBefore into segments. The events are read and compressed before
// the write transaction, which only inserts and deletes rows, so that ingest
// waits for the write lock no longer than for a large page.
func (s *Store) CompactEvents(ctx context.Context, storedBefore time.Time, batch int) (store.CompactResult, error) {
	if s.writer == nil {
		return store.CompactResult{}, s.errReadOnlyStore()
	}
	if batch <= 0 {
		return store.CompactResult{}, errors.New("compact events: the batch must be positive")
	}
	for attempt := 0; ; attempt++ {
		res, err := s.compactOnce(ctx, storedBefore, batch)
		if errors.Is(err, errLakeMoved) && attempt < 3 {
			continue
		}
		if err != nil {
			return store.CompactResult{}, fmt.Errorf("compact events: %w", err)
		}
		return res, nil
	}
}

func (s *Store) compactOnce(ctx context.Context, storedBefore time.Time, batch int) (store.CompactResult, error) {
	var below, pos int64
	if err := s.reader.QueryRowContext(ctx, `SELECT compacted_below FROM lake_compaction`).Scan(&below); err != nil {
		return store.CompactResult{}, err
	}
	err := s.reader.QueryRowContext(ctx, `SELECT position FROM stage_positions WHERE stage = ?`, store.CompactStage).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return store.CompactResult{}, nil // nothing evaluated yet
	}
	if err != nil {
		return store.CompactResult{}, err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+packedEventColumns+` FROM events e
		WHERE e.seq >= ? AND e.seq <= ? ORDER BY e.seq LIMIT ?`, below, pos, batch)
	if err != nil {
		return store.CompactResult{}, err
	}
	evs, err := s.scanPackedEvents(ctx, rows, batch)
	if err != nil {
		return store.CompactResult{}, err
	}
	for i, e := range evs {
		if !e.ParseTime.Before(storedBefore) {
			evs = evs[:i]
			break
		}
	}
	if len(evs) == 0 {
		return store.CompactResult{}, nil
	}
	segs, err := s.buildSegments(evs)
	if err != nil {
		return store.CompactResult{}, err
	}
	last := evs[len(evs)-1].Seq
	res := store.CompactResult{Events: len(evs), Segments: len(segs)}
	coldMax := int64(math.MinInt64)
	var seqs []int64
	for _, b := range segs {
		res.RawBytes += b.rawBytes
		res.Bytes += int64(len(b.data))
		coldMax = max(coldMax, b.maxT)
		seqs = append(seqs, b.seqs...)
	}
	slices.Sort(seqs)
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var now int64
		if err := tx.QueryRowContext(ctx, `SELECT compacted_below FROM lake_compaction`).Scan(&now); err != nil {
			return err
		}
		if now != below {
			return errLakeMoved
		}
		for _, b := range segs {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO event_segments
				(log_type, min_seq, max_seq, min_t, max_t, events, raw_bytes, sources, data)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				b.logType, b.minSeq, b.maxSeq, b.minT, b.maxT, b.events, b.rawBytes, b.sources, b.data).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO segment_indicators (h, segment)
				SELECT value, ? FROM json_each(?)`, id, b.indicators); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO event_keys (t, h)
				SELECT value ->> 0, value ->> 1 FROM json_each(?)`, b.keys); err != nil {
				return err
			}
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq >= ? AND seq <= ?`, below, last)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n != int64(len(evs)) {
			return errLakeMoved // retention purged some since the read
		}
		if err := purgeIndicators(ctx, tx, seqs); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE lake_compaction SET compacted_below = ?, cold_max_t = max(cold_max_t, ?)`, last+1, coldMax)
		return err
	})
	if err != nil {
		return store.CompactResult{}, err
	}
	return res, nil
}

// ReclaimSpace frees the pages compaction and retention emptied: an
// incremental vacuum (the database's auto_vacuum is INCREMENTAL when it was
// created by opwatch 0008 or after, or after one full VACUUM), a step of
// vacuumStep pages per transaction, so that other writers get the lock
// between steps (a first pass over a year freed 4 GB: one statement held
// the lock for 14 minutes); or a full VACUUM, which rewrites the file
// holding the write lock throughout. Then the WAL, which the moves filled
// with every page they touched, is checkpointed and truncated: the disk
// gets the space now, not at the checkpointer's next restart.
func (s *Store) ReclaimSpace(ctx context.Context, full bool) error {
	if s.writer == nil {
		return s.errReadOnlyStore()
	}
	step := func(q string) error {
		s.pause.RLock()
		defer s.pause.RUnlock()
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("reclaim space (%s): %w", q, err)
		}
		return nil
	}
	freed := full
	if full {
		for _, q := range []string{`PRAGMA auto_vacuum = INCREMENTAL`, `VACUUM`} {
			if err := step(q); err != nil {
				return err
			}
		}
	} else {
		for {
			var free int64
			if err := s.writer.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
				return fmt.Errorf("reclaim space: %w", err)
			}
			var mode int
			if err := s.writer.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
				return fmt.Errorf("reclaim space: %w", err)
			}
			if free == 0 || mode != 2 { // nothing free, or no incremental vacuum in this file
				break
			}
			if err := step(fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumStep)); err != nil {
				return err
			}
			freed = true
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	// Nothing freed (the usual hourly pass when nothing moved): the writers
	// are not paused for a checkpoint that would give nothing back.
	if !freed {
		return nil
	}
	if !s.ckpt.truncate() {
		s.log.Info("the WAL could not be truncated after reclaiming space (a long read holds an old snapshot); it is rewound later")
	}
	return nil
}

// vacuumStep is the pages one incremental vacuum step frees: 32 MiB of
// 16 KiB pages, a fraction of a second's work.
const vacuumStep = 2048

// coldStats adds the segments to st: their events by log type and source,
// and what they hold. Only a segment that straddles recentSince is decoded.
func (s *Store) coldStats(ctx context.Context, st *store.LakeStats, recentSince time.Time) error {
	since := unixNano(recentSince)
	type key struct{ logType, source string }
	groups := map[key]*store.LakeGroup{}
	for i := range st.Groups {
		g := &st.Groups[i]
		groups[key{g.LogType, g.SourceID}] = g
	}
	var added []*store.LakeGroup
	group := func(lt, source string) *store.LakeGroup {
		g := groups[key{lt, source}]
		if g == nil {
			g = &store.LakeGroup{LogType: lt, SourceID: source}
			groups[key{lt, source}] = g
			added = append(added, g)
		}
		return g
	}
	var straddling []int64
	rows, err := s.reader.QueryContext(ctx, `SELECT id, log_type, sources, min_t, max_t, length(data) FROM event_segments`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, minT, maxT, size int64
		var lt, sources string
		if err := rows.Scan(&id, &lt, &sources, &minT, &maxT, &size); err != nil {
			return err
		}
		var srcs map[string][5]json.RawMessage
		if err := json.Unmarshal([]byte(sources), &srcs); err != nil {
			return fmt.Errorf("segment %d: its sources: %w", id, err)
		}
		st.CompactedBytes += size
		for source, v := range srcs {
			var n, raw, oldest, newest int64
			var label string
			for i, dst := range []any{&n, &raw, &label, &oldest, &newest} {
				if err := json.Unmarshal(v[i], dst); err != nil {
					return fmt.Errorf("segment %d: its sources: %w", id, err)
				}
			}
			g := group(lt, source)
			st.Compacted += n
			if g.Events == 0 || oldest < g.Oldest.UnixNano() {
				g.Oldest = time.Unix(0, oldest).UTC()
			}
			if g.Events == 0 || newest > g.Newest.UnixNano() {
				g.Newest = time.Unix(0, newest).UTC()
			}
			g.Events += n
			g.RawBytes += raw
			g.SourceLabel = max(g.SourceLabel, label)
			if minT >= since {
				g.Recent += n
				g.RecentBytes += raw
			}
		}
		if minT < since && maxT >= since {
			straddling = append(straddling, id)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	for _, id := range straddling {
		var data []byte
		if err := s.reader.QueryRowContext(ctx, `SELECT data FROM event_segments WHERE id = ?`, id).Scan(&data); err != nil {
			return err
		}
		evs, err := s.decodeSegment(data)
		if err != nil {
			return fmt.Errorf("segment %d: %w", id, err)
		}
		for _, e := range evs {
			if unixNano(e.EventTime) >= since {
				g := group(e.LogType, e.SourceID)
				g.Recent++
				g.RecentBytes += int64(len(e.Raw))
			}
		}
	}
	for _, g := range added {
		st.Groups = append(st.Groups, *g)
	}
	slices.SortFunc(st.Groups, func(a, b store.LakeGroup) int {
		return cmp.Or(cmp.Compare(a.LogType, b.LogType), cmp.Compare(a.SourceID, b.SourceID))
	})
	return nil
}

// querier is what the reads below need of a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readSnapshot runs f in one read transaction of the reader pool, so that
// the boundary and both sides of it are read at one instant.
func (s *Store) readSnapshot(ctx context.Context, f func(q querier, below int64) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var below int64
	if err := tx.QueryRowContext(ctx, `SELECT compacted_below FROM lake_compaction`).Scan(&below); err != nil {
		return err
	}
	return f(tx, below)
}

// decodeSegment decompresses and decodes one segment's data.
func (s *Store) decodeSegment(data []byte) ([]store.StoredEvent, error) {
	text, err := s.codec.Decompress(nil, data)
	if err != nil {
		return nil, err
	}
	return segment.Decode(text)
}

// segmentLogTypes lists the log types that have segments, one index seek
// each.
func segmentLogTypes(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `WITH RECURSIVE lt(t) AS (
			SELECT min(log_type) FROM event_segments
			UNION ALL SELECT (SELECT min(log_type) FROM event_segments WHERE log_type > lt.t) FROM lt WHERE lt.t IS NOT NULL)
		SELECT t FROM lt WHERE t IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// coldCursor walks one log type's segments in seq order, from after.
type coldCursor struct {
	logType string
	after   int64 // the next segment holds events past it
	queue   []store.StoredEvent
	done    bool
}

// coldEventsAfter reads up to limit compacted events with seq > after, in
// seq order: each log type's segments are in seq order and do not overlap,
// so the log types are merged.
func (s *Store) coldEventsAfter(ctx context.Context, q querier, after int64, limit int) ([]store.StoredEvent, error) {
	types, err := segmentLogTypes(ctx, q)
	if err != nil {
		return nil, err
	}
	cursors := make([]*coldCursor, len(types))
	for i, lt := range types {
		cursors[i] = &coldCursor{logType: lt, after: after}
	}
	fill := func(c *coldCursor) error {
		for len(c.queue) == 0 && !c.done {
			var data []byte
			var maxSeq int64
			err := q.QueryRowContext(ctx, `SELECT max_seq, data FROM event_segments
				WHERE log_type = ? AND max_seq > ? ORDER BY max_seq LIMIT 1`, c.logType, c.after).Scan(&maxSeq, &data)
			if errors.Is(err, sql.ErrNoRows) {
				c.done = true
				return nil
			}
			if err != nil {
				return err
			}
			evs, err := s.decodeSegment(data)
			if err != nil {
				return fmt.Errorf("segment of %s up to seq %d: %w", c.logType, maxSeq, err)
			}
			i, _ := slices.BinarySearchFunc(evs, after+1, func(e store.StoredEvent, seq int64) int { return cmp.Compare(e.Seq, seq) })
			c.queue, c.after = evs[i:], maxSeq
		}
		return nil
	}
	var out []store.StoredEvent
	for len(out) < limit {
		var next *coldCursor
		for _, c := range cursors {
			if err := fill(c); err != nil {
				return nil, err
			}
			if len(c.queue) > 0 && (next == nil || c.queue[0].Seq < next.queue[0].Seq) {
				next = c
			}
		}
		if next == nil {
			break
		}
		out = append(out, next.queue[0])
		next.queue = next.queue[1:]
	}
	return out, nil
}

// coldEventsBySeq reads the compacted events of seqs (sorted, all below the
// boundary) that exist, in seq order.
func (s *Store) coldEventsBySeq(ctx context.Context, q querier, seqs []int64) ([]store.StoredEvent, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	types, err := segmentLogTypes(ctx, q)
	if err != nil {
		return nil, err
	}
	want := make(map[int64]bool, len(seqs))
	for _, seq := range seqs {
		want[seq] = true
	}
	var out []store.StoredEvent
	for _, lt := range types {
		var loadedMin, loadedMax int64 = 1, 0 // the segment last read
		for _, seq := range seqs {
			if seq >= loadedMin && seq <= loadedMax {
				continue
			}
			var id, minSeq, maxSeq int64
			err := q.QueryRowContext(ctx, `SELECT id, min_seq, max_seq FROM event_segments
				WHERE log_type = ? AND max_seq >= ? ORDER BY max_seq LIMIT 1`, lt, seq).Scan(&id, &minSeq, &maxSeq)
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return nil, err
			}
			loadedMin, loadedMax = minSeq, maxSeq
			if minSeq > seq {
				loadedMin = seq // nothing of lt between seq and minSeq
				if !slices.ContainsFunc(seqs, func(v int64) bool { return v >= minSeq && v <= maxSeq }) {
					continue
				}
			}
			// Only the events asked for are decoded.
			text, err := s.segmentText(ctx, q, segmentKey{id, minSeq, maxSeq})
			if err == nil {
				err = segment.Elements(text, func(el []byte) error {
					if seq, ok := segment.ElementSeq(el); ok && !want[seq] {
						return nil
					}
					e, err := segment.DecodeOne(el)
					if err == nil && want[e.Seq] {
						out = append(out, e)
					}
					return err
				})
			}
			if err != nil {
				return nil, fmt.Errorf("segment of %s up to seq %d: %w", lt, maxSeq, err)
			}
		}
	}
	slices.SortFunc(out, func(a, b store.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// ScanEvents reads a log type's events in a time range: the segments that
// overlap it, then the hot rows by events_key (log type and time lead it),
// a page at a time, all in one read transaction.
func (s *Store) ScanEvents(ctx context.Context, logType string, from, to time.Time, maxSeq int64, fn func(*store.StoredEvent) error) error {
	if !from.Before(to) {
		return nil
	}
	err := s.readSnapshot(ctx, func(q querier, below int64) error {
		fromN, toN := unixNano(from), unixNano(to)
		if below > 0 {
			rows, err := q.QueryContext(ctx, `SELECT id FROM event_segments
				WHERE log_type = ? AND max_t >= ? AND min_t < ? AND min_seq <= ? ORDER BY max_t`, logType, fromN, toN, maxSeq)
			if err != nil {
				return err
			}
			ids, err := scanInt64s(rows)
			if err != nil {
				return err
			}
			for _, id := range ids {
				var data []byte
				if err := q.QueryRowContext(ctx, `SELECT data FROM event_segments WHERE id = ?`, id).Scan(&data); err != nil {
					return err
				}
				evs, err := s.decodeSegment(data)
				if err != nil {
					return fmt.Errorf("segment %d: %w", id, err)
				}
				for i := range evs {
					e := &evs[i]
					if t := unixNano(e.EventTime); t >= fromN && t < toN && e.Seq <= maxSeq {
						if err := fn(e); err != nil {
							return err
						}
					}
				}
			}
		}
		// Keyset pages by (p_event_time, seq): a page's events are decoded
		// before fn sees them, so a page bounds what is held at once.
		afterT, afterSeq := timeText(from), int64(-1)
		for {
			rows, err := q.QueryContext(ctx, `SELECT `+packedEventColumns+` FROM events e
				WHERE e.log_type = ? AND e.p_event_time >= ? AND e.p_event_time < ? AND (e.p_event_time, e.seq) > (?, ?)
					AND e.seq >= ? AND e.seq <= ?
				ORDER BY e.p_event_time, e.seq LIMIT 4096`, logType, timeText(from), timeText(to), afterT, afterSeq, below, maxSeq)
			if err != nil {
				return err
			}
			evs, err := s.scanPackedEvents(ctx, rows, 4096)
			if err != nil {
				return err
			}
			for i := range evs {
				if err := fn(&evs[i]); err != nil {
					return err
				}
			}
			if len(evs) < 4096 {
				return nil
			}
			last := evs[len(evs)-1]
			afterT, afterSeq = timeText(last.EventTime), last.Seq
		}
	})
	if err != nil {
		return fmt.Errorf("read the %s events from %s to %s: %w", logType, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// scanInt64s reads a one-column result of integers and closes it.
func scanInt64s(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
