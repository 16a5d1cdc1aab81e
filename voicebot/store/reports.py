"""Reports and prosody rows: saved when a call is scored, read by `voicebot report` and the
HR API. The report JSON is stored whole (it is the source of truth); overall score and
recommendation are copied into columns so HR can sort and filter without parsing it.

Reports are versioned: scoring a call again adds version 2, 3, ... next to the ones before
(`report_versions`), `reports` holds the newest, and a changed rescore puts `report.updated`
in the webhook outbox in the same transaction, so an ATS that has version 1 hears of it."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicebot.store.db import Store, StoreError
from voicebot.store.hr import _enqueue, run

REPORT_UPDATED = "report.updated"


@dataclass(frozen=True, slots=True)
class SavedReport:
    """What a save did: the version now served, whether it differs from the one before, and
    the `report.updated` event's webhook-id when one was queued."""

    version: int
    changed: bool
    event_id: str | None = None


async def save_report(
    store: Store, call_id: str, report: Mapping[str, Any], *, report_url: str = ""
) -> SavedReport:
    """Store the call's report as its next version (a rescore never overwrites). A rescore
    identical to the newest version adds nothing; a different one queues `report.updated`.
    `report_url` is the API's public base, for the event's link."""
    if report.get("call_id") not in (None, call_id):
        raise StoreError(f"report is for call {report.get('call_id')!r}, not {call_id!r}")
    if "job_id" not in report:
        raise StoreError(f"report for call {call_id!r} has no job_id")
    text = json.dumps(report, ensure_ascii=False, sort_keys=True)
    overall = report.get("overall") or {}
    score, rec = overall.get("score"), overall.get("recommendation", "no_decision")

    def _save_report(conn: sqlite3.Connection) -> SavedReport:
        now = time.time()
        if conn.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone() is None:
            raise StoreError(f"no call {call_id!r} in the store to attach a report to")
        last = conn.execute(
            "SELECT version, report_json, overall, recommendation FROM report_versions "
            "WHERE call_id = ? ORDER BY version DESC LIMIT 1",
            (call_id,),
        ).fetchone()
        if last is not None and last[1] == text:
            return SavedReport(int(last[0]), changed=False)
        version = int(last[0]) + 1 if last is not None else 1
        conn.execute(
            "INSERT INTO report_versions (call_id, version, overall, recommendation, "
            "report_json, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (call_id, version, score, rec, text, now),
        )
        conn.execute(
            "INSERT INTO reports (call_id, job_id, candidate_id, overall, recommendation, "
            "report_json, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (call_id) DO UPDATE SET job_id = excluded.job_id, "
            "candidate_id = excluded.candidate_id, overall = excluded.overall, "
            "recommendation = excluded.recommendation, report_json = excluded.report_json, "
            "updated_at = excluded.updated_at, version = excluded.version",
            (call_id, report["job_id"], report.get("candidate_id"), score, rec, text, now, now,
             version),
        )  # fmt: skip
        if last is None:
            return SavedReport(version, changed=True)
        payload = _updated_payload(conn, call_id, report, version, last, report_url)
        return SavedReport(version, True, _enqueue(conn, REPORT_UPDATED, payload, now))

    return await run(store, _save_report, immediate=True)


def _updated_payload(
    conn: sqlite3.Connection,
    call_id: str,
    report: Mapping[str, Any],
    version: int,
    last: sqlite3.Row | tuple[Any, ...],
    report_url: str,
) -> dict[str, Any]:
    """`report.updated`: which interview, the version now served and the one it replaces."""
    candidate_id = report.get("candidate_id")
    row = (
        conn.execute("SELECT external_id FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
        if candidate_id
        else None
    )
    overall = report.get("overall") or {}
    base = report_url.rstrip("/")
    return {
        "interview_id": call_id,
        "call_id": call_id,
        "candidate_id": candidate_id,
        "external_id": row[0] if row else None,
        "job_id": report["job_id"],
        "version": version,
        "previous_version": int(last[0]),
        "recommendation": overall.get("recommendation"),
        "score": overall.get("score"),
        "max": overall.get("max"),
        "previous": {"recommendation": last[3], "score": last[2]},
        "report_url": f"{base}/interviews/{call_id}/report" if base else None,
    }


async def get_report(
    store: Store, call_id: str, version: int | None = None
) -> dict[str, Any] | None:
    """The newest report of the call, or the given version of it; None when there is none."""
    if version is None:
        sql, args = "SELECT report_json FROM reports WHERE call_id = ?", (call_id,)
    else:
        sql = "SELECT report_json FROM report_versions WHERE call_id = ? AND version = ?"
        args = (call_id, version)
    async with store._db.execute(sql, args) as cur:
        row = await cur.fetchone()
    return json.loads(row[0]) if row else None


async def report_versions(store: Store, call_id: str) -> list[dict[str, Any]]:
    """Every version of the call's report, oldest first: version, created_at, overall,
    recommendation."""
    async with store._db.execute(
        "SELECT version, created_at, overall, recommendation FROM report_versions "
        "WHERE call_id = ? ORDER BY version",
        (call_id,),
    ) as cur:
        return [dict(r) for r in await cur.fetchall()]


async def list_reports(store: Store, job_id: str | None = None) -> list[dict[str, Any]]:
    """Summary rows, best first: call_id, job_id, candidate_id, overall, recommendation,
    updated_at and the version served."""
    sql = (
        "SELECT call_id, job_id, candidate_id, overall, recommendation, updated_at, version "
        "FROM reports"
    )
    args: tuple[Any, ...] = ()
    if job_id is not None:
        sql += " WHERE job_id = ?"
        args = (job_id,)
    async with store._db.execute(sql + " ORDER BY overall DESC, call_id", args) as cur:
        return [dict(r) for r in await cur.fetchall()]


async def save_prosody(store: Store, call_id: str, seq: int, features: Mapping[str, float]) -> None:
    await store._db.execute(
        "INSERT INTO utterance_prosody (call_id, seq, features_json) VALUES (?, ?, ?) "
        "ON CONFLICT (call_id, seq) DO UPDATE SET features_json = excluded.features_json",
        (call_id, seq, json.dumps(dict(features), sort_keys=True)),
    )
    await store._db.commit()


async def get_prosody(store: Store, call_id: str) -> dict[int, dict[str, float]]:
    async with store._db.execute(
        "SELECT seq, features_json FROM utterance_prosody WHERE call_id = ? ORDER BY seq",
        (call_id,),
    ) as cur:
        return {int(r[0]): json.loads(r[1]) for r in await cur.fetchall()}
