"""`voicebot report` and `voicebot score`: the report of a stored call as JSON/HTML, and scores
for free-standing answers. Registered on the main CLI by `register(app)`; errors a person can
act on are one line on stderr and exit code 2."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voicebot.config import Config, ConfigError, load_config
from voicebot.interview.plan import Job, JobError, load_job, parse_job
from voicebot.scoring import llm
from voicebot.scoring.answers import AnswerLineError, score_lines
from voicebot.store import Store, StoreError

if TYPE_CHECKING:
    from voicebot.scoring.context import ReportContext


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("score")(score)


def _fail(message: str) -> None:
    typer.echo(f"voicebot: {message}", err=True)
    raise typer.Exit(2)


def report(
    call_id: Annotated[str, typer.Argument(help="The call's id (as printed by call/demo).")],
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here ('-' = stdout).")
    ] = None,
    job: Annotated[
        Path | None, typer.Option("--job", help="Job YAML, to score a call not scored yet.")
    ] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the report as PDF here.")] = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="An earlier version (default newest).")
    ] = None,
    rescore: Annotated[
        bool, typer.Option(help="Score again: adds a version, the ones before are kept.")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
) -> None:
    """Print or write the report of an interview; scores the call first if needed."""
    try:
        cfg = load_config(config)
        job_def = load_job(job) if job else None
    except (ConfigError, JobError) as e:
        _fail(str(e))
        return
    if rescore and version is not None:
        _fail("--rescore makes a new version; it cannot be given with --version")
    try:
        data, context = asyncio.run(_report(cfg, call_id, job_def, rescore, version))
    except (StoreError, JobError) as e:
        _fail(str(e))
        return
    from voicebot.scoring.pdf import PdfError, write_pdf
    from voicebot.scoring.report import render_html

    try:
        if html is not None or pdf is not None:
            page = render_html(data, context)
            if html is not None:
                html.write_text(page, encoding="utf-8")
            if pdf is not None:
                write_pdf(page, pdf)
    except OSError as e:
        _fail(f"{e.filename or html}: {e.strerror or e}")
    except PdfError as e:
        _fail(str(e))
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if json_out is not None and str(json_out) != "-":
        json_out.write_text(text + "\n", encoding="utf-8")
    elif json_out is not None:
        typer.echo(text)
    elif html is None and pdf is None:
        typer.echo(summary(call_id, data, context))


def summary(call_id: str, data: dict[str, Any], context: ReportContext) -> str:
    """The few lines HR reads first: who, which role, when, how they did, per competency.
    The whole report is `--json -`, `--html` or `--pdf`."""
    import datetime as dt
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = context.candidate_name or data.get("candidate_id") or "(no candidate)"
    lines = [f"{name}, {context.job_title or data.get('job_id') or 'no job'}"]
    when = ""
    if context.started_at is not None:
        try:
            zone = ZoneInfo(context.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        at = dt.datetime.fromtimestamp(context.started_at, zone)
        when = f", {at:%Y-%m-%d %H:%M} {context.timezone or 'UTC'}"
    took = ""
    if context.duration_s is not None:
        minutes, seconds = divmod(round(context.duration_s), 60)
        took = f", {minutes} min {seconds:02d} s"
    shown = f" (report version {context.version} of {context.versions})" if (
        context.versions or 0) > 1 else ""  # fmt: skip
    lines.append(f"interview {call_id}{when}{took}{shown}")
    overall = data.get("overall") or {}
    rec = str(overall.get("recommendation") or "no_decision").replace("_", " ")
    score = overall.get("score")
    top = "not assessed" if score is None else f"{score:.1f} / {overall.get('max', 5)}"
    lines.append(f"overall {top}: {rec}")
    for c in data.get("competencies") or []:
        if c.get("score") is None:
            lines.append(f"  {c.get('name') or c.get('id')}: not assessed")
            continue
        quote = next(iter(c.get("evidence") or []), "")
        quote = f'  "{quote[:70]}{"…" if len(quote) > 70 else ""}"' if quote else ""
        lines.append(
            f"  {c.get('name') or c.get('id')}: {c['score']:.1f} / {c.get('max', 5)}{quote}"
        )
    for k in data.get("knockouts") or []:
        lines.append(f"knock-out: {k.get('reason') or k.get('id') or k}")
    if (data.get("compliance") or {}).get("human_review_required"):
        lines.append("a person must review this before any decision")
    lines.append(f"whole report: voicebot report {call_id} --html FILE (or --pdf FILE, --json -)")
    return "\n".join(lines)


async def _report(
    cfg: Config, call_id: str, job: Job | None, rescore: bool, version: int | None = None
) -> tuple[dict[str, Any], ReportContext]:
    """The report (stored, or scored now) and its page's header facts (`ReportContext`)."""
    from voicebot.scoring.context import report_context

    store = await Store.open(cfg.store.path)
    try:
        data = await _report_data(store, cfg, call_id, job, rescore, version)
        base = cfg.api.public_url.rstrip("/")
        context = await report_context(
            store,
            call_id,
            version=version,
            recordings_dir=cfg.api.recordings_dir,
            recording_url=f"{base}/interviews/{call_id}/recording",
            job_title=job.title if job else None,
        )
        return data, context
    finally:
        await store.close()


async def _report_data(
    store: Store, cfg: Config, call_id: str, job: Job | None, rescore: bool, version: int | None
) -> dict[str, Any]:
    from voicebot.scoring.pipeline import score_call
    from voicebot.store.reports import get_report

    stored = None if rescore else await get_report(store, call_id, version)
    if stored is not None:
        return stored
    if version is not None:
        raise StoreError(f"call {call_id} has no report version {version}")
    call = await store.get_call(call_id)
    if call is None:
        raise StoreError(f"no call {call_id!r} in {cfg.store.path}")
    if job is None:
        job = await _stored_job(store, call.get("job_id"))
    if job is None:
        raise StoreError(
            f"call {call_id} has no report yet and its job {call.get('job_id')!r} is not "
            "imported; pass --job FILE to score it"
        )
    scored = await score_call(
        store,
        call_id,
        job,
        compliance=cfg.compliance.mode,
        feedback_scores=cfg.reports.feedback_scores,
        rater=llm.from_config(cfg.scoring),
        report_url=cfg.api.public_url,
    )
    return scored.to_dict()


async def _stored_job(store: Store, job_id: str | None) -> Job | None:
    """The job as HR imported it (`voicebot jobs import`), if that table exists."""
    if not job_id:
        return None
    try:
        from voicebot.store.hr import get_job_spec
    except ImportError:
        return None
    try:
        spec = await get_job_spec(store, job_id)
    except StoreError:
        return None
    return parse_job(spec, source=f"job {job_id}", default_id=job_id) if spec else None


def score(
    job: Annotated[Path, typer.Option("--job", help="Job YAML with the competencies.")],
    answers: Annotated[
        Path, typer.Option("--answers", help="JSONL: id, competency, question, answer, lang.")
    ],
    details: Annotated[
        bool, typer.Option(help="Also print the checklist behind each level.")
    ] = False,
) -> None:
    """Score free-standing answers; one JSON object a line out: id, score (1-5), level,
    evidence, explanation (and the checklist with --details)."""
    try:
        job_def = load_job(job)
        lines = answers.read_text(encoding="utf-8").splitlines()
    except JobError as e:
        _fail(str(e))
        return
    except OSError as e:
        _fail(f"{answers}: {e.strerror or e}")
        return
    bad = 0
    for result in score_lines(job_def, lines):
        if isinstance(result, AnswerLineError):
            bad += 1
            typer.echo(f"voicebot: {answers}:{result.line}: {result.why}", err=True)
            continue
        keys = ("id", "score", "level", "evidence", "explanation") + (
            ("checklist",) if details else ()
        )
        typer.echo(json.dumps({k: result[k] for k in keys}, ensure_ascii=False))
    sys.stdout.flush()
    if bad:
        raise typer.Exit(2)
