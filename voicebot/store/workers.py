"""Work that several `voicebot worker` processes share: one campaign's attempts, claimed one at
a time under a lease, with the campaign's caps counted across all of them.

A claim is one write transaction. On SQLite, BEGIN IMMEDIATE takes the database's write lock,
so two workers never both pass a cap or take the same target. On PostgreSQL it locks only the
campaign's row (`FOR UPDATE`: the caps of one campaign are checked one worker at a time, other
campaigns' claims go on in parallel) and takes its target `FOR UPDATE SKIP LOCKED`, so a target
another transaction holds is passed over, never waited for. Either way it counts the campaign's
live attempts (leased and not expired) against `max_concurrent`, keeps `calls_per_second`
against the campaign's shared last dial time, and takes the earliest due target. The worker
renews the leases of its calls while they live. A worker that dies stops renewing; whoever
comes next settles its attempts: one never dialled goes back to the queue (it provably placed
no call), one that was dialling is finished as `interrupted` and its candidate is left for
review — never dialled again, since the call may have connected and the interview may have
happened.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from voicebot.store.db import Store
from voicebot.store.hr import RUNNER_STALE_S, _decrypt, _enqueue, _rows, _runner_gone, new_id, run

LIVE = "state IN ('claimed', 'dialling') AND lease_until > ?"
WORKER = ":worker"  # how a worker's owner id ends (host:pid:worker)


@dataclass(frozen=True, slots=True)
class Claim:
    """A target taken for one attempt (`attempt_id`), or why none was: `wait_s` until a cap
    lets the next dial through, `idle` when nobody is due now."""

    attempt_id: str | None = None
    target: dict[str, Any] | None = None
    wait_s: float = 0.0
    idle: bool = False


async def claim_next(
    store: Store,
    campaign_id: str,
    owner: str,
    now: float,
    *,
    lease_s: float,
    max_concurrent: int,
    calls_per_second: float,
) -> Claim:
    """The next due target of the campaign for this worker, if every cap allows it now."""

    pg = store.dialect == "postgresql"
    lock = " FOR UPDATE" if pg else ""
    skip = " FOR UPDATE OF t SKIP LOCKED" if pg else ""

    def _claim(conn: sqlite3.Connection) -> Claim:
        (last,) = conn.execute(
            f"SELECT last_dial_at FROM campaigns WHERE id = ?{lock}", (campaign_id,)
        ).fetchone()
        (live,) = conn.execute(
            f"SELECT COUNT(*) FROM attempts WHERE campaign_id = ? AND {LIVE}", (campaign_id, now)
        ).fetchone()
        if live >= max_concurrent:
            return Claim(wait_s=0.2)
        gap = 1.0 / calls_per_second
        if last is not None and now < last + gap:
            return Claim(wait_s=last + gap - now)
        rows = _rows(
            conn.execute(
                "SELECT t.candidate_id, t.phone_hash, t.attempts, t.retries_json, t.next_at, "
                "c.phone_e164, c.timezone, c.name, c.external_id FROM campaign_targets t "
                "JOIN candidates c ON c.id = t.candidate_id WHERE t.campaign_id = ? "
                "AND t.status = 'pending' AND t.next_at <= ? ORDER BY t.next_at, t.candidate_id "
                f"LIMIT 1{skip}",
                (campaign_id, now),
            )
        )
        if not rows:
            return Claim(idle=True)
        target = rows[0]
        cand = target["candidate_id"]
        conn.execute(
            "UPDATE campaign_targets SET status = 'in_progress', attempts = attempts + 1, "
            "updated_at = ? WHERE campaign_id = ? AND candidate_id = ?",
            (now, campaign_id, cand),
        )
        (seq,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE campaign_id = ? "
            "AND candidate_id = ?",
            (campaign_id, cand),
        ).fetchone()
        att = new_id("att")
        conn.execute(
            "INSERT INTO attempts (id, campaign_id, candidate_id, phone_hash, seq, state, "
            "claimed_at, owner, lease_until) VALUES (?,?,?,?,?,?,?,?,?)",
            (att, campaign_id, cand, target["phone_hash"], seq, "claimed", now, owner,
             now + lease_s),
        )  # fmt: skip
        conn.execute("UPDATE campaigns SET last_dial_at = ? WHERE id = ?", (now, campaign_id))
        target["attempts"] += 1  # as the dialer's retry rules count it
        target["retries"] = json.loads(target.pop("retries_json"))
        _decrypt(store.pii, target)
        return Claim(att, target)

    return await run(store, _claim, immediate=not pg)


async def renew(store: Store, owner: str, attempt_ids: list[str], until: float) -> int:
    """Extend this worker's leases; the number still held (a reaped one is not renewed)."""
    if not attempt_ids:
        return 0

    def _renew(conn: sqlite3.Connection) -> int:
        marks = ",".join("?" * len(attempt_ids))
        cur = conn.execute(
            f"UPDATE attempts SET lease_until = ? WHERE owner = ? AND id IN ({marks}) "
            "AND state IN ('claimed', 'dialling')",
            (until, owner, *attempt_ids),
        )
        return int(cur.rowcount)

    return await run(store, _renew)


async def reap(store: Store, campaign_id: str, now: float) -> tuple[int, int]:
    """Settle the attempts of workers whose leases expired: (released, marked for review)."""

    def _reap(conn: sqlite3.Connection) -> tuple[int, int]:
        expired = _rows(
            conn.execute(
                "SELECT id, candidate_id, state, owner FROM attempts WHERE campaign_id = ? "
                "AND state IN ('claimed', 'dialling') AND lease_until IS NOT NULL "
                "AND lease_until <= ?",
                (campaign_id, now),
            )
        )
        released = review = 0
        for a in expired:
            if a["state"] == "claimed":  # never dialled: nobody was called
                conn.execute("UPDATE attempts SET state = 'released' WHERE id = ?", (a["id"],))
                conn.execute(
                    "UPDATE campaign_targets SET status = 'pending', attempts = attempts - 1, "
                    "updated_at = ? WHERE campaign_id = ? AND candidate_id = ?",
                    (now, campaign_id, a["candidate_id"]),
                )
                released += 1
                continue
            why = f"worker {a['owner']} was lost during the call: needs review"
            conn.execute(
                "UPDATE attempts SET state = 'finished', ended_at = ?, outcome = 'interrupted', "
                "detail = ? WHERE id = ?",
                (now, why, a["id"]),
            )
            conn.execute(
                "UPDATE campaign_targets SET status = 'done', last_outcome = 'interrupted', "
                "reason = 'needs review: the call may have connected', updated_at = ? "
                "WHERE campaign_id = ? AND candidate_id = ?",
                (now, campaign_id, a["candidate_id"]),
            )
            _enqueue(
                conn, "call.completed",
                {"candidate_id": a["candidate_id"], "campaign_id": campaign_id,
                 "attempt_id": a["id"], "outcome": "interrupted", "needs_review": True},
                now,
            )  # fmt: skip
            review += 1
        return released, review

    return await run(store, _reap, immediate=True)


async def settle_if_done(store: Store, campaign_id: str, now: float) -> bool:
    """Mark the campaign done when nobody is pending and no attempt is live (any worker)."""

    def _done(conn: sqlite3.Connection) -> bool:
        (open_targets,) = conn.execute(
            "SELECT COUNT(*) FROM campaign_targets WHERE campaign_id = ? "
            "AND status IN ('pending', 'in_progress')",
            (campaign_id,),
        ).fetchone()
        if open_targets:
            return False
        conn.execute(
            "UPDATE campaigns SET state = 'done', updated_at = ? WHERE id = ? "
            "AND state = 'running'",
            (now, campaign_id),
        )
        return True

    return await run(store, _done, immediate=True)


async def running_campaigns(store: Store, now: float) -> list[str]:
    """Running campaigns that workers share: not those a live `campaign start` process holds
    (it dials them alone); one whose process died is theirs."""

    def _running(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT id, runner, runner_seen_at FROM campaigns WHERE state = 'running' "
            "ORDER BY created_at, id"
        ).fetchall()
        return [r[0] for r in rows
                if r[1] is None or _runner_gone(r[1], r[2], now, RUNNER_STALE_S)]  # fmt: skip

    return await run(store, _running)


async def live_worker_claims(store: Store, campaign_id: str, now: float) -> int:
    """How many of the campaign's calls workers hold now (`campaign start` must not join)."""

    def _live(conn: sqlite3.Connection) -> int:
        (n,) = conn.execute(
            f"SELECT COUNT(*) FROM attempts WHERE campaign_id = ? AND {LIVE} AND owner LIKE ?",
            (campaign_id, now, f"%{WORKER}"),
        ).fetchone()
        return int(n)

    return await run(store, _live)
