"""Reports and prosody rows: saved when a call is scored, read by `voicebot report` and the
HR API. The report JSON is stored whole (it is the source of truth); overall score and
recommendation are copied into columns so HR can sort and filter without parsing it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from voicebot.store.db import Store, StoreError


async def save_report(store: Store, call_id: str, report: Mapping[str, Any]) -> None:
    """Insert or replace the call's report (re-scoring a call replaces it)."""
    if report.get("call_id") not in (None, call_id):
        raise StoreError(f"report is for call {report.get('call_id')!r}, not {call_id!r}")
    overall = report.get("overall") or {}
    now = time.time()
    try:
        await store._db.execute(
            "INSERT INTO reports (call_id, job_id, candidate_id, overall, recommendation, "
            "report_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (call_id) DO UPDATE SET job_id = excluded.job_id, "
            "candidate_id = excluded.candidate_id, overall = excluded.overall, "
            "recommendation = excluded.recommendation, report_json = excluded.report_json, "
            "updated_at = excluded.updated_at",
            (
                call_id,
                report["job_id"],
                report.get("candidate_id"),
                overall.get("score"),
                overall.get("recommendation", "no_decision"),
                json.dumps(report, ensure_ascii=False, sort_keys=True),
                now,
                now,
            ),
        )
        await store._db.commit()
    except Exception as e:
        await store._db.rollback()
        if "FOREIGN KEY" in str(e):
            raise StoreError(f"no call {call_id!r} in the store to attach a report to") from e
        raise


async def get_report(store: Store, call_id: str) -> dict[str, Any] | None:
    async with store._db.execute(
        "SELECT report_json FROM reports WHERE call_id = ?", (call_id,)
    ) as cur:
        row = await cur.fetchone()
    return json.loads(row[0]) if row else None


async def list_reports(store: Store, job_id: str | None = None) -> list[dict[str, Any]]:
    """Summary rows, best first: call_id, job_id, candidate_id, overall, recommendation."""
    sql = "SELECT call_id, job_id, candidate_id, overall, recommendation, updated_at FROM reports"
    args: tuple[Any, ...] = ()
    if job_id is not None:
        sql += " WHERE job_id = ?"
        args = (job_id,)
    async with store._db.execute(sql + " ORDER BY overall DESC, call_id", args) as cur:
        return [dict(r) for r in await cur.fetchall()]


async def save_prosody(store: Store, call_id: str, seq: int, features: Mapping[str, float]) -> None:
    await store._db.execute(
        "INSERT OR REPLACE INTO utterance_prosody (call_id, seq, features_json) VALUES (?, ?, ?)",
        (call_id, seq, json.dumps(dict(features), sort_keys=True)),
    )
    await store._db.commit()


async def get_prosody(store: Store, call_id: str) -> dict[int, dict[str, float]]:
    async with store._db.execute(
        "SELECT seq, features_json FROM utterance_prosody WHERE call_id = ? ORDER BY seq",
        (call_id,),
    ) as cur:
        return {int(r[0]): json.loads(r[1]) for r in await cur.fetchall()}
