package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/opwatch/opwatch/internal/store"
)

// storedEventColumns are the columns scanStoredEvent reads, in its order.
const storedEventColumns = `e.seq, e.account, e.source_id, e.log_type, e.uuid, e.p_event_time, e.p_parse_time,
	e.p_row_id, e.p_source_label, e.p_any_ip_addresses, e.p_any_emails, e.raw`

// EventsAfter returns up to limit events with seq > after, in seq order.
//
// Reading "seq > after" never skips an event here because SQLite has one
// writer at a time: a transaction that inserts events takes its seqs and
// commits before the next one starts, so a snapshot that holds seq n holds
// every seq below n that will ever exist. A server engine (PostgreSQL, issue
// 10) has no such order: sequence values are handed out at insert and
// concurrent transactions commit in any order, so a reader can see seq 12
// while seq 11 is still uncommitted and would skip it for good. There the
// read must stop below the oldest transaction still in flight (e.g. store
// the inserting transaction's xid with each event and read only
// xid < pg_snapshot_xmin(pg_current_snapshot())), or the inserts must be
// serialised (an advisory lock held through commit).
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]store.StoredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var evs []store.StoredEvent
	err := s.readSnapshot(ctx, func(q querier, below int64) error {
		if after+1 < below { // compacted events first
			var err error
			if evs, err = s.coldEventsAfter(ctx, q, after, limit); err != nil {
				return err
			}
			if len(evs) == limit {
				return nil
			}
			after = below - 1
		}
		rows, err := q.QueryContext(ctx, `SELECT `+packedEventColumns+` FROM events e
			WHERE e.seq > ? ORDER BY e.seq LIMIT ?`, after, limit-len(evs))
		if err != nil {
			return err
		}
		hot, err := s.scanPackedEvents(ctx, rows, limit-len(evs))
		if evs == nil {
			evs = hot
		} else {
			evs = append(evs, hot...)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return evs, nil
}

// EventsBySeq returns the events of the given positions that exist, in seq order.
func (s *Store) EventsBySeq(ctx context.Context, seqs []int64) ([]store.StoredEvent, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	var evs []store.StoredEvent
	err := s.readSnapshot(ctx, func(q querier, below int64) error {
		var cold, hot []int64
		for _, seq := range seqs {
			if seq < below {
				cold = append(cold, seq)
			} else {
				hot = append(hot, seq)
			}
		}
		slices.Sort(cold)
		var err error
		if evs, err = s.coldEventsBySeq(ctx, q, slices.Compact(cold)); err != nil {
			return err
		}
		if len(hot) == 0 {
			return nil
		}
		// One JSON array binds any number of seqs (no variable limit).
		rows, err := q.QueryContext(ctx, `SELECT `+packedEventColumns+` FROM events e
			WHERE e.seq IN (SELECT value FROM json_each(?)) ORDER BY e.seq`, int64Array(hot))
		if err != nil {
			return err
		}
		found, err := s.scanPackedEvents(ctx, rows, len(hot))
		evs = append(evs, found...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events by position: %w", err)
	}
	return evs, nil
}

// packedEventColumns reads an event as seq, its text columns joined by
// packSep, and raw. The driver makes three locked calls into SQLite per
// column, which made reading twelve columns one by one most of the cost of
// EventsAfter; joined, they are also one allocation instead of ten.
const packedEventColumns = `e.seq, e.account || char(30) || e.source_id || char(30) || e.log_type || char(30) ||
	e.uuid || char(30) || e.p_event_time || char(30) || e.p_parse_time || char(30) || e.p_row_id || char(30) ||
	e.p_source_label || char(30) || coalesce(e.p_any_ip_addresses, '') || char(30) || coalesce(e.p_any_emails, ''), e.raw`

const (
	packSep    = "\x1e"
	packFields = 10
)

// scanPackedEvents reads rows of packedEventColumns. An event whose text
// holds packSep itself (nothing opwatch stores should, but the uuid comes
// from outside) cannot be split, and is read again column by column.
func (s *Store) scanPackedEvents(ctx context.Context, rows *sql.Rows, capacity int) ([]store.StoredEvent, error) {
	defer rows.Close()
	evs := make([]store.StoredEvent, 0, min(capacity, 4096))
	var packed, raw string
	var again []int64
	for rows.Next() {
		var e store.StoredEvent
		if err := rows.Scan(&e.Seq, &packed, &raw); err != nil {
			return nil, err
		}
		// The driver made raw for this row alone and nothing else holds it,
		// so it becomes Raw without a copy (a tenth of the read).
		e.Raw = unsafe.Slice(unsafe.StringData(raw), len(raw))
		f := strings.SplitN(packed, packSep, packFields+1)
		if len(f) != packFields {
			again = append(again, e.Seq)
			evs = append(evs, e)
			continue
		}
		e.Account, e.SourceID, e.LogType, e.UUID, e.RowID, e.SourceLabel = f[0], f[1], f[2], f[3], f[6], f[7]
		if err := decodeEventText(&e, f[4], f[5], f[8], f[9]); err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(again) == 0 {
		return evs, nil
	}
	slow, err := s.reader.QueryContext(ctx, `SELECT `+storedEventColumns+` FROM events e
		WHERE e.seq IN (SELECT value FROM json_each(?)) ORDER BY e.seq`, int64Array(again))
	if err != nil {
		return nil, err
	}
	fixed, err := scanStoredEvents(slow, len(again))
	if err != nil {
		return nil, err
	}
	j := 0
	for i := range evs {
		if j < len(fixed) && evs[i].Seq == fixed[j].Seq {
			evs[i] = fixed[j]
			j++
		}
	}
	return evs, nil
}

// decodeEventText decodes the stored times and p_any_ arrays into e.
func decodeEventText(e *store.StoredEvent, eventTime, parseTime, ips, emails string) error {
	var err error
	if e.EventTime, err = parseTimeText(eventTime); err != nil {
		return fmt.Errorf("event %d: %w", e.Seq, err)
	}
	if e.ParseTime, err = parseTimeText(parseTime); err != nil {
		return fmt.Errorf("event %d: %w", e.Seq, err)
	}
	if e.IPs, err = stringArray(sql.NullString{String: ips, Valid: true}); err != nil {
		return fmt.Errorf("event %d: p_any_ip_addresses: %w", e.Seq, err)
	}
	if e.Emails, err = stringArray(sql.NullString{String: emails, Valid: true}); err != nil {
		return fmt.Errorf("event %d: p_any_emails: %w", e.Seq, err)
	}
	return nil
}

// scanStoredEvents reads rows of storedEventColumns.
func scanStoredEvents(rows *sql.Rows, capacity int) ([]store.StoredEvent, error) {
	defer rows.Close()
	evs := make([]store.StoredEvent, 0, min(capacity, 4096))
	var eventTime, parseTime string
	var ips, emails sql.NullString
	for rows.Next() {
		var e store.StoredEvent
		if err := rows.Scan(&e.Seq, &e.Account, &e.SourceID, &e.LogType, &e.UUID, &eventTime, &parseTime,
			&e.RowID, &e.SourceLabel, &ips, &emails, &e.Raw); err != nil {
			return nil, err
		}
		if err := decodeEventText(&e, eventTime, parseTime, ips.String, emails.String); err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// parseTimeText reads a stored time; the fixed layout is parsed by hand, as
// time.Parse was a large part of reading an event.
func parseTimeText(s string) (time.Time, error) {
	if len(s) == len(timeLayout) && s[4] == '-' && s[7] == '-' && s[10] == ' ' && s[13] == ':' && s[16] == ':' && s[19] == '.' {
		year, ok1 := num(s[0:4])
		month, ok2 := num(s[5:7])
		day, ok3 := num(s[8:10])
		hour, ok4 := num(s[11:13])
		minute, ok5 := num(s[14:16])
		sec, ok6 := num(s[17:19])
		nsec, ok7 := num(s[20:29])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && month >= 1 && month <= 12 && day >= 1 && day <= 31 &&
			hour < 24 && minute < 60 && sec < 60 {
			return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
		}
	}
	t, err := time.ParseInLocation(timeLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// stringArray decodes a p_any_ column (a JSON array of strings, or NULL).
// Plain ASCII without escapes, the usual case, is split by hand.
func stringArray(v sql.NullString) ([]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	s := v.String
	if len(s) >= 4 && s[0] == '[' && s[1] == '"' && s[len(s)-2] == '"' && s[len(s)-1] == ']' && !strings.ContainsAny(s, `\ `) {
		inner := s[2 : len(s)-2]
		n := strings.Count(inner, `","`) + 1
		if strings.Count(inner, `"`) == 2*(n-1) {
			return strings.SplitN(inner, `","`, n), nil
		}
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func int64Array(vs []int64) string {
	b := make([]byte, 0, len(vs)*8+2)
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return string(append(b, ']'))
}

func parseInt64Array(v sql.NullString) ([]int64, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var out []int64
	if err := json.Unmarshal([]byte(v.String), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Position is a stage's stored position, 0 before its first commit.
func (s *Store) Position(ctx context.Context, stage string) (int64, error) {
	var pos int64
	err := s.reader.QueryRowContext(ctx, `SELECT position FROM stage_positions WHERE stage = ?`, stage).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the position of stage %s: %w", stage, err)
	}
	return pos, nil
}

// matchTally is what a commit's new matches add to one alert.
type matchTally struct {
	n           int
	first, last time.Time
}

// CommitDetect stores a batch of the detect stage and its new position in
// one transaction, fenced by the position the batch was read after.
func (s *Store) CommitDetect(ctx context.Context, c store.DetectCommit) error {
	if c.Stage == "" {
		return errors.New("commit detect: no stage named")
	}
	if c.To < c.From {
		return fmt.Errorf("commit stage %s: the new position %d is before the old %d", c.Stage, c.To, c.From)
	}
	for i, a := range c.Alerts {
		if a.ID == "" {
			return fmt.Errorf("commit stage %s: alert %d of %d has no id", c.Stage, i+1, len(c.Alerts))
		}
	}
	if err := checkNotifications(c.Notifications); err != nil {
		return fmt.Errorf("commit stage %s: %w", c.Stage, err)
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var pos int64
		err := tx.QueryRowContext(ctx, `SELECT position FROM stage_positions WHERE stage = ?`, c.Stage).Scan(&pos)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if pos != c.From {
			return fmt.Errorf("%w (stored %d, the batch was read after %d); nothing was stored: read again from the stored position",
				store.ErrPositionMoved, pos, c.From)
		}
		epoch, err := readCounter(ctx, tx, alertEpoch)
		if err != nil {
			return err
		}
		if epoch != c.Epoch {
			return fmt.Errorf("%w (an alert was resolved since the dedup groups were loaded: alert epoch %d, the batch's %d); nothing was stored: load the groups again",
				store.ErrPositionMoved, epoch, c.Epoch)
		}
		now := timeText(s.now())
		if err := insertAlerts(ctx, tx, c.Alerts, now); err != nil {
			return err
		}
		if err := insertMatches(ctx, tx, c.Matches, now); err != nil {
			return err
		}
		if err := writeGroups(ctx, tx, c.DropGroups, c.Groups); err != nil {
			return err
		}
		if err := writeState(ctx, tx, c.State, c.Now); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, c.Notifications, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO stage_positions (stage, position, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (stage) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
			c.Stage, c.To, now)
		if err != nil {
			return fmt.Errorf("store the position: %w", err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrPositionMoved) {
			return fmt.Errorf("commit stage %s: %w", c.Stage, err)
		}
		return fmt.Errorf("commit stage %s (nothing was stored): %w", c.Stage, err)
	}
	return nil
}

func insertAlerts(ctx context.Context, tx *sql.Tx, alerts []store.Alert, now string) error {
	if len(alerts) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO alerts (id, type, rule_id, dedup, title, severity, status, context,
		description, reference, runbook, destinations, assignee, events, first_event_at, last_event_at, period_end,
		created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, a := range alerts {
		status := a.Status
		if status == "" {
			status = store.AlertOpen
		}
		var dests any
		if a.Destinations != nil {
			b, err := json.Marshal(a.Destinations)
			if err != nil {
				return err
			}
			dests = string(b)
		}
		var alertContext any
		if len(a.Context) > 0 {
			if !json.Valid(a.Context) {
				return fmt.Errorf("alert %s: its context is not valid JSON", a.ID)
			}
			alertContext = string(a.Context)
		}
		_, err := st.ExecContext(ctx, a.ID, a.Type, a.RuleID, a.Dedup, a.Title, a.Severity, status, alertContext,
			a.Description, a.Reference, a.Runbook, dests, a.Assignee, timeArg(a.FirstEventAt), timeArg(a.LastEventAt),
			timeArg(a.PeriodEnd), now, now)
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("alert %s: %w", a.ID, store.ErrExists)
			}
			return fmt.Errorf("alert %s: %w", a.ID, err)
		}
		if err := addHistory(ctx, tx, store.AlertHistory{AlertID: a.ID, Actor: systemActor, Action: store.ActionCreate,
			ToStatus: status, Assignee: a.Assignee}, now); err != nil {
			return err
		}
	}
	return nil
}

// insertMatches stores matches, skipping one already stored (so it is never
// counted twice), and moves each alert's count and event times by the new ones.
func insertMatches(ctx context.Context, tx *sql.Tx, matches []store.AlertMatch, now string) error {
	if len(matches) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO alert_matches (alert_id, seq, event_time) VALUES (?, ?, ?)
		ON CONFLICT (alert_id, seq) DO NOTHING`)
	if err != nil {
		return err
	}
	defer st.Close()
	tally := map[string]*matchTally{}
	var order []string
	for _, m := range matches {
		res, err := st.ExecContext(ctx, m.AlertID, m.Seq, timeText(m.EventTime))
		if err != nil {
			if isForeignKeyViolation(err) {
				return fmt.Errorf("match of event %d: alert %s: %w", m.Seq, m.AlertID, store.ErrNotFound)
			}
			return fmt.Errorf("match of event %d to alert %s: %w", m.Seq, m.AlertID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // stored before: not counted again
		}
		t := tally[m.AlertID]
		if t == nil {
			t = &matchTally{first: m.EventTime, last: m.EventTime}
			tally[m.AlertID] = t
			order = append(order, m.AlertID)
		}
		t.n++
		if m.EventTime.Before(t.first) {
			t.first = m.EventTime
		}
		if m.EventTime.After(t.last) {
			t.last = m.EventTime
		}
	}
	for _, id := range order {
		t := tally[id]
		first, last := timeText(t.first), timeText(t.last)
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET events = events + ?,
			first_event_at = min(coalesce(first_event_at, ?), ?), last_event_at = max(coalesce(last_event_at, ?), ?),
			updated_at = ? WHERE id = ?`, t.n, first, first, last, last, now, id)
		if err != nil {
			return fmt.Errorf("count the matches of alert %s: %w", id, err)
		}
	}
	return nil
}

// writeGroups drops groups first, then upserts: a group whose period ended
// and that started again in the same batch is in both.
func writeGroups(ctx context.Context, tx *sql.Tx, drop, upsert []store.DedupGroup) error {
	for _, g := range drop {
		if _, err := tx.ExecContext(ctx, `DELETE FROM dedup_groups WHERE rule_id = ? AND dedup = ?`, g.RuleID, g.Dedup); err != nil {
			return fmt.Errorf("drop dedup group of rule %s: %w", g.RuleID, err)
		}
	}
	if len(upsert) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO dedup_groups (rule_id, dedup, period_end, alert_id, matches, pending)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (rule_id, dedup) DO UPDATE SET period_end = excluded.period_end, alert_id = excluded.alert_id,
			matches = excluded.matches, pending = excluded.pending`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, g := range upsert {
		var pending any
		if len(g.Pending) > 0 {
			pending = int64Array(g.Pending)
		}
		if _, err := st.ExecContext(ctx, g.RuleID, g.Dedup, timeText(g.PeriodEnd), g.AlertID, g.Matches, pending); err != nil {
			return fmt.Errorf("store dedup group of rule %s: %w", g.RuleID, err)
		}
	}
	return nil
}

// stateRows is how many changes one statement of writeState carries: a
// statement per row costs more than the row itself.
const stateRows = 128

// writeState applies changes in order: consecutive writes (or deletes) go
// in multi-row statements.
func writeState(ctx context.Context, tx *sql.Tx, changes []store.StateChange, now time.Time) error {
	var args []any
	for len(changes) > 0 {
		n := 1
		for n < len(changes) && n < stateRows && changes[n].Delete == changes[0].Delete {
			n++
		}
		run := changes[:n]
		changes = changes[n:]
		args = args[:0]
		var q strings.Builder
		if run[0].Delete {
			q.WriteString(`DELETE FROM rule_state WHERE (rule_id, key) IN (VALUES `)
			for i, ch := range run {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?)")
				args = append(args, ch.RuleID, ch.Key)
			}
			q.WriteString(")")
		} else {
			q.WriteString(`INSERT INTO rule_state (rule_id, key, value, expires_at) VALUES `)
			for i, ch := range run {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?)")
				v := ch.Value
				if v == nil {
					v = []byte{}
				}
				args = append(args, ch.RuleID, ch.Key, v, timeArg(ch.ExpiresAt))
			}
			q.WriteString(` ON CONFLICT (rule_id, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("store the state of rule %s and %d more: %w", run[0].RuleID, len(run)-1, err)
		}
	}
	if !now.IsZero() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM rule_state WHERE expires_at IS NOT NULL AND expires_at <= ?`,
			timeText(now)); err != nil {
			return fmt.Errorf("purge expired rule state: %w", err)
		}
	}
	return nil
}

// DedupGroups returns every stored dedup group, by rule and dedup string.
func (s *Store) DedupGroups(ctx context.Context) ([]store.DedupGroup, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT rule_id, dedup, period_end, alert_id, matches, pending
		FROM dedup_groups ORDER BY rule_id, dedup`)
	if err != nil {
		return nil, fmt.Errorf("read dedup groups: %w", err)
	}
	defer rows.Close()
	var gs []store.DedupGroup
	for rows.Next() {
		var g store.DedupGroup
		var pending sql.NullString
		if err := rows.Scan(&g.RuleID, &g.Dedup, timeCol{&g.PeriodEnd}, &g.AlertID, &g.Matches, &pending); err != nil {
			return nil, fmt.Errorf("read dedup groups: %w", err)
		}
		if g.Pending, err = parseInt64Array(pending); err != nil {
			return nil, fmt.Errorf("read dedup groups: rule %s: pending: %w", g.RuleID, err)
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read dedup groups: %w", err)
	}
	return gs, nil
}

// RuleState reads one value of a rule's memory; an expired value (expiry
// at or before now) is absent whether or not it was purged yet.
func (s *Store) RuleState(ctx context.Context, ruleID, key string, now time.Time) (store.StateValue, bool, error) {
	var v store.StateValue
	err := s.reader.QueryRowContext(ctx, `SELECT value, expires_at FROM rule_state WHERE rule_id = ? AND key = ?
		AND (expires_at IS NULL OR expires_at > ?)`, ruleID, key, timeText(now)).Scan(&v.Value, timeCol{&v.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return store.StateValue{}, false, nil
	}
	if err != nil {
		return store.StateValue{}, false, fmt.Errorf("read state of rule %s: %w", ruleID, err)
	}
	if v.Value == nil {
		v.Value = []byte{}
	}
	return v, true, nil
}

// AlertsSince counts the rule alerts of ruleID created at or after since.
func (s *Store) AlertsSince(ctx context.Context, ruleID string, since time.Time) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE rule_id = ? AND created_at >= ? AND type = ?`,
		ruleID, timeText(since), store.AlertRule).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count alerts of rule %s: %w", ruleID, err)
	}
	return n, nil
}

// alertEpoch is the counter AlertEpoch reads.
const alertEpoch = "alert_epoch"

// AlertEpoch is the number of dedup groups ended by resolving their alert
// (0 before the first): CommitDetect refuses a batch whose groups were
// loaded at another epoch.
func (s *Store) AlertEpoch(ctx context.Context) (int64, error) {
	var v int64
	err := s.reader.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = ?`, alertEpoch).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the alert epoch: %w", err)
	}
	return v, nil
}

// readCounter reads a counter in tx (0 when never moved).
func readCounter(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read counter %s: %w", name, err)
	}
	return v, nil
}

// bumpCounter moves a counter by one in tx.
func bumpCounter(ctx context.Context, tx *sql.Tx, name string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO counters (name, value) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET value = value + 1`, name)
	if err != nil {
		return fmt.Errorf("move counter %s: %w", name, err)
	}
	return nil
}

// LatestSeq is the highest seq stored, 0 for none.
func (s *Store) LatestSeq(ctx context.Context) (int64, error) {
	var seq int64
	// Every event may be compacted: then the last one moved is the latest.
	if err := s.reader.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(seq) FROM events), 0),
		(SELECT compacted_below - 1 FROM lake_compaction), 0)`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the latest event position: %w", err)
	}
	return seq, nil
}
