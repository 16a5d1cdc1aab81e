"""What HR looks things up by: interviews with the candidate's name and the job's title,
a campaign's targets by name, and what a campaign is waiting for.

Names are decrypted here for the caller (the CLI, the API); they never go to a log. Interview
lists page by a keyset cursor (newest first), so a page is as fast at 100 000 rows as at 10.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from voicebot.store import Store
from voicebot.store.hr import _decrypt, _one, _rows, run

MAX_LIMIT = 500


class CursorError(ValueError):
    """A cursor this store did not hand out (or one that was edited)."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _encode(started_at: float, call_id: str) -> str:
    raw = json.dumps([started_at, call_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started_at, call_id = json.loads(raw)
        if not isinstance(call_id, str) or isinstance(started_at, bool):
            raise TypeError
        return float(started_at), call_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise CursorError(f"cursor {cursor[:40]!r} is not one this API returned") from None


_INTERVIEWS = """
SELECT calls.id, calls.job_id, jobs.title AS job_title, calls.candidate_id, cand.name,
       cand.timezone, a.campaign_id, calls.direction, calls.started_at, calls.answered_at,
       calls.ended_at, calls.outcome, r.overall, r.recommendation
FROM calls
LEFT JOIN candidates cand ON cand.id = calls.candidate_id
LEFT JOIN jobs ON jobs.id = calls.job_id
LEFT JOIN reports r ON r.call_id = calls.id
LEFT JOIN attempts a ON a.call_id = calls.id
"""


async def list_interviews(
    store: Store,
    *,
    campaign_id: str | None = None,
    candidate_id: str | None = None,
    job_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Interviews newest first, filtered; `next_cursor` continues after the last one."""
    after = _decode(cursor) if cursor else None
    limit = max(1, min(limit, MAX_LIMIT))

    def _list_interviews(conn: sqlite3.Connection) -> Page:
        where, args = [], []
        for column, value in (
            ("a.campaign_id", campaign_id),
            ("calls.candidate_id", candidate_id),
            ("calls.job_id", job_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if after is not None:
            where.append("(calls.started_at < ? OR (calls.started_at = ? AND calls.id < ?))")
            args += [after[0], after[0], after[1]]
        sql = _INTERVIEWS + (f"WHERE {' AND '.join(where)} " if where else "")
        sql += "ORDER BY calls.started_at DESC, calls.id DESC LIMIT ?"
        rows = [_decrypt(store.pii, r) for r in _rows(conn.execute(sql, [*args, limit + 1]))]
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return Page(rows, _encode(last["started_at"], last["id"]) if last else None)

    return await run(store, _list_interviews)


async def campaign_targets(store: Store, campaign_id: str) -> list[dict[str, Any]]:
    """Each candidate of the campaign by name: where they stand, when they are next due."""

    def _campaign_targets(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        cur = conn.execute(
            "SELECT t.candidate_id, c.name, c.timezone, t.status, t.attempts, t.last_outcome, "
            "t.next_at, t.reason FROM campaign_targets t JOIN candidates c "
            "ON c.id = t.candidate_id WHERE t.campaign_id = ? ORDER BY t.status, t.next_at, "
            "t.candidate_id",
            (campaign_id,),
        )
        return [_decrypt(store.pii, r) for r in _rows(cur)]

    return await run(store, _campaign_targets)


async def next_wait(store: Store, campaign_id: str) -> dict[str, Any] | None:
    """The pending target due first (next_at, reason, the candidate's timezone), if any."""

    def _next_wait(conn: sqlite3.Connection) -> dict[str, Any] | None:
        return _one(
            conn.execute(
                "SELECT t.next_at, t.reason, c.timezone FROM campaign_targets t "
                "JOIN candidates c ON c.id = t.candidate_id "
                "WHERE t.campaign_id = ? AND t.status = 'pending' ORDER BY t.next_at LIMIT 1",
                (campaign_id,),
            )
        )

    return await run(store, _next_wait)
