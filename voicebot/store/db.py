"""The store: the only module that speaks SQL.

One SQLite file through aiosqlite (the default), or a PostgreSQL database when the target is a
`postgresql://` URL (voicebot.store.pg: the same SQL through psycopg); schema in numbered
migrations applied at open, the same files on both. Every turn is
committed when it ends, so a crash loses at most the utterance in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from voicebot import pii
from voicebot.pii import PiiError, PiiKeys
from voicebot.store import pg

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
log = logging.getLogger(__name__)
_T = TypeVar("_T")
# How long a write waits for another process's (SQLite): several workers on one machine share
# the one write lock, and a busy one can hold it off for seconds at a time (5 s was not enough
# for two workers at 100 calls/s each; measured by scripts/bench_campaign.py --workers).
BUSY_TIMEOUT_S = 30.0


class StoreError(RuntimeError):
    pass


def _reason(e: BaseException) -> str:
    """The error's own words, without its class (an OSError's without the file name)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e)


@dataclass(frozen=True, slots=True)
class TurnRecord:
    call_id: str
    seq: int
    speaker: str
    kind: str
    text: str
    started_at: float
    ended_at: float
    question_id: str | None = None
    confidence: float | None = None
    latency_ms: float | None = None
    interrupted: bool = False


def process_owner() -> str:
    """`host:pid` of this process: what a row's `owner` says about who is running it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(owner: str | None) -> bool:
    """The process that owned a row is gone: it ran on this host and its pid is dead, or the
    row has no owner (written before owners were kept). Another host's rows are its own."""
    if not owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isascii() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def remote_hash(remote: str, keys: PiiKeys | None = None) -> str:
    """A stable handle for a phone number or SIP URI, keyed with the server secret (PII stays
    out of rows, and a copy of the database cannot be reversed by enumerating numbers)."""
    return (keys or pii.keys()).phone_hash(remote)


def _data_step(version: int, dialect: str = "sqlite") -> Any:
    """The Python half of a migration that needs more than SQL (keys), or None. Schema 5's
    step rewrites the plain rows of SQLite stores made before it: a PostgreSQL database is
    created at the current schema (or filled by `voicebot db copy` from a migrated one), so
    it never holds such rows."""
    if version == 5 and dialect == "sqlite":
        from voicebot.store.privacy import migrate_plain

        return migrate_plain
    return None


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("voicebot.store").joinpath("migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration numbers: {versions}")
    return out


def sqlite_path(target: str) -> str:
    """`sqlite:PATH` / `sqlite:///PATH` as the file path; anything else is a path already."""
    if target.startswith("sqlite:///"):
        return target[len("sqlite://") :]
    if target.startswith("sqlite:"):
        return target[len("sqlite:") :]
    return target


def conn_in_tx(conn: aiosqlite.Connection) -> bool:
    return bool(conn._conn.in_transaction)


class Store:
    """Async access to the voicebot database; open with `await Store.open(path_or_url)`."""

    def __init__(
        self, conn: aiosqlite.Connection, path: str, keys: PiiKeys, dialect: str = "sqlite"
    ) -> None:
        self._db = conn
        self.path = path
        self.dialect = dialect  # "sqlite" or "postgresql"
        self.owner = process_owner()
        self.pii = keys  # hashes look-ups, encrypts contact fields

    @classmethod
    async def open(cls, path: str | Path, keys: PiiKeys | None = None) -> Store:
        """Open (creating and migrating) the database, and close the calls a dead process
        left open. Any failure is one `StoreError` naming the file, and leaves no connection
        thread behind (it would keep the process from exiting). `keys` default to the
        process's (`voicebot.pii.keys()`); keys this database was not made with are refused.
        A `postgresql://` URL opens that database instead; `sqlite:PATH` is the file."""
        path = str(path)
        if pg.is_pg_url(path):
            return await cls._open_pg(path, keys)
        path = sqlite_path(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_S)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"store {path}: {_reason(e)}") from e
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = NORMAL")
                # a read-only file opens fine and fails at the first write: find out now
                await conn.execute("BEGIN IMMEDIATE")
                async with conn.execute("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                await conn.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")
                await conn.rollback()
            # after the file proved usable: a broken store creates no key file
            store = cls(conn, path, keys or pii.keys())
            await store._migrate()
            closed = await store.close_interrupted_calls(time.time())
        except BaseException as e:
            await conn.close()
            if isinstance(e, (sqlite3.Error, StoreError, OSError, PiiError)):
                raise StoreError(f"store {path}: {_reason(e)}") from e
            raise
        if closed:
            log.warning("store %s: %d call(s) cut by a crash closed as interrupted", path, closed)
        return store

    @classmethod
    async def _open_pg(cls, url: str, keys: PiiKeys | None) -> Store:
        where = pg.safe_url(url)
        try:
            conn = await pg.AsyncConnection.connect(url)
        except Exception as e:  # psycopg's OperationalError: refused, no such database, auth
            raise StoreError(f"store {where}: {str(e).strip().splitlines()[-1]}") from e
        try:
            store = cls(conn, url, keys or pii.keys(), "postgresql")  # type: ignore[arg-type]
            await store._migrate()
            closed = await store.close_interrupted_calls(time.time())
        except BaseException as e:
            await conn.close()
            if isinstance(e, (sqlite3.Error, StoreError, OSError, PiiError)):
                raise StoreError(f"store {where}: {_reason(e)}") from e
            raise
        if closed:
            log.warning("store %s: %d call(s) cut by a crash closed as interrupted", where, closed)
        return store

    async def transact(
        self, fn: Callable[..., _T], *args: Any, immediate: bool = False
    ) -> _T:
        """Run `fn(conn, *args)` as one transaction, in one hop to the connection's thread.

        Every read and write of the store goes through here, so no statement of one coroutine
        is left open on the shared connection while another's runs: an open read there holds
        a snapshot, and SQLite then refuses the next BEGIN IMMEDIATE at once ("database is
        locked") instead of waiting its busy timeout — which is what two workers on one file
        hit at a hundred calls a second. `immediate` takes the write lock first (read-then-write
        that other processes must not interleave). Inside an uncommitted transaction (the
        migrations at open) the work runs in a savepoint, so a failure here never rolls back
        someone else's row. A deferred transaction that has read and then writes while another
        process writes fails at once too (WAL cannot upgrade a stale snapshot); it is run again
        from the start under BEGIN IMMEDIATE, which waits.
        """

        def tx() -> _T:
            conn: sqlite3.Connection = self._db._conn  # the one connection, on its own thread
            conn.row_factory = sqlite3.Row
            if conn.in_transaction or immediate or self.dialect != "sqlite":
                return attempt(conn, immediate)
            try:
                return attempt(conn, False)
            except StoreError as e:
                if not isinstance(e.__cause__, sqlite3.OperationalError) or "locked" not in str(e):
                    raise
            return attempt(conn, True)

        def attempt(conn: sqlite3.Connection, immediate: bool) -> _T:
            nested = conn.in_transaction
            begin = "SAVEPOINT hr" if nested else ("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                conn.execute(begin)
            except sqlite3.Error as e:  # the write lock stayed taken for the whole busy timeout
                raise StoreError(f"{fn.__name__.lstrip('_')}: {e}") from e
            try:
                out = fn(conn, *args)
                if nested:
                    conn.execute("RELEASE hr")
                conn.commit()
                return out
            except BaseException as e:
                if nested:
                    conn.execute("ROLLBACK TO hr")
                    conn.execute("RELEASE hr")
                else:
                    conn.rollback()
                if isinstance(e, sqlite3.Error):
                    raise StoreError(f"{fn.__name__.lstrip('_')}: {e}") from e
                raise

        return await self._db._execute(tx)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        await self._db.commit()
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        for version, name, sql in migrations():
            if version in done:
                continue
            step = _data_step(version, self.dialect)

            def apply(conn: sqlite3.Connection, v: int = version, n: str = name,
                      s: str = sql, step: Any = step) -> None:  # fmt: skip
                conn.executescript("BEGIN;\n" + s)  # stays open: the data step joins it
                try:
                    if step is not None:
                        step(conn, self.pii)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)", (v, n, time.time())
                    )
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise

            try:
                await self._db._execute(apply, self._db._conn)
            except Exception as e:
                if conn_in_tx(self._db):
                    await self._db.rollback()
                raise StoreError(f"migration {name} failed: {_reason(e)}") from e

        from voicebot.store.privacy import check_keys

        await self._db._execute(check_keys, self._db._conn, self.pii)

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0] or 0)

    # calls ---------------------------------------------------------------------------------

    async def call_started(
        self,
        call_id: str,
        *,
        direction: str,
        bridge: str,
        remote: str,
        started_at: float,
        job_id: str | None = None,
        candidate_id: str | None = None,
    ) -> str:
        """Record a new call; returns the id it is stored under, which is `call_id` unless
        that id is taken already (a peer reusing a SIP Call-ID or AudioSocket UUID): then a
        fresh suffix makes it unique, and the new call goes on under that id."""
        remote_hash = self.pii.phone_hash(remote)

        def _call_started(conn: sqlite3.Connection) -> str:
            key = call_id
            while conn.execute("SELECT 1 FROM calls WHERE id = ?", (key,)).fetchone():
                key = f"{call_id}~{secrets.token_hex(4)}"
            conn.execute(
                "INSERT INTO calls (id, direction, bridge, remote_hash, job_id, candidate_id, "
                "started_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, direction, bridge, remote_hash, job_id, candidate_id, started_at,
                 self.owner),
            )  # fmt: skip
            return key

        return await self.transact(_call_started, immediate=True)

    async def close_interrupted_calls(self, at: float) -> int:
        """Close as `interrupted` every open call whose process is gone (a crash or a kill
        -9 cut it); calls of live processes stay open. Returns how many were closed."""

        def _close_interrupted(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT id, owner FROM calls WHERE ended_at IS NULL").fetchall()
            cut = [row["id"] for row in rows if owner_gone(row["owner"])]
            for cid in cut:
                conn.execute(
                    "UPDATE calls SET ended_at = ?, outcome = 'interrupted' "
                    "WHERE id = ? AND ended_at IS NULL",
                    (at, cid),
                )
            return len(cut)

        return await self.transact(_close_interrupted)

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        def _statement(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        await self.transact(_statement)

    async def call_answered(self, call_id: str, at: float) -> None:
        await self._write("UPDATE calls SET answered_at = ? WHERE id = ?", (at, call_id))

    async def set_consent(self, call_id: str, consent: bool) -> None:
        await self._write("UPDATE calls SET consent = ? WHERE id = ?", (int(consent), call_id))

    async def call_ended(
        self, call_id: str, *, at: float, outcome: str, stats: dict[str, Any] | None = None
    ) -> None:
        await self._write(
            "UPDATE calls SET ended_at = ?, outcome = ?, stats_json = ? WHERE id = ?",
            (at, outcome, json.dumps(stats or {}), call_id),
        )

    async def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        def _query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return [dict(r) for r in conn.execute(sql, params).fetchall()]

        return await self.transact(_query)

    async def ping(self) -> None:
        """One round trip: raises StoreError when the database cannot answer (readiness)."""
        await self._read("SELECT 1")

    async def get_call(self, call_id: str) -> dict[str, Any] | None:
        rows = await self._read("SELECT * FROM calls WHERE id = ?", (call_id,))
        return rows[0] if rows else None

    async def list_calls(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self._read("SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))

    # turns ---------------------------------------------------------------------------------

    async def add_turn(self, turn: TurnRecord) -> None:
        await self._write(
            "INSERT INTO turns (call_id, seq, speaker, kind, question_id, text, started_at, "
            "ended_at, confidence, latency_ms, interrupted) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                turn.call_id,
                turn.seq,
                turn.speaker,
                turn.kind,
                turn.question_id,
                turn.text,
                turn.started_at,
                turn.ended_at,
                turn.confidence,
                turn.latency_ms,
                int(turn.interrupted),
            ),
        )

    async def turns(self, call_id: str) -> list[TurnRecord]:
        rows = await self._read(
            "SELECT call_id, seq, speaker, kind, text, started_at, ended_at, question_id, "
            "confidence, latency_ms, interrupted FROM turns WHERE call_id = ? ORDER BY seq",
            (call_id,),
        )
        return [TurnRecord(*list(r.values())[:10], interrupted=bool(r["interrupted"]))
                for r in rows]  # fmt: skip


async def store_unready(store: Store, timeout_s: float = 2.0) -> str | None:
    """Why the store cannot serve now (for /ready), or None when it answered in time."""
    try:
        await asyncio.wait_for(store.ping(), timeout_s)
    except TimeoutError:
        return f"store: no answer within {timeout_s:g} s"
    except Exception as e:  # closed, unreachable, refused: readiness answers, never fails
        return f"store: {str(e) or type(e).__name__}"
    return None
