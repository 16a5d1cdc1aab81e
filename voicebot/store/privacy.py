"""Candidates' data at rest: the plain-to-keyed migration, key checks and rotation, erasure of
one candidate, retention purge by age, and the audit rows each of them writes.

Every function here is synchronous on the store's connection (run through `hr.run` or the
migration step), so each is one transaction: an erasure is whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.pii import PiiError, PiiKeys
from voicebot.store.db import Store

CHECK_TEXT = "voicebot pii key check"
ERASED_PHONE = ""  # what an erased candidate's phone column holds (NOT NULL in schema 2)


def audit(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    subject: str | None,
    detail: Mapping[str, Any] | None = None,
    at: float | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor, action, subject, detail_json) VALUES (?,?,?,?,?)",
        (at or time.time(), actor, action, subject, json.dumps(dict(detail or {}), sort_keys=True)),
    )


# the migration from plain (schema <= 4) ---------------------------------------------------------

_HASH_COLUMNS = (
    ("candidates", "phone_hash"),
    ("campaign_targets", "phone_hash"),
    ("attempts", "phone_hash"),
    ("do_not_call", "phone_hash"),
    ("calls", "remote_hash"),
)
_CANDIDATE_REFS = ("demographics", "outcomes", "campaign_targets", "attempts", "calls", "reports")


def migrate_plain(conn: sqlite3.Connection, keys: PiiKeys) -> None:
    """Schema 5's data step, inside the migration's transaction: every hash keyed (a function
    of the old hash, so rows whose number is unknown still match), contact fields encrypted,
    and candidate ids re-derived with the secret (the old ones were a plain sha256 of job and
    number), with every reference to them, reports and outbox payloads included."""
    conn.execute("PRAGMA defer_foreign_keys = ON")  # ids change in parent and children
    conn.create_function("vb_rehash", 1, keys.rehash, deterministic=True)
    for table, column in _HASH_COLUMNS:
        conn.execute(f"UPDATE {table} SET {column} = vb_rehash({column})")
    conn.execute("CREATE TEMP TABLE vb_idmap (old TEXT PRIMARY KEY, new TEXT NOT NULL)")
    rows = conn.execute("SELECT id, job_id, phone_e164, name, email FROM candidates").fetchall()
    for old, job_id, phone, name, email in rows:
        new = keys.candidate_id(job_id, phone)
        conn.execute(
            "UPDATE candidates SET id = ?, phone_e164 = ?, name = ?, email = ? WHERE id = ?",
            (new, keys.encrypt(phone), keys.encrypt(name), keys.encrypt(email), old),
        )
        conn.execute("INSERT INTO vb_idmap VALUES (?, ?)", (old, new))
    for table in _CANDIDATE_REFS:
        conn.execute(
            f"UPDATE {table} SET candidate_id = m.new FROM vb_idmap m "
            f"WHERE {table}.candidate_id = m.old"
        )
    conn.execute(
        "UPDATE reports SET report_json = replace(report_json, m.old, m.new) FROM vb_idmap m "
        "WHERE reports.candidate_id = m.new"
    )
    conn.execute(
        "UPDATE webhook_events SET payload_json = replace(payload_json, m.old, m.new) "
        "FROM vb_idmap m WHERE json_extract(webhook_events.payload_json, '$.candidate_id') "
        "= m.old"
    )
    conn.execute("DROP TABLE vb_idmap")
    if rows:
        audit(conn, "migration", "migrate", None, {"candidates": len(rows)})


def check_keys(conn: sqlite3.Connection, keys: PiiKeys) -> None:
    """The database remembers the secret's fingerprint and a token under its keys: a store
    opened with another secret (every look-up would miss) or keys that decrypt nothing fails
    here, with one line, before anything is written."""
    meta = dict(conn.execute("SELECT name, value FROM pii_meta").fetchall())
    if "secret" not in meta:
        conn.execute("INSERT INTO pii_meta VALUES ('secret', ?)", (keys.fingerprint(),))
        conn.execute("INSERT INTO pii_meta VALUES ('key_check', ?)", (keys.encrypt(CHECK_TEXT),))
        conn.commit()
        return
    if meta["secret"] != keys.fingerprint():
        raise PiiError(
            f"the PII secret ({keys.source}) is not the one this database was made with: "
            "phone look-ups and do-not-call would all miss"
        )
    try:
        ok = keys.decrypt(meta.get("key_check")) == CHECK_TEXT
    except PiiError:
        ok = False
    if not ok:
        raise PiiError(f"the PII keys ({keys.source}) do not decrypt this database")


# rotation ---------------------------------------------------------------------------------------


def rotate(conn: sqlite3.Connection, keys: PiiKeys, actor: str) -> int:
    """Every encrypted field re-encrypted under the newest key; returns the rows rewritten.
    Old keys can be dropped from the configuration afterwards."""
    rows = conn.execute(
        "SELECT id, phone_e164, name, email FROM candidates WHERE erased_at IS NULL"
    ).fetchall()
    for cid, phone, name, email in rows:
        conn.execute(
            "UPDATE candidates SET phone_e164 = ?, name = ?, email = ? WHERE id = ?",
            (keys.reencrypt(phone), keys.reencrypt(name), keys.reencrypt(email), cid),
        )
    conn.execute(
        "UPDATE pii_meta SET value = ? WHERE name = 'key_check'", (keys.encrypt(CHECK_TEXT),)
    )
    audit(conn, actor, "rotate", None, {"candidates": len(rows), "keys": len(keys.keys)})
    return len(rows)


# erasure and retention --------------------------------------------------------------------------


@dataclass
class Erased:
    """What one erasure or purge removed; `recordings` are call ids whose audio files the
    caller deletes (they live on disk, outside the database)."""

    candidates: int = 0
    calls: int = 0
    turns: int = 0
    reports: int = 0
    events: int = 0
    recordings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "candidates": self.candidates,
            "calls": self.calls,
            "turns": self.turns,
            "reports": self.reports,
            "events": self.events,
        }

    def add(self, other: Erased) -> None:
        for k, v in other.counts().items():
            setattr(self, k, getattr(self, k) + v)
        self.recordings += other.recordings


def _forget_calls(conn: sqlite3.Connection, call_ids: list[str], out: Erased) -> None:
    """Turns, reports and prosody of these calls go; the call rows stay (outcome, times and
    timing stats) with nothing said in them."""
    versions = conn.execute(  # kept per rescore since schema 6
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'report_versions'"
    ).fetchone()
    for call_id in call_ids:
        if versions:
            conn.execute("DELETE FROM report_versions WHERE call_id = ?", (call_id,))
        out.turns += conn.execute("DELETE FROM turns WHERE call_id = ?", (call_id,)).rowcount
        out.reports += conn.execute("DELETE FROM reports WHERE call_id = ?", (call_id,)).rowcount
        conn.execute("DELETE FROM utterance_prosody WHERE call_id = ?", (call_id,))
    out.calls += len(call_ids)
    out.recordings += call_ids


def erase_candidate(
    conn: sqlite3.Connection, candidate_id: str, actor: str, now: float, action: str = "erase"
) -> Erased | None:
    """Redact one candidate: contact and profile fields, demographics and outcome, the turns,
    reports and recordings of their calls, and their webhook payloads; keep the phone hash on
    the do-not-call list (they are never dialled again) and write an audit row. None when no
    such candidate exists."""
    row = conn.execute("SELECT phone_hash FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
    if row is None:
        return None
    (phone_hash,) = row
    out = Erased(candidates=1)
    conn.execute(
        "UPDATE candidates SET phone_e164 = ?, name = NULL, email = NULL, external_id = NULL, "
        "years_experience = NULL, education = NULL, skills_json = '[]', current_title = NULL, "
        "screen_json = NULL, consent_call = 0, erased_at = ?, updated_at = ? WHERE id = ?",
        (ERASED_PHONE, now, now, candidate_id),
    )
    conn.execute("DELETE FROM demographics WHERE candidate_id = ?", (candidate_id,))
    conn.execute("DELETE FROM outcomes WHERE candidate_id = ?", (candidate_id,))
    conn.execute(
        "INSERT INTO do_not_call VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (phone_hash, now, f"{action}d"),
    )
    conn.execute(
        "UPDATE campaign_targets SET status = 'skipped', reason = 'erased', updated_at = ? "
        "WHERE candidate_id = ? AND status = 'pending'",
        (now, candidate_id),
    )
    calls = [
        r[0] for r in conn.execute("SELECT id FROM calls WHERE candidate_id = ?", (candidate_id,))
    ]
    _forget_calls(conn, calls, out)
    events = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM webhook_events WHERE json_extract(payload_json, '$.candidate_id') = ?",
            (candidate_id,),
        )
    ]
    for event_id in events:
        conn.execute(
            "UPDATE webhook_events SET payload_json = ? WHERE id = ?",
            (json.dumps({"candidate_id": candidate_id, "erased": True}), event_id),
        )
        conn.execute(
            "UPDATE webhook_deliveries SET state = 'cancelled', last_error = 'candidate erased' "
            "WHERE event_id = ? AND state = 'pending'",
            (event_id,),
        )
    out.events = len(events)
    if action == "erase":
        audit(conn, actor, "erase", candidate_id, out.counts(), now)
    return out


def purge(conn: sqlite3.Connection, cutoff: float, actor: str, now: float) -> Erased:
    """Retention: what is older than `cutoff` goes. Calls that started before it lose their
    turns, reports and recordings; candidates with no activity since (not updated, not
    called, not in a running campaign) are erased as by `erase_candidate`. One audit row."""
    out = Erased()
    stale = [
        r[0]
        for r in conn.execute(
            "SELECT c.id FROM candidates c WHERE c.erased_at IS NULL AND c.updated_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM calls k WHERE k.candidate_id = c.id "
            "AND k.started_at >= ?) AND NOT EXISTS (SELECT 1 FROM campaign_targets t "
            "JOIN campaigns p ON p.id = t.campaign_id WHERE t.candidate_id = c.id "
            "AND p.state = 'running' AND t.status IN ('pending', 'in_progress'))",
            (cutoff, cutoff),
        )
    ]
    for cid in stale:
        erased = erase_candidate(conn, cid, actor, now, action="purge")
        if erased is not None:
            out.add(erased)
    old_calls = [
        r[0]
        for r in conn.execute(
            "SELECT k.id FROM calls k WHERE k.started_at < ? AND k.ended_at IS NOT NULL AND "
            "(EXISTS (SELECT 1 FROM turns t WHERE t.call_id = k.id) OR EXISTS "
            "(SELECT 1 FROM reports r WHERE r.call_id = k.id))",
            (cutoff,),
        )
    ]
    _forget_calls(conn, old_calls, out)
    audit(conn, actor, "purge", None, {**out.counts(), "older_than": now - cutoff}, now)
    return out


def delete_recordings(recordings_dir: str | Path, call_ids: list[str]) -> int:
    """The audio files of erased calls (`<recordings_dir>/<call id>.wav`, as the ARI bridge
    fetches them); returns how many were removed."""
    removed = 0
    base = Path(recordings_dir)
    for call_id in dict.fromkeys(call_ids):
        path = base / f"{call_id}.wav"
        if path.parent == base and path.is_file():  # a call id is never a path
            path.unlink()
            removed += 1
    return removed


# async entry points ----------------------------------------------------------------------------


async def erase(store: Store, candidate_id: str, actor: str) -> Erased | None:
    from voicebot.store.hr import run

    return await run(store, erase_candidate, candidate_id, actor, time.time(), immediate=True)


async def purge_older_than(store: Store, age_s: float, actor: str) -> Erased:
    from voicebot.store.hr import run

    now = time.time()
    return await run(store, purge, now - age_s, actor, now, immediate=True)


async def rotate_keys(store: Store, actor: str) -> int:
    from voicebot.store.hr import run

    return await run(store, rotate, store.pii, actor, immediate=True)


async def audit_rows(store: Store, subject: str | None = None) -> list[dict[str, Any]]:
    from voicebot.store.hr import run

    def _audit_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        where, args = ("WHERE subject = ?", (subject,)) if subject else ("", ())
        rows = conn.execute(f"SELECT * FROM audit {where} ORDER BY id", args).fetchall()
        return [{**dict(r), "detail": json.loads(r["detail_json"])} for r in rows]

    return await run(store, _audit_rows)
