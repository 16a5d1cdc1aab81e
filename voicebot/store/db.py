"""The store: the only module that speaks SQL.

One SQLite file through aiosqlite, schema in numbered migrations applied at open. Every turn is
committed when it ends, so a crash loses at most the utterance in flight.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(RuntimeError):
    pass


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


def remote_hash(remote: str) -> str:
    """A stable, non-reversible handle for a phone number or SIP URI (PII stays out of rows)."""
    return hashlib.sha256(remote.strip().lower().encode()).hexdigest()[:32]


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


class Store:
    """Async access to the voicebot database; open with `await Store.open(path)`."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._db = conn
        self.path = path

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
        store = cls(conn, path)
        await store._migrate()
        return store

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
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        for version, name, sql in migrations():
            if version in done:
                continue
            try:
                await self._db.executescript(
                    "BEGIN;\n" + sql + "\nINSERT INTO schema_migrations VALUES "
                    f"({version}, '{name}', {time.time()});\nCOMMIT;"
                )
            except Exception as e:
                await self._db.rollback()
                raise StoreError(f"migration {name} failed: {e}") from e

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
    ) -> None:
        await self._db.execute(
            "INSERT INTO calls (id, direction, bridge, remote_hash, job_id, candidate_id, "
            "started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (call_id, direction, bridge, remote_hash(remote), job_id, candidate_id, started_at),
        )
        await self._db.commit()

    async def call_answered(self, call_id: str, at: float) -> None:
        await self._db.execute("UPDATE calls SET answered_at = ? WHERE id = ?", (at, call_id))
        await self._db.commit()

    async def set_consent(self, call_id: str, consent: bool) -> None:
        await self._db.execute("UPDATE calls SET consent = ? WHERE id = ?", (int(consent), call_id))
        await self._db.commit()

    async def call_ended(
        self, call_id: str, *, at: float, outcome: str, stats: dict[str, Any] | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE calls SET ended_at = ?, outcome = ?, stats_json = ? WHERE id = ?",
            (at, outcome, json.dumps(stats or {}), call_id),
        )
        await self._db.commit()

    async def get_call(self, call_id: str) -> dict[str, Any] | None:
        async with self._db.execute("SELECT * FROM calls WHERE id = ?", (call_id,)) as cur:
            row = await cur.fetchone()
        return dict(row) if row else None

    async def list_calls(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self._db.execute(
            "SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,)
        ) as cur:
            return [dict(r) for r in await cur.fetchall()]

    # turns ---------------------------------------------------------------------------------

    async def add_turn(self, turn: TurnRecord) -> None:
        await self._db.execute(
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
        await self._db.commit()

    async def turns(self, call_id: str) -> list[TurnRecord]:
        async with self._db.execute(
            "SELECT call_id, seq, speaker, kind, text, started_at, ended_at, question_id, "
            "confidence, latency_ms, interrupted FROM turns WHERE call_id = ? ORDER BY seq",
            (call_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [TurnRecord(*r[:10], interrupted=bool(r[10])) for r in rows]
