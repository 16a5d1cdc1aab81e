"""A database as an older voicebot left it: the shipped migrations up to `version` applied,
the later ones not, for the tests of what a newer migration does to existing data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from voicebot.store.db import migrations


def database_at(path: Path, version: int) -> sqlite3.Connection:
    """An open connection to a new database at `path`, at schema `version`."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for number, name, sql in migrations():
        if number <= version:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 1.0)", (number, name))
    return conn
