"""After the hang-up: read the call's turns from the store, score them, save the report (as
its next version) and write its JSON and HTML files. Campaigns, the demo and `voicebot
report` all come through here, so a report is made the same way wherever the call came from."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from voicebot.interview.plan import Job, Resume
from voicebot.scoring.context import ReportContext, report_context
from voicebot.scoring.report import render_html
from voicebot.scoring.score import Rater, Report, score_interview
from voicebot.store import Store, StoreError
from voicebot.store import reports as db


async def score_call(
    store: Store,
    call_id: str,
    job: Job,
    *,
    compliance: str = "none",
    resume: Resume | None = None,
    feedback_scores: bool = False,
    save: bool = True,
    rater: Rater | None = None,
    report_url: str = "",
) -> Report:
    """Score a stored call (and, with `save`, store the report as its next version: a rescore
    that changes it queues `report.updated`, linking to `report_url`, the API's public base).
    Prosody rows are read only when the job opts in and the mode is not "eu"."""
    call = await store.get_call(call_id)
    if call is None:
        raise StoreError(f"no call {call_id!r} in {store.path}")
    turns = await store.turns(call_id)
    prosody = None
    if job.prosody and compliance != "eu":
        by_seq = await db.get_prosody(store, call_id)
        prosody = {i: by_seq[t.seq] for i, t in enumerate(turns) if t.seq in by_seq}
    consent = None if call.get("consent") is None else bool(call["consent"])
    report = await asyncio.to_thread(  # the sentence model runs off the event loop
        score_interview,
        job,
        turns,
        call_id=call_id,
        candidate_id=call.get("candidate_id"),
        resume=resume,
        compliance=compliance,
        consent=consent,
        prosody=prosody,
        feedback_scores=feedback_scores,
        rater=rater,
    )
    if save:
        await db.save_report(store, call_id, report.to_dict(), report_url=report_url)
    return report


async def report_page(
    store: Store,
    call_id: str,
    *,
    version: int | None = None,
    recordings_dir: str | Path | None = None,
    recording_url: str = "recording",
) -> str | None:
    """The HR page of a stored report (the newest, or `version`) with its header facts: the
    candidate's name, role title, date, duration and the consented recording; None when the
    call has no such report."""
    report = await db.get_report(store, call_id, version)
    if report is None:
        return None
    context = await report_context(
        store, call_id, version=version, recordings_dir=recordings_dir, recording_url=recording_url
    )
    return render_html(report, context)


async def write_report_files(
    report: dict[str, Any],
    directory: str | Path,
    stem: str | None = None,
    context: ReportContext | None = None,
) -> tuple[Path, Path]:
    """`<dir>/<call id>.json` and `.html`; returns both paths. `context` (`report_context`)
    puts the name, role, date and duration in the page's header."""
    out = Path(directory)
    name = stem or str(report.get("call_id") or report.get("job_id"))
    json_path, html_path = out / f"{name}.json", out / f"{name}.html"
    text = json.dumps(report, ensure_ascii=False, indent=2)
    html = render_html(report, context)

    def write() -> None:
        out.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text + "\n", encoding="utf-8")
        html_path.write_text(html, encoding="utf-8")

    await asyncio.to_thread(write)
    return json_path, html_path
