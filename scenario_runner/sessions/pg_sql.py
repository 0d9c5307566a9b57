"""The PostgreSQL store's schema, its migrations and its statements (``%s`` parameters)."""

from __future__ import annotations

from typing import Final

from typing_extensions import LiteralString

SCHEMA_VERSION: Final = 1
_LOCK_KEY = 0x5C3E_7A10  # advisory lock of schema changes
_SWEEP_KEY = 0x5C3E_7A11  # advisory lock of the TTL sweep

SCHEMA_LOCK: LiteralString = f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"
SCHEMA_TABLE: LiteralString = (
    "CREATE TABLE IF NOT EXISTS scenario_run_schema (version integer NOT NULL)"
)
SCHEMA_VERSION_GET: LiteralString = "SELECT max(version) FROM scenario_run_schema"
SCHEMA_VERSION_SET: LiteralString = (
    "WITH gone AS (DELETE FROM scenario_run_schema) INSERT INTO scenario_run_schema VALUES (%s)"
)

# version -> the statements that bring the schema from version - 1 to it
MIGRATIONS: Final[dict[int, tuple[LiteralString, ...]]] = {
    1: (
        """
        CREATE TABLE sessions (
            app_name text NOT NULL,
            user_id text NOT NULL,
            id text NOT NULL,
            state json NOT NULL,
            create_time double precision NOT NULL,
            last_update_time double precision NOT NULL,
            last_seen double precision NOT NULL,
            version bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (app_name, user_id, id)
        )
        """,
        "CREATE INDEX sessions_by_update ON sessions (app_name, last_update_time, id)",
        """
        CREATE TABLE events (
            app_name text NOT NULL,
            user_id text NOT NULL,
            session_id text NOT NULL,
            id text NOT NULL,
            sequence bigint NOT NULL,
            kind text NOT NULL,
            author text NOT NULL,
            timestamp double precision NOT NULL,
            data json NOT NULL,
            state_delta json NOT NULL,
            PRIMARY KEY (app_name, user_id, session_id, sequence),
            UNIQUE (app_name, user_id, session_id, id),
            FOREIGN KEY (app_name, user_id, session_id)
                REFERENCES sessions (app_name, user_id, id) ON DELETE CASCADE
        )
        """,
    ),
}

_KEY: LiteralString = "app_name = %s AND user_id = %s AND id = %s"
_EVENT_COLUMNS: LiteralString = (
    "e.id, e.sequence, e.kind, e.author, e.timestamp, e.data, e.state_delta"
)
_NOW: LiteralString = "extract(epoch FROM clock_timestamp())::double precision"

CREATE: LiteralString = (
    "INSERT INTO sessions (app_name, user_id, id, state, create_time, last_update_time,"
    " last_seen) VALUES (%s, %s, %s, %s::json, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1"
)
# One statement, one snapshot: the session row, then its newest events first.
GET: LiteralString = (
    "SELECT s.state, s.last_update_time, " + _EVENT_COLUMNS + " FROM sessions s"
    " LEFT JOIN LATERAL (SELECT * FROM events e WHERE e.app_name = s.app_name"
    " AND e.user_id = s.user_id AND e.session_id = s.id"
    " AND (%s::double precision IS NULL OR e.timestamp >= %s)"
    " ORDER BY e.sequence DESC LIMIT %s) e ON true"
    " WHERE s.app_name = %s AND s.user_id = %s AND s.id = %s ORDER BY e.sequence DESC"
)
_LIGHT_COLUMNS: LiteralString = (
    "e.id, e.sequence, e.kind, e.author, e.timestamp, CASE WHEN e.kind = 'mock_call' THEN"
    " json_build_object('stub_id', e.data->'stub_id', 'method', e.data->'method')"
    " ELSE e.data END, e.state_delta"
)
TAIL: LiteralString = (
    "SELECT s.create_time, s.version, s.state, " + _EVENT_COLUMNS + " FROM sessions s"
    " LEFT JOIN events e ON e.app_name = s.app_name AND e.user_id = s.user_id"
    " AND e.session_id = s.id AND e.sequence > %s"
    " AND (%s::text[] IS NULL OR e.kind = ANY(%s::text[]))"
    " WHERE s.app_name = %s AND s.user_id = %s AND s.id = %s ORDER BY e.sequence"
)
LIST: LiteralString = (
    "SELECT user_id, id, state, last_update_time FROM sessions WHERE app_name = %s"
    " AND (%s::text IS NULL OR user_id = %s) ORDER BY last_update_time, id, user_id"
)
DELETE: LiteralString = "DELETE FROM sessions WHERE " + _KEY + " RETURNING 1"
# The session's row lock orders concurrent appends; its version is the last sequence.
# parameters: app, user, id, event id, kind, author, timestamp (None: now), data, delta
APPEND: LiteralString = (
    "WITH args AS (SELECT %s::text AS app, %s::text AS usr, %s::text AS sid,"
    " %s::text AS eid, %s::text AS kind, %s::text AS author, %s::double precision AS ts,"
    " %s::json AS data, %s::json AS delta),"
    " s AS (UPDATE sessions SET version = version + 1,"
    " last_update_time = COALESCE((SELECT ts FROM args), " + _NOW + ")"
    " WHERE (app_name, user_id, id) = (SELECT app, usr, sid FROM args)"
    " RETURNING app_name, user_id, id, version, last_update_time)"
    " INSERT INTO events (app_name, user_id, session_id, id, sequence, kind, author,"
    " timestamp, data, state_delta)"
    " SELECT s.app_name, s.user_id, s.id, a.eid, s.version, a.kind, a.author,"
    " s.last_update_time, a.data, a.delta FROM s, args a RETURNING sequence, timestamp"
)
# APPEND's parameters, then the new state
APPEND_WITH_STATE: LiteralString = APPEND.replace(
    "%s::json AS delta)", "%s::json AS delta, %s::json AS state)"
).replace(
    "SET version = version + 1,", "SET version = version + 1, state = (SELECT state FROM args),"
)
LOCK_STATE: LiteralString = "SELECT state FROM sessions WHERE " + _KEY + " FOR UPDATE"

HEADS: LiteralString = (
    "SELECT id, create_time, version FROM sessions WHERE app_name = %s AND user_id = %s"
)
NOTE_ACTIVITY: LiteralString = (
    "UPDATE sessions s SET last_seen = greatest(s.last_seen, v.seen)"
    " FROM unnest(%s::text[], %s::double precision[]) AS v(id, seen)"
    " WHERE s.id = v.id AND s.app_name = %s AND s.user_id = %s"
)
TRY_SWEEP_LOCK: LiteralString = f"SELECT pg_try_advisory_xact_lock({_SWEEP_KEY})"
EXPIRE: LiteralString = (
    "DELETE FROM sessions s USING unnest(%s::text[], %s::double precision[]) AS v(id, cutoff)"
    " WHERE s.id = v.id AND s.app_name = %s AND s.user_id = %s"
    " AND greatest(s.last_seen, s.last_update_time) <= v.cutoff RETURNING s.id"
)
NOTIFY: LiteralString = "SELECT pg_notify(%s, %s)"
PEERS: LiteralString = (
    "SELECT application_name FROM pg_stat_activity"
    " WHERE datname = current_database() AND application_name LIKE %s"
)
# TAIL with each call's data cut to what a replica counts: its method and stub
LIGHT_TAIL: LiteralString = TAIL.replace(_EVENT_COLUMNS, _LIGHT_COLUMNS)
