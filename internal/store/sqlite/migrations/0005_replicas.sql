-- Replicas: opwatch processes sharing one database. Each heartbeats; a
-- stage that runs on one replica at a time (detect, health) is leased by
-- name, fenced by the store's clock like the streams' leases.
CREATE TABLE replicas (
	id         TEXT PRIMARY KEY,
	host       TEXT NOT NULL DEFAULT '',
	pid        INTEGER NOT NULL DEFAULT 0,
	version    TEXT NOT NULL DEFAULT '',
	started_at TEXT NOT NULL,
	seen_at    TEXT NOT NULL
) STRICT;

CREATE TABLE stage_leases (
	stage       TEXT PRIMARY KEY,
	lease_owner TEXT NOT NULL,
	lease_until TEXT NOT NULL
) STRICT;
