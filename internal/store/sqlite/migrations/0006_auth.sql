-- Console sign-in (issue 9): users, their sessions and the API's tokens.
-- Only hashes are stored: argon2id for passwords (PHC text), SHA-256 (hex)
-- for session ids and tokens, so a copy of the database signs nobody in.
-- Session times are the auth service's clock; times are text as everywhere.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
	password_hash TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	last_login_at TEXT
) STRICT;

CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	seen_at    TEXT NOT NULL,
	idle_until TEXT NOT NULL,
	expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	role         TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
	hash         TEXT NOT NULL UNIQUE,
	last4        TEXT NOT NULL,
	created_by   TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	expires_at   TEXT,
	last_used_at TEXT
) STRICT;
