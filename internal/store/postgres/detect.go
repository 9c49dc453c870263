package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// storedEventColumns are the columns scanStoredEvent reads, in its order.
const storedEventColumns = `e.seq, e.account, e.source_id, e.log_type, e.uuid, e.p_event_time, e.p_parse_time,
	e.p_row_id, e.p_source_label, e.p_any_ip_addresses, e.p_any_emails, e.raw`

func scanStoredEvent(r pgx.CollectableRow) (store.StoredEvent, error) {
	var e store.StoredEvent
	err := r.Scan(&e.Seq, textCol{&e.Account}, textCol{&e.SourceID}, textCol{&e.LogType}, textCol{&e.UUID},
		timeCol{&e.EventTime}, timeCol{&e.ParseTime}, textCol{&e.RowID}, textCol{&e.SourceLabel}, &e.IPs, &e.Emails, &e.Raw)
	e.IPs, e.Emails = decAll(e.IPs), decAll(e.Emails)
	return e, err
}

// inFlightBound is the lowest seq a writer in flight may still commit: the
// lowest in-flight key held by a session that holds this events table's
// mark (see markInFlight), or the next seq the sequence will hand out. The
// lock table is read once (MATERIALIZED), so both marks are seen as of one
// moment; a bigint key shows in pg_locks in halves, classid high, objid low.
var inFlightBound = fmt.Sprintf(`WITH l AS MATERIALIZED (
		SELECT pid, classid, objid, objsubid FROM pg_locks
		WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
	SELECT least(
		(SELECT min((l.classid::bigint << 32) | l.objid::bigint) FROM l WHERE l.objsubid = 1 AND l.pid IN
			(SELECT m.pid FROM l m WHERE m.objsubid = 2 AND m.classid = %d AND m.objid = 'events'::regclass::oid)),
		(SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM events_seq_seq))`, eventsMark)

// EventsAfter returns up to limit events with seq > after, in seq order,
// never one at or past a seq a writer in flight may still commit: it reads
// that bound first, then the events in a later statement, and so a later
// snapshot. See markInFlight.
//
// A reader at or above the compaction boundary (the detect stage always
// is) reads the hot rows only, and the boundary after them: one that has
// not passed after+1 by then had not when they were read either (it only
// moves up). Below it, the segments and the hot rows are read in one
// snapshot (see compact.go).
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]store.StoredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var bound int64
	if err := s.pool.QueryRow(ctx, inFlightBound).Scan(&bound); err != nil {
		return nil, fmt.Errorf("read events after %d: the writers in flight: %w", after, err)
	}
	if bound <= after+1 {
		return nil, nil
	}
	const hot = `SELECT ` + storedEventColumns + ` FROM events e WHERE e.seq > $1 AND e.seq < $2 ORDER BY e.seq LIMIT $3`
	var evs []store.StoredEvent
	var below int64
	err := func() error {
		b := &pgx.Batch{}
		b.Queue(hot, after, bound, limit)
		b.Queue(`SELECT compacted_below FROM lake_compaction`)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if evs, err = pgx.CollectRows(rows, scanStoredEvent); err != nil {
			return err
		}
		return br.QueryRow().Scan(&below)
	}()
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	if below <= after+1 {
		return evs, nil
	}
	err = s.readSnapshot(ctx, func(tx pgx.Tx, below int64) error {
		evs = nil
		if after+1 < below {
			var err error
			if evs, err = coldEventsAfter(ctx, tx, after, limit); err != nil {
				return err
			}
		}
		if len(evs) == limit {
			return nil
		}
		rows, err := tx.Query(ctx, hot, after, bound, limit-len(evs))
		if err != nil {
			return err
		}
		more, err := pgx.CollectRows(rows, scanStoredEvent)
		evs = append(evs, more...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return evs, nil
}

// EventsBySeq returns the events of the given positions that exist, in seq
// order: from the hot rows, and the boundary after them (as EventsAfter);
// when some are below it, from the segments and the hot rows in one
// snapshot.
func (s *Store) EventsBySeq(ctx context.Context, seqs []int64) ([]store.StoredEvent, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	const hot = `SELECT ` + storedEventColumns + ` FROM events e WHERE e.seq = ANY ($1) ORDER BY e.seq`
	var evs []store.StoredEvent
	var below int64
	err := func() error {
		b := &pgx.Batch{}
		b.Queue(hot, seqs)
		b.Queue(`SELECT compacted_below FROM lake_compaction`)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if evs, err = pgx.CollectRows(rows, scanStoredEvent); err != nil {
			return err
		}
		return br.QueryRow().Scan(&below)
	}()
	if err != nil {
		return nil, fmt.Errorf("read events by position: %w", err)
	}
	if slices.Min(seqs) >= below {
		return evs, nil
	}
	err = s.readSnapshot(ctx, func(tx pgx.Tx, below int64) error {
		evs, err = eventsBySeqTx(ctx, tx, seqs, below, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events by position: %w", err)
	}
	return evs, nil
}

// eventsBySeqTx reads the events of seqs in tx, compacted (below the
// boundary) and hot, in seq order, up to limit (0: all).
func eventsBySeqTx(ctx context.Context, tx pgx.Tx, seqs []int64, below int64, limit int) ([]store.StoredEvent, error) {
	sorted := slices.Clone(seqs)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	n, _ := slices.BinarySearch(sorted, below)
	evs, err := coldEventsBySeq(ctx, tx, sorted[:n], limit)
	if err != nil {
		return nil, err
	}
	if n == len(sorted) || (limit > 0 && len(evs) >= limit) {
		return evs, nil
	}
	var lim any
	if limit > 0 {
		lim = limit - len(evs)
	}
	rows, err := tx.Query(ctx, `SELECT `+storedEventColumns+` FROM events e WHERE e.seq = ANY ($1) ORDER BY e.seq LIMIT $2`,
		sorted[n:], lim)
	if err != nil {
		return nil, err
	}
	hot, err := pgx.CollectRows(rows, scanStoredEvent)
	return append(evs, hot...), err
}

// LatestSeq is the highest seq stored, hot or compacted, 0 for none.
func (s *Store) LatestSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT greatest((SELECT max(seq) FROM events), (SELECT max(max_seq) FROM event_segments), 0)`).
		Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the latest event position: %w", err)
	}
	return seq, nil
}

// Position is a stage's stored position, 0 before its first commit.
func (s *Store) Position(ctx context.Context, stage string) (int64, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, `SELECT position FROM stage_positions WHERE stage = $1`, enc(stage)).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the position of stage %s: %w", stage, err)
	}
	return pos, nil
}

// alertEpoch is the counter AlertEpoch reads; its row exists from the
// first migration on, so that CommitDetect can lock it.
const alertEpoch = "alert_epoch"

// AlertEpoch is the number of dedup groups ended by resolving their alert
// (0 before the first): CommitDetect refuses a batch whose groups were
// loaded at another epoch.
func (s *Store) AlertEpoch(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT value FROM counters WHERE name = $1`, alertEpoch).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the alert epoch: %w", err)
	}
	return v, nil
}

// bumpCounter moves a counter by one in tx and returns its new value.
func bumpCounter(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `INSERT INTO counters (name, value) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("move counter %s: %w", name, err)
	}
	return v, nil
}

// step is one statement of a pgx batch, with what its error means.
type step struct {
	sql  string
	args []any
	fail func(error) error // nil: the error as it is
}

// runSteps sends steps in one round trip and returns the first error,
// through its step's fail, or the rows the last step affected. They run in
// order; after a failure the transaction is aborted and the rest fail too.
func runSteps(ctx context.Context, tx pgx.Tx, steps []step) (int64, error) {
	if len(steps) == 0 {
		return 0, nil
	}
	q := &pgx.Batch{}
	for _, st := range steps {
		q.Queue(st.sql, st.args...)
	}
	br := tx.SendBatch(ctx, q)
	defer br.Close()
	var last int64
	for _, st := range steps {
		tag, err := br.Exec()
		if err != nil {
			if st.fail != nil {
				return 0, st.fail(err)
			}
			return 0, err
		}
		last = tag.RowsAffected()
	}
	return last, br.Close()
}

// CommitDetect stores a batch of the detect stage and its new position in
// one transaction, fenced by the position the batch was read after and by
// the alert epoch. The position's row is locked first, so two runners of a
// stage commit one after the other and the second finds the position moved;
// the epoch's row is locked shared, so a resolve (which moves it) waits for
// this commit or this commit sees its new value.
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
	stage := enc(c.Stage)
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		var pos int64
		err = tx.QueryRow(ctx, `SELECT position FROM stage_positions WHERE stage = $1 FOR UPDATE`, stage).Scan(&pos)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if pos != c.From {
			return positionMoved(pos, c.From)
		}
		var epoch int64
		err = tx.QueryRow(ctx, `SELECT value FROM counters WHERE name = $1 FOR SHARE`, alertEpoch).Scan(&epoch)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read the alert epoch: %w", err)
		}
		if epoch != c.Epoch {
			return fmt.Errorf("%w (an alert was resolved since the dedup groups were loaded: alert epoch %d, the batch's %d); nothing was stored: load the groups again",
				store.ErrPositionMoved, epoch, c.Epoch)
		}
		steps, err := alertSteps(c.Alerts, now)
		if err != nil {
			return err
		}
		steps = append(steps, matchSteps(c.Matches, now)...)
		steps = append(steps, groupSteps(c.DropGroups, c.Groups)...)
		steps = append(steps, stateSteps(c.State, c.Now)...)
		steps = append(steps, notificationSteps(c.Notifications, now)...)
		// Inserted by a concurrent first commit meanwhile: the WHERE finds
		// the position moved, and no row comes back.
		steps = append(steps, step{sql: `INSERT INTO stage_positions (stage, position, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (stage) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
			WHERE stage_positions.position = $4`, args: []any{stage, c.To, now, c.From},
			fail: func(err error) error { return fmt.Errorf("store the position: %w", err) }})
		n, err := runSteps(ctx, tx, steps)
		if err != nil {
			return err
		}
		if n != 1 {
			var stored int64
			if err := tx.QueryRow(ctx, `SELECT position FROM stage_positions WHERE stage = $1`, stage).Scan(&stored); err != nil {
				return fmt.Errorf("store the position: %w", err)
			}
			return positionMoved(stored, c.From)
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

func positionMoved(stored, from int64) error {
	return fmt.Errorf("%w (stored %d, the batch was read after %d); nothing was stored: read again from the stored position",
		store.ErrPositionMoved, stored, from)
}

// alertSteps insert new alerts, each with its creation in its history.
func alertSteps(alerts []store.Alert, now time.Time) ([]step, error) {
	var steps []step
	for _, a := range alerts {
		status := a.Status
		if status == "" {
			status = store.AlertOpen
		}
		var dests any
		if a.Destinations != nil {
			b, err := json.Marshal(a.Destinations)
			if err != nil {
				return nil, err
			}
			dests = enc(string(b))
		}
		var alertContext any
		if len(a.Context) > 0 {
			if !json.Valid(a.Context) {
				return nil, fmt.Errorf("alert %s: its context is not valid JSON", a.ID)
			}
			alertContext = enc(string(a.Context))
		}
		id := a.ID
		steps = append(steps, step{sql: `INSERT INTO alerts (id, type, rule_id, dedup, title, severity, status, context,
			description, reference, runbook, destinations, assignee, events, first_event_at, last_event_at, period_end,
			created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16, $17, $17)`,
			args: []any{enc(a.ID), enc(a.Type), enc(a.RuleID), enc(a.Dedup), enc(a.Title), enc(a.Severity), enc(status), alertContext,
				enc(a.Description), enc(a.Reference), enc(a.Runbook), dests, enc(a.Assignee), timeArg(a.FirstEventAt),
				timeArg(a.LastEventAt), timeArg(a.PeriodEnd), now},
			fail: func(err error) error {
				switch {
				case isUniqueViolation(err) && constraintOf(err) == "alerts_condition":
					return fmt.Errorf("alert %s: %w: an unresolved system error holds condition %q", id, store.ErrExists, a.Dedup)
				case isUniqueViolation(err):
					return fmt.Errorf("alert %s: %w", id, store.ErrExists)
				}
				return fmt.Errorf("alert %s: %w", id, err)
			}})
		steps = append(steps, historyStep(store.AlertHistory{AlertID: a.ID, Actor: systemActor, Action: store.ActionCreate,
			ToStatus: status, Assignee: a.Assignee}, now))
	}
	return steps, nil
}

// matchSteps store matches, skipping one already stored (so it is never
// counted twice), and move each alert's count and event times by the new
// ones, in one statement.
func matchSteps(matches []store.AlertMatch, now time.Time) []step {
	if len(matches) == 0 {
		return nil
	}
	ids := make([]string, len(matches))
	seqs := make([]int64, len(matches))
	times := make([]time.Time, len(matches))
	for i, m := range matches {
		ids[i], seqs[i], times[i] = enc(m.AlertID), m.Seq, floorMicro(m.EventTime)
	}
	return []step{{sql: `WITH m AS (
			INSERT INTO alert_matches (alert_id, seq, event_time)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])
			ON CONFLICT (alert_id, seq) DO NOTHING
			RETURNING alert_id, event_time)
		UPDATE alerts a SET events = a.events + u.n,
			first_event_at = least(a.first_event_at, u.first), last_event_at = greatest(a.last_event_at, u.last),
			updated_at = $4
		FROM (SELECT alert_id, count(*) AS n, min(event_time) AS first, max(event_time) AS last FROM m GROUP BY alert_id) u
		WHERE a.id = u.alert_id`, args: []any{ids, seqs, times, now},
		fail: func(err error) error {
			if isForeignKeyViolation(err) {
				return fmt.Errorf("a match names an alert that does not exist: %w (%v)", store.ErrNotFound, err)
			}
			return fmt.Errorf("store matches: %w", err)
		}}}
}

// groupSteps drop groups first, then upsert: a group whose period ended
// and that started again in the same batch is in both. Each is one
// statement over arrays; a group given twice is upserted as its last.
func groupSteps(drop, upsert []store.DedupGroup) []step {
	var steps []step
	if len(drop) > 0 {
		rules := make([]string, len(drop))
		dedups := make([]string, len(drop))
		for i, g := range drop {
			rules[i], dedups[i] = enc(g.RuleID), enc(g.Dedup)
		}
		steps = append(steps, step{sql: `DELETE FROM dedup_groups WHERE (rule_id, dedup) IN
			(SELECT * FROM unnest($1::text[], $2::text[]))`, args: []any{rules, dedups},
			fail: func(err error) error { return fmt.Errorf("drop dedup groups: %w", err) }})
	}
	if len(upsert) == 0 {
		return steps
	}
	last := map[[2]string]int{}
	for i, g := range upsert {
		last[[2]string{g.RuleID, g.Dedup}] = i
	}
	var rules, dedups, alerts []string
	var ends []time.Time
	var matches []int32
	var pending []*string // the seqs joined by commas; PostgreSQL's arrays cannot be ragged
	for i, g := range upsert {
		if last[[2]string{g.RuleID, g.Dedup}] != i {
			continue
		}
		rules, dedups, alerts = append(rules, enc(g.RuleID)), append(dedups, enc(g.Dedup)), append(alerts, enc(g.AlertID))
		ends, matches = append(ends, floorMicro(g.PeriodEnd)), append(matches, int32(g.Matches))
		var p *string
		if len(g.Pending) > 0 {
			b := make([]byte, 0, 12*len(g.Pending))
			for j, seq := range g.Pending {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, seq, 10)
			}
			text := string(b)
			p = &text
		}
		pending = append(pending, p)
	}
	return append(steps, step{sql: `INSERT INTO dedup_groups (rule_id, dedup, period_end, alert_id, matches, pending)
		SELECT u.rule_id, u.dedup, u.period_end, u.alert_id, u.matches, string_to_array(u.pending, ',')::bigint[]
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::int4[], $6::text[])
			AS u(rule_id, dedup, period_end, alert_id, matches, pending)
		ON CONFLICT (rule_id, dedup) DO UPDATE SET period_end = excluded.period_end, alert_id = excluded.alert_id,
			matches = excluded.matches, pending = excluded.pending`,
		args: []any{rules, dedups, ends, alerts, matches, pending},
		fail: func(err error) error { return fmt.Errorf("store dedup groups: %w", err) }})
}

// stateSteps apply the rule state changes, then purge what expired at now
// (when given). Changes apply in order, so only each key's last counts:
// the deletes are one statement and the writes another, over arrays.
func stateSteps(changes []store.StateChange, now time.Time) []step {
	last := map[[2]string]int{}
	for i, ch := range changes {
		last[[2]string{ch.RuleID, ch.Key}] = i
	}
	var delRules, delKeys, putRules, putKeys []string
	var values [][]byte
	var expires []*time.Time
	for i, ch := range changes {
		if last[[2]string{ch.RuleID, ch.Key}] != i {
			continue
		}
		if ch.Delete {
			delRules, delKeys = append(delRules, enc(ch.RuleID)), append(delKeys, enc(ch.Key))
			continue
		}
		v := ch.Value
		if v == nil {
			v = []byte{}
		}
		var exp *time.Time
		if !ch.ExpiresAt.IsZero() {
			e := floorMicro(ch.ExpiresAt)
			exp = &e
		}
		putRules, putKeys, values, expires = append(putRules, enc(ch.RuleID)), append(putKeys, enc(ch.Key)), append(values, v), append(expires, exp)
	}
	var steps []step
	if len(delRules) > 0 {
		steps = append(steps, step{sql: `DELETE FROM rule_state WHERE (rule_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
			args: []any{delRules, delKeys},
			fail: func(err error) error { return fmt.Errorf("delete rule state: %w", err) }})
	}
	if len(putRules) > 0 {
		steps = append(steps, step{sql: `INSERT INTO rule_state (rule_id, key, value, expires_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[])
			ON CONFLICT (rule_id, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
			args: []any{putRules, putKeys, values, expires},
			fail: func(err error) error { return fmt.Errorf("store rule state: %w", err) }})
	}
	if !now.IsZero() {
		steps = append(steps, step{sql: `DELETE FROM rule_state WHERE expires_at <= $1`, args: []any{floorMicro(now)},
			fail: func(err error) error { return fmt.Errorf("purge expired rule state: %w", err) }})
	}
	return steps
}

// DedupGroups returns every stored dedup group, by rule and dedup string.
func (s *Store) DedupGroups(ctx context.Context) ([]store.DedupGroup, error) {
	rows, err := s.pool.Query(ctx, `SELECT rule_id, dedup, period_end, alert_id, matches, pending
		FROM dedup_groups ORDER BY rule_id COLLATE "C", dedup COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read dedup groups: %w", err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.DedupGroup, error) {
		var g store.DedupGroup
		err := r.Scan(textCol{&g.RuleID}, textCol{&g.Dedup}, timeCol{&g.PeriodEnd}, textCol{&g.AlertID}, &g.Matches, &g.Pending)
		if len(g.Pending) == 0 {
			g.Pending = nil
		}
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("read dedup groups: %w", err)
	}
	return gs, nil
}

// RuleState reads one value of a rule's memory; an expired value (expiry
// at or before now) is absent whether or not it was purged yet.
func (s *Store) RuleState(ctx context.Context, ruleID, key string, now time.Time) (store.StateValue, bool, error) {
	var v store.StateValue
	err := s.pool.QueryRow(ctx, `SELECT value, expires_at FROM rule_state WHERE rule_id = $1 AND key = $2
		AND (expires_at IS NULL OR expires_at > $3)`, enc(ruleID), enc(key), floorMicro(now)).Scan(&v.Value, timeCol{&v.ExpiresAt})
	if errors.Is(err, pgx.ErrNoRows) {
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

// RuleStates reads the rules' memory live at now in one pass, so that the
// detect stage starts with all of it in memory instead of one query per key.
func (s *Store) RuleStates(ctx context.Context, now time.Time, max int, fn func(ruleID, key string, v store.StateValue)) (bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT rule_id, key, value, expires_at FROM rule_state
		WHERE expires_at IS NULL OR expires_at > $1 LIMIT $2`, floorMicro(now), max+1)
	if err != nil {
		return false, fmt.Errorf("read rule state: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if n == max {
			return false, nil
		}
		var rule, key string
		var v store.StateValue
		if err := rows.Scan(textCol{&rule}, textCol{&key}, &v.Value, timeCol{&v.ExpiresAt}); err != nil {
			return false, fmt.Errorf("read rule state: %w", err)
		}
		if v.Value == nil {
			v.Value = []byte{}
		}
		fn(rule, key, v)
		n++
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read rule state: %w", err)
	}
	return true, nil
}

// AlertsSince counts the rule alerts of ruleID created at or after since.
func (s *Store) AlertsSince(ctx context.Context, ruleID string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE rule_id = $1 AND created_at >= $2 AND type = $3`,
		enc(ruleID), ceilMicro(since), store.AlertRule).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count alerts of rule %s: %w", ruleID, err)
	}
	return n, nil
}
