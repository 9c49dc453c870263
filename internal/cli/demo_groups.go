package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/store"
)

// loadEmulatorGroups loads the emulator's groups as the lookup tables the
// built-in rules read to name a group (Owners, Team Members): audit events
// carry only its uuid, by object_uuid or by aux_uuid (one table each).
func loadEmulatorGroups(ctx context.Context, lk store.Lookups, em *emulator.Emulator) error {
	groups, err := em.Groups("")
	if err != nil {
		return err
	}
	rows := make(map[string]json.RawMessage, len(groups))
	for _, g := range groups {
		b, err := json.Marshal(map[string]string{"uuid": g.UUID, "name": g.Name})
		if err != nil {
			return err
		}
		rows[g.UUID] = b
	}
	for _, t := range []store.LookupTable{
		{Name: "onepassword_groups", KeyColumn: "uuid", LogType: "OnePassword.AuditEvent", Selector: "object_uuid"},
		{Name: "onepassword_groups_aux", KeyColumn: "uuid", LogType: "OnePassword.AuditEvent", Selector: "aux_uuid"},
	} {
		if err := lk.LoadLookup(ctx, t, rows); err != nil {
			return fmt.Errorf("load the demo's lookup table %s: %w", t.Name, err)
		}
	}
	return nil
}
