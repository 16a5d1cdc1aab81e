"""After the hang-up: read the call's turns from the store, score them, save the report and
write its JSON and HTML files. Campaigns, the demo and `voicebot report` all come through
here, so a report is made the same way wherever the call came from."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from voicebot.interview.plan import Job, Resume
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
) -> Report:
    """Score a stored call (and, with `save`, store the report). Prosody rows are read only
    when the job opts in and the mode is not "eu"."""
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
        await db.save_report(store, call_id, report.to_dict())
    return report


async def write_report_files(
    report: dict[str, Any], directory: str | Path, stem: str | None = None
) -> tuple[Path, Path]:
    """`<dir>/<call id>.json` and `.html`; returns both paths."""
    out = Path(directory)
    name = stem or str(report.get("call_id") or report.get("job_id"))
    json_path, html_path = out / f"{name}.json", out / f"{name}.html"
    text = json.dumps(report, ensure_ascii=False, indent=2)
    html = render_html(report)

    def write() -> None:
        out.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text + "\n", encoding="utf-8")
        html_path.write_text(html, encoding="utf-8")

    await asyncio.to_thread(write)
    return json_path, html_path
