"""The store's tables, as the migrations that make them: MIGRATIONS[n] brings a store at schema version n to n + 1.

A new store runs them all; an older one the rest (app.store.store.Store.open). Plain SQL that SQLite 3.7 (old
distributions' Pythons) understands: no UPSERT, no WITHOUT ROWID.
"""

from __future__ import annotations

from app.store.eventstore import SCHEMA as EVENTS_SCHEMA

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

SCHEMA_VERSION = 4

# MIGRATIONS[n] brings a store at schema version n to n + 1.
MIGRATIONS: Tuple[str, ...] = ("""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    created REAL NOT NULL, recipients TEXT NOT NULL, message BLOB NOT NULL, logins INTEGER NOT NULL,
    sent REAL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX outbox_unsent ON outbox(sent, id);
CREATE TABLE sends (time REAL NOT NULL);
CREATE TABLE recent (id INTEGER PRIMARY KEY, connection TEXT NOT NULL, epoch REAL NOT NULL);
CREATE TABLE sources (user TEXT NOT NULL, ip TEXT NOT NULL, first REAL NOT NULL, last REAL NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (user, ip));
CREATE TABLE sessions_alerted (key TEXT PRIMARY KEY);
CREATE TABLE runs (kind TEXT PRIMARY KEY, ok REAL, failed REAL, reason TEXT);
CREATE TABLE history (id INTEGER PRIMARY KEY, log_key TEXT NOT NULL UNIQUE, epoch REAL NOT NULL,
    address TEXT NOT NULL, entry TEXT NOT NULL);
CREATE INDEX history_epoch ON history(epoch);
CREATE INDEX history_address ON history(address, epoch);
CREATE TABLE reserve (filler BLOB);
""", """
CREATE TABLE deliveries (outbox_id INTEGER NOT NULL, recipient TEXT NOT NULL, state TEXT NOT NULL,
    reply TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (outbox_id, recipient));
""", EVENTS_SCHEMA, """
CREATE TABLE history_v4 (id INTEGER PRIMARY KEY, log_key TEXT NOT NULL UNIQUE, epoch REAL, address TEXT NOT NULL,
    entry TEXT NOT NULL, stored REAL);
INSERT INTO history_v4 (id, log_key, epoch, address, entry, stored)
    SELECT id, log_key, nullif(epoch, 0), address, entry, CAST(strftime('%s', 'now') AS REAL) FROM history;
DROP TABLE history;
ALTER TABLE history_v4 RENAME TO history;
CREATE INDEX history_epoch ON history(epoch);
CREATE INDEX history_address ON history(address, epoch);
CREATE INDEX history_stored ON history(stored);
""")  # history v4: an unknown login time is NULL (0, read as 1970, was pruned as ancient); stored: when recorded.
# outbox ids are AUTOINCREMENT: never reused, so the accepted mark (app.store.outbox) names one message
