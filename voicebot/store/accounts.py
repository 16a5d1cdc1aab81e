"""Who may use the API and the console, and what reviewers decided (migration 0009).

Tokens: an optional expiry and a `readonly` role on top of `hr` and `system`; listed without
their secret and revoked by id. Console sessions: the cookie holds a random id whose hash is
stored here with the CSRF token of its forms; a session lives only as long as its token does.
Review decisions: advance / reject / hold with a reason, stored together with the signed
`review.decided` webhook event that tells the ATS, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicebot.store.db import Store, StoreError
from voicebot.store.hr import _enqueue, _one, _rows, _token_hash, new_id, run

ROLES = ("hr", "system", "readonly")
DECISIONS = ("advance", "reject", "hold")
SESSION_TTL_S = 12 * 3600.0
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Caller:
    """A live token: its id (for audit rows), label and role."""

    token_id: str
    name: str
    role: str


def iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


# tokens ---------------------------------------------------------------------------------------


async def create_token(
    store: Store, name: str, role: str, expires_in_s: float | None = None
) -> tuple[str, str]:
    """(token id, the token): only its hash is stored, so this is the one time it is seen."""
    if role not in ROLES:
        raise StoreError(f"token role {role!r} is not one of {', '.join(ROLES)}")
    if expires_in_s is not None and expires_in_s <= 0:
        raise StoreError("a token's expiry must be in the future")
    token = "vb_" + secrets.token_urlsafe(32)
    now = time.time()
    expires = None if expires_in_s is None else now + expires_in_s
    tid = new_id("tok")

    def _create_token(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at, expires_at) "
            "VALUES (?,?,?,?,?,?)",
            (tid, name or role, role, _token_hash(token), now, expires),
        )

    await run(store, _create_token)
    return tid, token


def _live(conn: sqlite3.Connection, where: str, arg: str, now: float) -> Caller | None:
    row = _one(
        conn.execute(
            f"SELECT id, name, role FROM api_tokens WHERE {where} = ? AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (arg, now),
        )
    )
    return None if row is None else Caller(row["id"], row["name"], row["role"])


async def authenticate(store: Store, token: str) -> Caller | None:
    """The caller of a live token (not revoked, not expired), or None; notes its last use."""

    def _authenticate(conn: sqlite3.Connection) -> Caller | None:
        now = time.time()
        found = _live(conn, "token_hash", _token_hash(token), now)
        if found is not None:
            conn.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, found.token_id)
            )
        return found

    return await run(store, _authenticate)


async def list_tokens(store: Store) -> list[dict[str, Any]]:
    """Every token without its secret or hash: id, role, label, created, expires, last used."""

    def _list_tokens(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        now = time.time()
        rows = _rows(
            conn.execute(
                "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at "
                "FROM api_tokens ORDER BY created_at, id"
            )
        )
        for r in rows:
            r["state"] = (
                "revoked" if r["revoked_at"] is not None
                else "expired" if r["expires_at"] is not None and r["expires_at"] <= now
                else "live"
            )  # fmt: skip
        return rows

    return await run(store, _list_tokens)


async def revoke_token(store: Store, token_id: str) -> bool:
    """Revoke a token and end its console sessions; False when there is no such token."""

    def _revoke(conn: sqlite3.Connection) -> bool:
        if _one(conn.execute("SELECT id FROM api_tokens WHERE id = ?", (token_id,))) is None:
            return False
        conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time(), token_id),
        )
        conn.execute("DELETE FROM console_sessions WHERE token_id = ?", (token_id,))
        return True

    return await run(store, _revoke)


# console sessions -----------------------------------------------------------------------------


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


async def open_session(store: Store, token: str) -> tuple[str, Caller] | None:
    """Sign in with a token: (the cookie's session id, the caller), or None for a bad token."""
    caller = await authenticate(store, token)
    if caller is None:
        return None
    sid = secrets.token_urlsafe(32)

    def _open(conn: sqlite3.Connection) -> None:
        now = time.time()
        conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))
        conn.execute(
            "INSERT INTO console_sessions (id_hash, token_id, csrf, created_at, expires_at) "
            "VALUES (?,?,?,?,?)",
            (_sid_hash(sid), caller.token_id, secrets.token_urlsafe(24), now, now + SESSION_TTL_S),
        )

    await run(store, _open)
    return sid, caller


async def session(store: Store, sid: str) -> tuple[Caller, str] | None:
    """(the caller, the session's CSRF token) while both the session and its token live."""

    def _session(conn: sqlite3.Connection) -> tuple[Caller, str] | None:
        now = time.time()
        row = _one(
            conn.execute(
                "SELECT token_id, csrf FROM console_sessions WHERE id_hash = ? AND expires_at > ?",
                (_sid_hash(sid), now),
            )
        )
        if row is None:
            return None
        caller = _live(conn, "id", row["token_id"], now)
        return None if caller is None else (caller, row["csrf"])

    return await run(store, _session)


async def close_session(store: Store, sid: str) -> None:
    def _close(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM console_sessions WHERE id_hash = ?", (_sid_hash(sid),))

    await run(store, _close)


# reviews --------------------------------------------------------------------------------------


def review_needed(report: Mapping[str, Any], mode: str, requested: bool) -> bool:
    """A person must decide: always in `eu`, in `pipl` when the candidate asked, and whenever
    the scorer flagged the interview for review."""
    flagged = bool((report.get("compliance") or {}).get("human_review_required"))
    return mode == "eu" or flagged or requested


async def decide(
    store: Store,
    call_id: str,
    decision: str,
    reason: str,
    reviewer: Caller,
    mode: str,
    event_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a decision and queue `review.decided` for the ATS in the same transaction
    (`event_fields` go into the event too: a dry run's say `"dry_run": true`)."""
    reason = reason.strip()
    if decision not in DECISIONS:
        raise ValueError(f"decision: must be one of {', '.join(DECISIONS)}")
    if not reason:
        raise ValueError("reason: a decision needs a reason")
    if len(reason) > MAX_REASON:
        raise ValueError(f"reason: at most {MAX_REASON} characters")

    def _decide(conn: sqlite3.Connection) -> dict[str, Any]:
        call = _one(
            conn.execute(
                "SELECT c.id, c.job_id, c.candidate_id, cand.external_id FROM calls c "
                "LEFT JOIN candidates cand ON cand.id = c.candidate_id WHERE c.id = ?",
                (call_id,),
            )
        )
        if call is None:
            raise StoreError(f"interview {call_id} does not exist")
        now = time.time()
        payload = {
            "interview_id": call_id,
            "job_id": call["job_id"],
            "candidate_id": call["candidate_id"],
            "external_id": call["external_id"],
            "decision": decision,
            "reason": reason,
            "final": decision != "hold",
            "reviewer": reviewer.name,
            "compliance_mode": mode,
            "decided_at": iso(now),
            **(event_fields or {}),
        }
        event_id = _enqueue(conn, "review.decided", payload, now)
        conn.execute(
            "INSERT INTO review_decisions (id, call_id, decision, reason, reviewer, decided_at, "
            "event_id) VALUES (?,?,?,?,?,?,?)",
            (new_id("rev"), call_id, decision, reason,
             f"{reviewer.token_id} {reviewer.name}", now, event_id),
        )  # fmt: skip
        return {**payload, "event_id": event_id}

    return await run(store, _decide)


async def request_review(store: Store, call_id: str, source: str) -> None:
    """The candidate asked for a person to review the assessment (PIPL's right to ask)."""

    def _request(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO review_requests (call_id, requested_at, source) VALUES (?,?,?) "
            "ON CONFLICT (call_id) DO NOTHING",
            (call_id, time.time(), source),
        )

    await run(store, _request)


async def decisions(store: Store, call_id: str) -> list[dict[str, Any]]:
    """Every decision on an interview, newest first."""

    def _decisions(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return _rows(
            conn.execute(
                "SELECT decision, reason, reviewer, decided_at, event_id FROM review_decisions "
                "WHERE call_id = ? ORDER BY decided_at DESC, id DESC",
                (call_id,),
            )
        )

    return await run(store, _decisions)


async def review_queue(store: Store, mode: str) -> list[dict[str, Any]]:
    """Interviews with a report that await a person's decision (none yet, or on hold),
    oldest first; each with its latest decision if any."""

    def _queue(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = _rows(
            conn.execute(
                "SELECT r.call_id, r.job_id, r.candidate_id, r.overall, r.recommendation, "
                "r.report_json, r.updated_at, q.requested_at, "
                "(SELECT d.decision FROM review_decisions d WHERE d.call_id = r.call_id "
                " ORDER BY d.decided_at DESC, d.id DESC LIMIT 1) AS last_decision "
                "FROM reports r LEFT JOIN review_requests q ON q.call_id = r.call_id "
                "ORDER BY r.updated_at, r.call_id"
            )
        )
        out = []
        for r in rows:
            report = json.loads(r.pop("report_json"))
            requested = r["requested_at"] is not None
            if r["last_decision"] not in (None, "hold"):
                continue
            if review_needed(report, mode, requested):
                r["requested"] = requested
                out.append(r)
        return out

    return await run(store, _queue)
