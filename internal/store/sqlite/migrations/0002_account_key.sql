-- An event is one event of one 1Password account, whichever source read it:
-- two sources on one account, or a source removed and added again, store it
-- once. The account is learned from the token (or introspection) and kept
-- on the source. Sources stored before this migration do not know theirs,
-- so their events are keyed by 'source:' || source_id, which keeps the old
-- rows unique exactly as before; the store uses the same stand-in for a
-- source whose account is not known yet.
ALTER TABLE sources ADD COLUMN account_uuid TEXT NOT NULL DEFAULT '';

-- A stream that is not enabled is "not collected": the user left its log
-- type out of the source's. It keeps its cursor and counts.
ALTER TABLE streams ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1));

ALTER TABLE events ADD COLUMN account TEXT NOT NULL DEFAULT '';

DROP INDEX events_key;
UPDATE events SET account = 'source:' || source_id;

-- Time still leads, so new events land at the index's right edge (see 0001).
CREATE UNIQUE INDEX events_key ON events (log_type, p_event_time, account, uuid);
