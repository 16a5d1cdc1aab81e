"""The HR tables: jobs, candidates, campaigns and attempts, do-not-call, webhooks, API tokens,
outcomes and demographics.

Each function runs as one transaction on the store connection's own thread (so coroutines
sharing the connection never interleave inside it): a claim, an attempt's result and the
webhook events that report it commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from voicebot import pii
from voicebot.pii import PiiError, PiiKeys
from voicebot.store.db import Store, StoreError

_T = TypeVar("_T")

TOKEN_ROLES = ("hr", "system")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


async def run(store: Store, fn: Callable[..., _T], *args: Any, immediate: bool = False) -> _T:
    """Run `fn(conn, *args)` as one transaction on the store's connection thread (see
    `Store.transact`)."""
    return await store.transact(fn, *args, immediate=immediate)


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    return [dict(r) for r in cur.fetchall()]


def _one(cur: sqlite3.Cursor) -> dict[str, Any] | None:
    row = cur.fetchone()
    return dict(row) if row else None


# jobs -----------------------------------------------------------------------------------------


async def upsert_job(store: Store, job_id: str, title: str, spec: Mapping[str, Any]) -> bool:
    """Insert or replace a job's definition; True when it was new."""

    def _upsert_job(conn: sqlite3.Connection) -> bool:
        now = time.time()
        new = conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None
        conn.execute(
            "INSERT INTO jobs (id, title, spec_yaml, created_at, updated_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET title = excluded.title, "
            "spec_yaml = excluded.spec_yaml, updated_at = excluded.updated_at",
            (job_id, title, yaml.safe_dump(dict(spec), allow_unicode=True), now, now),
        )
        return new

    return await run(store, _upsert_job)


async def get_job_spec(store: Store, job_id: str) -> dict[str, Any] | None:
    def _get_job(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = conn.execute("SELECT spec_yaml FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return yaml.safe_load(row[0]) if row else None

    return await run(store, _get_job)


async def list_jobs(store: Store) -> list[dict[str, Any]]:
    def _list_jobs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return _rows(
            conn.execute(
                "SELECT j.id, j.title, j.updated_at, "
                "(SELECT COUNT(*) FROM candidates c WHERE c.job_id = j.id) AS candidates "
                "FROM jobs j ORDER BY j.id"
            )
        )

    return await run(store, _list_jobs)


# candidates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateRecord:
    """One validated candidate, ready to store (phone already E.164, time zone resolved)."""

    job_id: str
    phone_e164: str
    timezone: str
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    years_experience: float | None = None
    education: str | None = None
    skills: tuple[str, ...] = ()
    current_title: str | None = None
    consent_call: bool = True
    consent_recording: bool = False
    demographics: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable per job and number, so a re-import updates rather than duplicates; keyed
        with the process's PII secret (`voicebot.pii.keys()`), so it does not give the number
        away. A store opened with other keys uses `store.pii.candidate_id` instead."""
        return pii.keys().candidate_id(self.job_id, self.phone_e164)


async def upsert_candidates(
    store: Store, records: Sequence[CandidateRecord], ids: list[str] | None = None
) -> tuple[int, int]:
    """Insert new candidates and update known ones; (inserted, updated). A candidate is known
    by the ATS's `external_id` within the job (a new number for the same applicant updates
    them), else by job + E.164. `ids` gets each record's stored id, in order."""

    keys = store.pii

    def _upsert_candidates(conn: sqlite3.Connection) -> tuple[int, int]:
        now = time.time()
        inserted = updated = 0
        for r in records:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (r.job_id,)).fetchone() is None:
                raise StoreError(f"job {r.job_id!r} is not imported (voicebot jobs import FILE)")
            cid = keys.candidate_id(r.job_id, r.phone_e164)
            exists = conn.execute(
                "SELECT erased_at FROM candidates WHERE id = ?", (cid,)
            ).fetchone()
            known = r.external_id and conn.execute(
                "SELECT id, erased_at FROM candidates WHERE job_id = ? AND external_id = ? "
                "AND id <> ?", (r.job_id, r.external_id, cid),
            ).fetchone()  # fmt: skip
            if known and exists is None:  # the ATS's applicant, on a new number
                cid, exists = known[0], (known[1],)
                conn.execute(
                    "UPDATE candidates SET phone_e164 = ?, phone_hash = ? WHERE id = ?",
                    (keys.encrypt(r.phone_e164), keys.phone_hash(r.phone_e164), cid),
                )
            elif known:  # the number is another row's: the external id moves to it
                conn.execute("UPDATE candidates SET external_id = NULL WHERE id = ?", (known[0],))
            if ids is not None:
                ids.append(cid)
            if exists is not None and exists[0] is not None:
                continue  # erased on request: a re-import does not bring them back
            conn.execute(
                "INSERT INTO candidates (id, job_id, phone_e164, phone_hash, name, email, "
                "external_id, timezone, years_experience, education, skills_json, current_title, "
                "consent_call, consent_recording, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
                "name = excluded.name, email = excluded.email, "
                "external_id = excluded.external_id, timezone = excluded.timezone, "
                "years_experience = excluded.years_experience, education = excluded.education, "
                "skills_json = excluded.skills_json, current_title = excluded.current_title, "
                "consent_call = excluded.consent_call, "
                "consent_recording = excluded.consent_recording, updated_at = excluded.updated_at",
                (
                    cid, r.job_id, keys.encrypt(r.phone_e164), keys.phone_hash(r.phone_e164),
                    keys.encrypt(r.name), keys.encrypt(r.email),
                    r.external_id, r.timezone, r.years_experience, r.education,
                    json.dumps(list(r.skills)), r.current_title, int(r.consent_call),
                    int(r.consent_recording), now, now,
                ),
            )  # fmt: skip
            for category, value in r.demographics.items():
                conn.execute(
                    "INSERT INTO demographics VALUES (?,?,?) ON CONFLICT (candidate_id, category) "
                    "DO UPDATE SET value = excluded.value",
                    (cid, category, value),
                )
            if exists:
                updated += 1
            else:
                inserted += 1
        return inserted, updated

    return await run(store, _upsert_candidates)


def _decrypt(keys: PiiKeys, row: dict[str, Any]) -> dict[str, Any]:
    """Contact fields back in clear for the caller (the dialer, HR); never for logs."""
    try:
        for key in ("phone_e164", "name", "email"):
            if key in row:
                row[key] = keys.decrypt(row[key])
    except PiiError as e:
        raise StoreError(str(e)) from e
    return row


def _candidate(keys: PiiKeys, row: dict[str, Any]) -> dict[str, Any]:
    _decrypt(keys, row)
    row["erased"] = row.get("erased_at") is not None
    row["skills"] = json.loads(row.pop("skills_json") or "[]")
    row["screen"] = json.loads(row.pop("screen_json") or "null")
    for key in ("consent_call", "consent_recording"):
        row[key] = bool(row[key])
    if row["eligible"] is not None:
        row["eligible"] = bool(row["eligible"])
    return row


async def list_candidates(store: Store, job_id: str | None = None) -> list[dict[str, Any]]:
    def _list_candidates(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        if job_id is None:
            cur = conn.execute("SELECT * FROM candidates ORDER BY created_at, id")
        else:
            cur = conn.execute(
                "SELECT * FROM candidates WHERE job_id = ? ORDER BY created_at, id", (job_id,)
            )
        return [_candidate(store.pii, r) for r in _rows(cur)]

    return await run(store, _list_candidates)


async def find_candidates(
    store: Store, external_id: str, job_id: str | None = None
) -> list[dict[str, Any]]:
    """The candidates the ATS knows by `external_id` (one per job it applied to)."""

    def _find(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM candidates WHERE external_id = ?", [external_id]
        if job_id is not None:
            sql, args = sql + " AND job_id = ?", [*args, job_id]
        cur = conn.execute(sql + " ORDER BY created_at, id", args)
        return [_candidate(store.pii, r) for r in _rows(cur)]

    return await run(store, _find)


async def get_candidate(store: Store, candidate_id: str) -> dict[str, Any] | None:
    def _get_candidate(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = _one(conn.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)))
        return _candidate(store.pii, row) if row else None

    return await run(store, _get_candidate)


async def set_screen(store: Store, results: Iterable[tuple[str, bool, Sequence[str]]]) -> None:
    """Store each (candidate id, eligible, reasons) from a pre-screen."""

    def _set_screen(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "UPDATE candidates SET eligible = ?, screen_json = ? WHERE id = ?",
            [(int(ok), json.dumps(list(why)), cid) for cid, ok, why in results],
        )

    await run(store, _set_screen)


async def demographics(store: Store, job_id: str) -> dict[str, dict[str, str]]:
    """candidate id -> {category: value}, self-reported, for the job's candidates."""

    def _demographics(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for cid, category, value in conn.execute(
            "SELECT d.candidate_id, d.category, d.value FROM demographics d "
            "JOIN candidates c ON c.id = d.candidate_id WHERE c.job_id = ?",
            (job_id,),
        ):
            out.setdefault(cid, {})[category] = value
        return out

    return await run(store, _demographics)


# outcomes -------------------------------------------------------------------------------------


async def record_outcome(
    store: Store,
    candidate_id: str,
    *,
    hired: bool | None,
    performance: float | None,
    note: str | None = None,
) -> None:
    """Hired or not and a later performance rating; a later call fills what an earlier left."""

    def _record_outcome(conn: sqlite3.Connection) -> None:
        if (
            conn.execute("SELECT 1 FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
            is None
        ):
            raise StoreError(f"candidate {candidate_id!r} does not exist")
        conn.execute(
            "INSERT INTO outcomes VALUES (?,?,?,?,?) ON CONFLICT (candidate_id) DO UPDATE SET "
            "hired = COALESCE(excluded.hired, outcomes.hired), "
            "performance = COALESCE(excluded.performance, outcomes.performance), "
            "note = COALESCE(excluded.note, outcomes.note), recorded_at = excluded.recorded_at",
            (candidate_id, None if hired is None else int(hired), performance, note, time.time()),
        )

    await run(store, _record_outcome)


async def outcomes(store: Store, job_id: str) -> dict[str, dict[str, Any]]:
    def _outcomes(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
        rows = _rows(
            conn.execute(
                "SELECT o.* FROM outcomes o JOIN candidates c ON c.id = o.candidate_id "
                "WHERE c.job_id = ?",
                (job_id,),
            )
        )
        return {r["candidate_id"]: r for r in rows}

    return await run(store, _outcomes)


async def interviews_for_job(store: Store, job_id: str) -> dict[str, str]:
    """candidate id -> the call id of their latest completed interview for the job."""

    def _interviews(conn: sqlite3.Connection) -> dict[str, str]:
        cur = conn.execute(
            "SELECT candidate_id, id FROM calls WHERE job_id = ? AND outcome = 'completed' "
            "AND candidate_id IS NOT NULL ORDER BY started_at",
            (job_id,),
        )
        return {cid: call_id for cid, call_id in cur}

    return await run(store, _interviews)


# campaigns ------------------------------------------------------------------------------------


async def create_campaign(
    store: Store,
    *,
    name: str,
    job_id: str,
    settings: Mapping[str, Any],
    candidate_ids: Sequence[str] | None = None,
) -> tuple[str, int]:
    """A draft campaign over the given candidates (default: every eligible or unscreened
    candidate of the job); (campaign id, targets)."""

    def _create_campaign(conn: sqlite3.Connection) -> tuple[str, int]:
        if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
            raise StoreError(f"job {job_id!r} does not exist")
        now = time.time()
        cid = new_id("camp")
        conn.execute(
            "INSERT INTO campaigns (id, name, job_id, state, settings_json, created_at, "
            "updated_at) VALUES (?,?,?,?,?,?,?)",
            (cid, name, job_id, "draft", json.dumps(dict(settings)), now, now),
        )
        if candidate_ids is None:
            rows = conn.execute(
                "SELECT id, phone_hash FROM candidates WHERE job_id = ? "
                "AND (eligible IS NULL OR eligible = 1) AND consent_call = 1",
                (job_id,),
            ).fetchall()
        else:
            rows = []
            for cand in candidate_ids:
                row = conn.execute(
                    "SELECT id, phone_hash FROM candidates WHERE id = ? AND job_id = ? "
                    "AND erased_at IS NULL",
                    (cand, job_id),
                ).fetchone()
                if row is None:
                    raise StoreError(f"candidate {cand!r} is not a candidate for job {job_id!r}")
                rows.append(row)
        conn.executemany(
            "INSERT INTO campaign_targets (campaign_id, candidate_id, phone_hash, updated_at) "
            "VALUES (?,?,?,?)",
            [(cid, r[0], r[1], now) for r in rows],
        )
        return cid, len(rows)

    return await run(store, _create_campaign)


async def get_campaign(store: Store, campaign_id: str) -> dict[str, Any] | None:
    def _get_campaign(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = _one(conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)))
        if row:
            row["settings"] = json.loads(row.pop("settings_json"))
        return row

    return await run(store, _get_campaign)


async def list_campaigns(store: Store) -> list[dict[str, Any]]:
    def _list_campaigns(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return _rows(
            conn.execute(
                "SELECT c.id, c.name, c.job_id, j.title AS job_title, c.state, c.runner, "
                "c.runner_seen_at, c.created_at, c.updated_at FROM campaigns c "
                "LEFT JOIN jobs j ON j.id = c.job_id ORDER BY c.created_at"
            )
        )

    return await run(store, _list_campaigns)


async def mark_running(store: Store, campaign_id: str) -> None:
    """Set a campaign running (a start); StoreError when it does not exist or is done."""

    def _mark_running(conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT state FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        if row is None:
            raise StoreError(f"campaign {campaign_id!r} does not exist")
        if row[0] == "done":
            raise StoreError(f"campaign {campaign_id} is done")
        conn.execute(
            "UPDATE campaigns SET state = 'running', updated_at = ? WHERE id = ?",
            (time.time(), campaign_id),
        )

    await run(store, _mark_running, immediate=True)


async def set_campaign_state(store: Store, campaign_id: str, state: str) -> None:
    def _set_campaign_state(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?",
            (state, time.time(), campaign_id),
        )
        if cur.rowcount == 0:
            raise StoreError(f"campaign {campaign_id!r} does not exist")

    await run(store, _set_campaign_state)


async def campaign_progress(store: Store, campaign_id: str) -> dict[str, Any]:
    """Targets by status and by last outcome, attempts placed, and calls in flight."""

    def _progress(conn: sqlite3.Connection) -> dict[str, Any]:
        status = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM campaign_targets WHERE campaign_id = ? "
                "GROUP BY status",
                (campaign_id,),
            ).fetchall()
        )
        outcome = dict(
            conn.execute(
                "SELECT last_outcome, COUNT(*) FROM campaign_targets WHERE campaign_id = ? "
                "AND last_outcome IS NOT NULL GROUP BY last_outcome",
                (campaign_id,),
            ).fetchall()
        )
        attempts = conn.execute(
            "SELECT COUNT(*) FROM attempts WHERE campaign_id = ? AND state != 'released'",
            (campaign_id,),
        ).fetchone()[0]
        return {
            "total": sum(status.values()),
            "by_status": status,
            "by_outcome": outcome,
            "attempts": attempts,
        }

    return await run(store, _progress)


# the dialer's side: claim before dial ---------------------------------------------------------


# a runner silent this long is gone: its campaign may be taken over (by workers too)
RUNNER_STALE_S = 60.0


def _runner_gone(runner: str, seen_at: float | None, now: float, stale_s: float) -> bool:
    """A runner is gone when its heartbeat is stale, or it was on this host and its process
    no longer exists (a kill -9 restart need not wait for the heartbeat to go stale)."""
    if seen_at is None or seen_at < now - stale_s:
        return True
    host, _, rest = runner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def acquire_campaign(
    store: Store, campaign_id: str, runner: str, now: float, stale_s: float = RUNNER_STALE_S
) -> str | None:
    """Become the one process dialling the campaign; returns the live runner that holds it
    instead, or None when it is ours."""

    def _acquire(conn: sqlite3.Connection) -> str | None:
        row = conn.execute(
            "SELECT runner, runner_seen_at FROM campaigns WHERE id = ?", (campaign_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"campaign {campaign_id!r} does not exist")
        holder, seen_at = row
        if holder not in (None, runner) and not _runner_gone(holder, seen_at, now, stale_s):
            return str(holder)
        conn.execute(
            "UPDATE campaigns SET runner = ?, runner_seen_at = ? WHERE id = ?",
            (runner, now, campaign_id),
        )
        return None

    return await run(store, _acquire, immediate=True)


async def campaign_heartbeat(store: Store, campaign_id: str, runner: str, now: float) -> None:
    def _heartbeat(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE campaigns SET runner_seen_at = ? WHERE id = ? AND runner = ?",
            (now, campaign_id, runner),
        )

    await run(store, _heartbeat)


async def release_campaign(store: Store, campaign_id: str, runner: str) -> None:
    def _release_campaign(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE campaigns SET runner = NULL, runner_seen_at = NULL WHERE id = ? AND runner = ?",
            (campaign_id, runner),
        )

    await run(store, _release_campaign)


async def recover_attempts(store: Store, campaign_id: str) -> tuple[int, list[dict[str, Any]]]:
    """After a crash: claims never dialled go back to pending (released); attempts that were
    dialling are returned so the dialer records them as interrupted, never silently redials."""

    def _recover(conn: sqlite3.Connection) -> tuple[int, list[dict[str, Any]]]:
        claimed = conn.execute(
            "SELECT id, candidate_id FROM attempts WHERE campaign_id = ? AND state = 'claimed'",
            (campaign_id,),
        ).fetchall()
        for att_id, cand in claimed:
            conn.execute("UPDATE attempts SET state = 'released' WHERE id = ?", (att_id,))
            conn.execute(
                "UPDATE campaign_targets SET status = 'pending', attempts = attempts - 1 "
                "WHERE campaign_id = ? AND candidate_id = ? AND status = 'in_progress'",
                (campaign_id, cand),
            )
        dialling = _rows(
            conn.execute(
                "SELECT * FROM attempts WHERE campaign_id = ? AND state = 'dialling'",
                (campaign_id,),
            )
        )
        return len(claimed), dialling

    return await run(store, _recover)


async def due_targets(
    store: Store, campaign_id: str, now: float, limit: int
) -> list[dict[str, Any]]:
    """Pending targets whose time has come, earliest first, with what dialling them needs."""

    def _due(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = _rows(
            conn.execute(
                "SELECT t.candidate_id, t.phone_hash, t.attempts, t.retries_json, t.next_at, "
                "c.phone_e164, c.timezone, c.name, c.external_id FROM campaign_targets t "
                "JOIN candidates c ON c.id = t.candidate_id WHERE t.campaign_id = ? "
                "AND t.status = 'pending' AND t.next_at <= ? ORDER BY t.next_at, t.rowid "
                "LIMIT ?",
                (campaign_id, now, limit),
            )
        )
        for r in rows:
            r["retries"] = json.loads(r.pop("retries_json"))
            _decrypt(store.pii, r)
        return rows

    return await run(store, _due)


async def get_target(store: Store, campaign_id: str, candidate_id: str) -> dict[str, Any] | None:
    def _get_target(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = _one(
            conn.execute(
                "SELECT t.*, c.timezone FROM campaign_targets t JOIN candidates c "
                "ON c.id = t.candidate_id WHERE t.campaign_id = ? AND t.candidate_id = ?",
                (campaign_id, candidate_id),
            )
        )
        if row:
            row["retries"] = json.loads(row.pop("retries_json"))
        return row

    return await run(store, _get_target)


async def next_due_at(store: Store, campaign_id: str) -> float | None:
    """When the earliest pending target is due; None when nobody is pending."""

    def _next_due(conn: sqlite3.Connection) -> float | None:
        row = conn.execute(
            "SELECT MIN(next_at) FROM campaign_targets WHERE campaign_id = ? "
            "AND status = 'pending'",
            (campaign_id,),
        ).fetchone()
        return row[0]

    return await run(store, _next_due)


async def claim(store: Store, campaign_id: str, candidate_id: str, now: float) -> str | None:
    """Take a pending target for one attempt; None when someone else took it first."""

    def _claim(conn: sqlite3.Connection) -> str | None:
        cur = conn.execute(
            "UPDATE campaign_targets SET status = 'in_progress', attempts = attempts + 1, "
            "updated_at = ? WHERE campaign_id = ? AND candidate_id = ? AND status = 'pending'",
            (now, campaign_id, candidate_id),
        )
        if cur.rowcount == 0:
            return None
        (phone_hash,) = conn.execute(
            "SELECT phone_hash FROM campaign_targets WHERE campaign_id = ? AND candidate_id = ?",
            (campaign_id, candidate_id),
        ).fetchone()
        (seq,) = conn.execute(  # released claims keep their numbers: seq counts claims
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE campaign_id = ? "
            "AND candidate_id = ?",
            (campaign_id, candidate_id),
        ).fetchone()
        att = new_id("att")
        conn.execute(
            "INSERT INTO attempts (id, campaign_id, candidate_id, phone_hash, seq, state, "
            "claimed_at) VALUES (?,?,?,?,?,?,?)",
            (att, campaign_id, candidate_id, phone_hash, seq, "claimed", now),
        )
        return att

    return await run(store, _claim)


async def release(store: Store, attempt_id: str) -> None:
    """Give back a claim that was not dialled (window closed, paused, do-not-call)."""

    def _release(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT campaign_id, candidate_id FROM attempts WHERE id = ? AND state = 'claimed'",
            (attempt_id,),
        ).fetchone()
        if row is None:
            return
        conn.execute("UPDATE attempts SET state = 'released' WHERE id = ?", (attempt_id,))
        conn.execute(
            "UPDATE campaign_targets SET status = 'pending', attempts = attempts - 1 "
            "WHERE campaign_id = ? AND candidate_id = ?",
            tuple(row),
        )

    await run(store, _release)


async def mark_dialling(store: Store, attempt_id: str, now: float) -> None:
    def _mark_dialling(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "UPDATE attempts SET state = 'dialling', dialled_at = ? WHERE id = ? "
            "AND state = 'claimed'",
            (now, attempt_id),
        )
        if cur.rowcount != 1:
            raise StoreError(f"attempt {attempt_id} is not claimed; refusing to dial")

    await run(store, _mark_dialling)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt ended with and what happens to its target next."""

    outcome: str
    status: str  # the target's new status: pending (retry/callback), done, skipped
    next_at: float = 0.0
    retries: Mapping[str, int] = field(default_factory=dict)
    reason: str | None = None
    call_id: str | None = None
    detail: str | None = None
    opt_out: bool = False
    events: Sequence[tuple[str, Mapping[str, Any]]] = ()


async def finish_attempt(store: Store, attempt_id: str, now: float, result: AttemptResult) -> None:
    """Record an attempt's end, its target's next step, an opt-out and the webhook events —
    all in one transaction, so a crash can lose none of them separately."""

    def _finish(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT campaign_id, candidate_id, phone_hash FROM attempts WHERE id = ?",
            (attempt_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"attempt {attempt_id} does not exist")
        campaign_id, candidate_id, phone_hash = row
        conn.execute(
            "UPDATE attempts SET state = 'finished', ended_at = ?, outcome = ?, call_id = ?, "
            "detail = ? WHERE id = ?",
            (now, result.outcome, result.call_id, result.detail, attempt_id),
        )
        conn.execute(
            "UPDATE campaign_targets SET status = ?, next_at = ?, retries_json = ?, "
            "last_outcome = ?, reason = ?, updated_at = ? WHERE campaign_id = ? "
            "AND candidate_id = ?",
            (
                result.status, result.next_at, json.dumps(dict(result.retries)), result.outcome,
                result.reason, now, campaign_id, candidate_id,
            ),
        )  # fmt: skip
        if result.opt_out:
            _add_dnc(conn, phone_hash, f"opted out in {campaign_id}", now)
        for event_type, payload in result.events:
            _enqueue(conn, event_type, payload, now)

    await run(store, _finish)


async def defer(
    store: Store, campaign_id: str, candidate_id: str, *, next_at: float, reason: str
) -> None:
    """Move a pending target's due time (outside its calling window, cool-down)."""

    def _defer(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE campaign_targets SET next_at = ?, reason = ? WHERE campaign_id = ? "
            "AND candidate_id = ? AND status = 'pending'",
            (next_at, reason, campaign_id, candidate_id),
        )

    await run(store, _defer)


async def skip(store: Store, campaign_id: str, candidate_id: str, reason: str) -> None:
    def _skip(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE campaign_targets SET status = 'skipped', reason = ?, updated_at = ? "
            "WHERE campaign_id = ? AND candidate_id = ? AND status = 'pending'",
            (reason, time.time(), campaign_id, candidate_id),
        )

    await run(store, _skip)


async def contact_check(
    store: Store, phone_hash: str, campaign_id: str
) -> tuple[bool, float | None]:
    """(on the do-not-call list, last time this person was dialled by another campaign)."""

    def _contact_check(conn: sqlite3.Connection) -> tuple[bool, float | None]:
        dnc = conn.execute(
            "SELECT 1 FROM do_not_call WHERE phone_hash = ?", (phone_hash,)
        ).fetchone()
        last = conn.execute(
            "SELECT MAX(dialled_at) FROM attempts WHERE phone_hash = ? AND campaign_id != ?",
            (phone_hash, campaign_id),
        ).fetchone()[0]
        return dnc is not None, last

    return await run(store, _contact_check)


def _add_dnc(conn: sqlite3.Connection, phone_hash: str, source: str, now: float) -> None:
    conn.execute(
        "INSERT INTO do_not_call VALUES (?,?,?) ON CONFLICT DO NOTHING", (phone_hash, now, source)
    )
    conn.execute(
        "UPDATE campaign_targets SET status = 'skipped', reason = 'do-not-call', updated_at = ? "
        "WHERE phone_hash = ? AND status = 'pending'",
        (now, phone_hash),
    )


async def add_do_not_call(store: Store, phone_e164: str, source: str) -> None:
    await run(store, _add_dnc, store.pii.phone_hash(phone_e164), source, time.time())


# API tokens -----------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(store: Store, name: str, role: str) -> str:
    """A new bearer token; only its hash is stored, so this is the one time it is seen."""
    if role not in TOKEN_ROLES:
        raise StoreError(f"token role {role!r} is not one of {', '.join(TOKEN_ROLES)}")
    token = "vb_" + secrets.token_urlsafe(32)

    def _create_token(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES (?,?,?,?,?)",
            (new_id("tok"), name, role, _token_hash(token), time.time()),
        )

    await run(store, _create_token)
    return token


async def token_role(store: Store, token: str) -> str | None:
    """The role of a live token, or None."""

    def _token_role(conn: sqlite3.Connection) -> str | None:
        row = conn.execute(
            "SELECT id, role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (_token_hash(token),),
        ).fetchone()
        if row is None:
            return None
        conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (time.time(), row[0]))
        return str(row[1])

    return await run(store, _token_role)


# webhooks -------------------------------------------------------------------------------------


async def add_endpoint(store: Store, url: str, secret: str, event_types: Sequence[str] = ()) -> str:
    def _add_endpoint(conn: sqlite3.Connection) -> str:
        eid = new_id("ep")
        conn.execute(
            "INSERT INTO webhook_endpoints (id, url, secret, event_types_json, created_at) "
            "VALUES (?,?,?,?,?)",
            (eid, url, secret, json.dumps(list(event_types)), time.time()),
        )
        return eid

    return await run(store, _add_endpoint)


async def rotate_secret(store: Store, endpoint_id: str, new_secret: str, keep_old_s: float) -> None:
    """Sign with the new secret from now on and with the old one too for `keep_old_s`."""

    def _rotate(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = ?, secret = ? "
            "WHERE id = ?",
            (time.time() + keep_old_s, new_secret, endpoint_id),
        )
        if cur.rowcount == 0:
            raise StoreError(f"webhook endpoint {endpoint_id!r} does not exist")

    await run(store, _rotate)


async def list_endpoints(store: Store) -> list[dict[str, Any]]:
    def _list_endpoints(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = _rows(conn.execute("SELECT * FROM webhook_endpoints ORDER BY created_at"))
        for r in rows:
            r["event_types"] = json.loads(r.pop("event_types_json"))
            r["enabled"] = bool(r["enabled"])
        return rows

    return await run(store, _list_endpoints)


def _enqueue(
    conn: sqlite3.Connection, event_type: str, payload: Mapping[str, Any], now: float
) -> str:
    event_id = "msg_" + uuid.uuid4().hex
    conn.execute(
        "INSERT INTO webhook_events VALUES (?,?,?,?)",
        (event_id, event_type, json.dumps(payload, sort_keys=True), now),
    )
    for eid, types in conn.execute(
        "SELECT id, event_types_json FROM webhook_endpoints WHERE enabled = 1"
    ).fetchall():
        wanted = json.loads(types)
        if not wanted or event_type in wanted:
            conn.execute(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, next_at) VALUES (?,?,?)",
                (event_id, eid, now),
            )
    return event_id


async def enqueue_event(store: Store, event_type: str, payload: Mapping[str, Any]) -> str:
    """Put one event in the outbox for every endpoint that wants it; returns its webhook-id."""
    return await run(store, _enqueue, event_type, payload, time.time())


async def lease_deliveries(
    store: Store, now: float, limit: int, lease_s: float
) -> list[dict[str, Any]]:
    """Take up to `limit` due deliveries for `lease_s`: another sender (another process) does
    not see them meanwhile, and a sender that dies leaves them due again when it expires."""

    def _lease_deliveries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = _rows(
            conn.execute(
                "SELECT d.event_id, d.endpoint_id, d.attempts, e.type, e.payload_json, "
                "e.created_at, p.url, p.secret, p.old_secret, p.old_secret_until "
                "FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
                "JOIN webhook_endpoints p ON p.id = d.endpoint_id "
                "WHERE d.state = 'pending' AND d.next_at <= ? AND p.enabled = 1 "
                "ORDER BY d.next_at, e.created_at LIMIT ?",
                (now, limit),
            )
        )
        conn.executemany(
            "UPDATE webhook_deliveries SET next_at = ? WHERE event_id = ? AND endpoint_id = ?",
            [(now + lease_s, r["event_id"], r["endpoint_id"]) for r in rows],
        )
        return rows

    return await run(store, _lease_deliveries, immediate=True)


async def next_delivery_at(store: Store) -> float | None:
    def _next_delivery(conn: sqlite3.Connection) -> float | None:
        return conn.execute(
            "SELECT MIN(d.next_at) FROM webhook_deliveries d JOIN webhook_endpoints p "
            "ON p.id = d.endpoint_id WHERE d.state = 'pending' AND p.enabled = 1"
        ).fetchone()[0]

    return await run(store, _next_delivery)


async def delivery_result(
    store: Store,
    event_id: str,
    endpoint_id: str,
    *,
    state: str,
    status: int | None,
    error: str | None,
    next_at: float,
    disable_endpoint: str | None = None,
) -> None:
    """Record one delivery try: delivered, pending again at `next_at`, or failed for good."""

    def _delivery_result(conn: sqlite3.Connection) -> None:
        now = time.time()
        conn.execute(
            "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_at = ?, "
            "last_status = ?, last_error = ?, delivered_at = ? WHERE event_id = ? "
            "AND endpoint_id = ?",
            (
                state, next_at, status, error, now if state == "delivered" else None,
                event_id, endpoint_id,
            ),
        )  # fmt: skip
        if disable_endpoint:
            conn.execute(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?",
                (disable_endpoint, endpoint_id),
            )

    await run(store, _delivery_result)


async def delivery_counts(store: Store) -> dict[str, int]:
    """Deliveries by state (delivered, pending, failed), every one counted."""

    def _counts(conn: sqlite3.Connection) -> dict[str, int]:
        got = dict(conn.execute("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state"))
        return {k: int(got.get(k, 0)) for k in ("delivered", "pending", "failed")}

    return await run(store, _counts)


async def list_deliveries(
    store: Store, *, state: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    def _list_deliveries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        where, args = ("WHERE d.state = ?", [state]) if state else ("", [])
        return _rows(
            conn.execute(
                "SELECT d.event_id, d.endpoint_id, d.state, d.attempts, d.next_at, "
                "d.last_status, d.last_error, d.delivered_at, e.type, e.created_at "
                f"FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id {where} "
                "ORDER BY e.created_at DESC LIMIT ?",
                (*args, limit),
            )
        )

    return await run(store, _list_deliveries)


async def replay(store: Store, *, event_id: str | None = None, since: float | None = None) -> int:
    """Queue deliveries again (one event, or all since a time) and re-enable their endpoints."""

    def _replay(conn: sqlite3.Connection) -> int:
        if event_id is not None:
            where, args = "event_id = ?", (event_id,)
        else:
            where = "event_id IN (SELECT id FROM webhook_events WHERE created_at >= ?)"
            args = (since or 0.0,)
        conn.execute(
            "UPDATE webhook_endpoints SET enabled = 1, disabled_reason = NULL WHERE id IN "
            f"(SELECT endpoint_id FROM webhook_deliveries WHERE {where})",
            args,
        )
        cur = conn.execute(
            "UPDATE webhook_deliveries SET state = 'pending', next_at = ?, attempts = 0 "
            f"WHERE {where}",
            (time.time(), *args),
        )
        return cur.rowcount

    return await run(store, _replay)
