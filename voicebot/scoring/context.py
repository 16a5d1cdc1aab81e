"""What the HR report page shows beyond the report JSON, read from the store: the candidate's
name, the role's title, when the call was and how long it took, the version served, and the
recording when the candidate consented to it and it exists. The name goes only into the
HR-facing page, never into the JSON sent to ATSs or into logs."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.reports import report_versions


@dataclass(frozen=True, slots=True)
class ReportContext:
    candidate_name: str | None = None
    job_title: str | None = None
    started_at: float | None = None  # epoch seconds, when the call was answered (else placed)
    duration_s: float | None = None
    timezone: str | None = None  # the candidate's IANA zone: the local time shown
    recording_url: str | None = None  # only with consent and an existing recording
    version: int | None = None  # the report version shown, of `versions`
    versions: int | None = None
    scored_at: float | None = None


async def report_context(
    store: Store,
    call_id: str,
    *,
    recordings_dir: str | Path | None = None,
    recording_url: str = "recording",
    job_title: str | None = None,
    version: int | None = None,
) -> ReportContext:
    """The page's header facts for a stored call. `recording_url` is where the page's player
    fetches `<recordings_dir>/<call id>.wav` (relative: the API serves it beside the report)."""
    call = await store.get_call(call_id) or {}
    cand = await db.get_candidate(store, call["candidate_id"]) if call.get("candidate_id") else None
    title = await _job_title(store, call.get("job_id")) or job_title
    start = call.get("answered_at") or call.get("started_at")
    end = call.get("ended_at")
    versions = await report_versions(store, call_id)
    newest = versions[-1] if versions else None
    shown = next((v for v in versions if v["version"] == version), newest)
    consented = bool(cand and cand["consent_recording"] and call.get("consent"))
    wav = Path(recordings_dir) / f"{call_id}.wav" if recordings_dir is not None else None
    return ReportContext(
        candidate_name=(cand or {}).get("name") or None,
        job_title=title,
        started_at=start,
        duration_s=round(end - start, 1) if start is not None and end is not None else None,
        timezone=(cand or {}).get("timezone"),
        recording_url=recording_url if consented and wav is not None and wav.is_file() else None,
        version=shown["version"] if shown else None,
        versions=len(versions) or None,
        scored_at=shown["created_at"] if shown else None,
    )


async def _job_title(store: Store, job_id: str | None) -> str | None:
    if not job_id:
        return None

    def _job_title(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT title FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row[0]) if row else None

    return await db.run(store, _job_title)
