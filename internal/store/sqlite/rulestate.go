package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// RuleStates reads the rules' memory live at now in one pass, so that the
// detect stage starts with all of it in memory instead of one query per key.
func (s *Store) RuleStates(ctx context.Context, now time.Time, max int, fn func(ruleID, key string, v store.StateValue)) (bool, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT rule_id, key, value, expires_at FROM rule_state
		WHERE expires_at IS NULL OR expires_at > ? LIMIT ?`, timeText(now), max+1)
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
		if err := rows.Scan(&rule, &key, &v.Value, timeCol{&v.ExpiresAt}); err != nil {
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
