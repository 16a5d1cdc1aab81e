"""The HR commands: jobs, candidates, screen, campaign, tokens, webhooks, analytics, api.

Registered on the main `voicebot` app by `register(app)`; the logic lives in the modules these
commands call. Errors a person can act on exit 2 with one line naming what and where.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from voicebot.config import Config, ConfigError

_T = TypeVar("_T")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (or $VOICEBOT_CONFIG).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
JobOpt = Annotated[str, typer.Option("--job", help="Job id (as imported).")]

jobs_app = typer.Typer(no_args_is_help=True, help="Import and list jobs.")
candidates_app = typer.Typer(no_args_is_help=True, help="Import and list candidates.")
campaign_app = typer.Typer(no_args_is_help=True, help="Call campaigns.")
tokens_app = typer.Typer(no_args_is_help=True, help="API bearer tokens.")
webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints and deliveries.")
analytics_app = typer.Typer(no_args_is_help=True, help="Outcome analytics.")
interviews_app = typer.Typer(no_args_is_help=True, help="Find interviews by campaign or name.")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(candidates_app, name="candidates")
    app.add_typer(campaign_app, name="campaign")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(webhooks_app, name="webhooks")
    app.add_typer(analytics_app, name="analytics")
    app.add_typer(interviews_app, name="interviews")
    app.command("worker")(worker)
    app.command("screen")(screen)
    app.command("api")(api)


def _config(path: Path | None) -> Config:
    from voicebot.cli import _config as load

    try:
        return load(path)
    except ConfigError as e:
        _fail(str(e))
        raise


def _fail(message: str) -> None:
    typer.echo(f"voicebot: {message}", err=True)
    raise typer.Exit(2)


def _with_store(cfg: Config, fn: Callable[[Any], Awaitable[_T]]) -> _T:
    """Open the store, run `fn(store)`, close; actionable errors become one line, exit 2."""
    from voicebot.campaigns.settings import SettingsError
    from voicebot.hr.importer import CandidateFileError
    from voicebot.hr.webhooks import WebhookError
    from voicebot.interview.plan import JobError
    from voicebot.store import Store
    from voicebot.store.db import StoreError
    from voicebot.store.listing import CursorError

    async def main() -> _T:
        store = await Store.open(cfg.store.path)
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (
        StoreError,
        CandidateFileError,
        JobError,
        SettingsError,
        WebhookError,
        ConfigError,
        CursorError,
    ) as e:
        _fail(str(e))
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


# jobs and candidates --------------------------------------------------------------------------


@jobs_app.command("import")
def jobs_import(file: Path, config: ConfigOpt = None) -> None:
    """Validate and store the job(s) in a YAML or JSON file (re-import updates)."""
    from voicebot.hr.importer import import_jobs

    done = _with_store(_config(config), lambda s: import_jobs(s, file))
    for job_id, new in done:
        typer.echo(f"{'imported' if new else 'updated '} job {job_id}")


@jobs_app.command("list")
def jobs_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    from voicebot.store import hr as db

    rows = _with_store(_config(config), db.list_jobs)
    if as_json:
        _echo_json(rows)
    for r in [] if as_json else rows:
        typer.echo(f"{r['id']:24} {r['candidates']:6} candidates  {r['title']}")


@candidates_app.command("import")
def candidates_import(
    file: Path,
    job: JobOpt,
    config: ConfigOpt = None,
    region: Annotated[
        str | None, typer.Option(help="Region for numbers without +country (default: config).")
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COLUMN=FIELD",
            help="Read a column as a field ('E-mail=email'; 'Notes=-' skips it). Saved for "
            "files with the same header.",
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The CSV's encoding, e.g. gb18030 (default: detected).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="The CSV's separator: ',', ';' or 'tab' (default: sniffed).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import candidates from CSV, .xlsx or JSON; bad rows are listed with line and reason.

    Exit 0 when every row imported, 1 when some rows were rejected (the good ones are in)."""
    from voicebot.hr.importer import ReadOptions, import_candidates

    cfg = _config(config)
    opts = ReadOptions(encoding, delimiter, tuple(column_map or ()))
    report = _with_store(
        cfg,
        lambda s: import_candidates(
            s, file, job, region=region or cfg.campaigns.default_region, options=opts
        ),
    )
    if as_json:
        _echo_json(report.to_dict())
    else:
        for err in report.errors:
            typer.echo(f"{file}: {err}", err=True)
        typer.echo(
            f"{report.imported} imported ({report.inserted} new, {report.updated} updated), "
            f"{len(report.errors)} rejected; {report.ineligible} of the job's candidates do not "
            "meet its must-haves (voicebot screen for reasons)"
        )
    if report.errors:
        raise typer.Exit(1)


@candidates_app.command("list")
def candidates_list(job: JobOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    from voicebot.pii import redact
    from voicebot.store import hr as db

    rows = _with_store(_config(config), lambda s: db.list_candidates(s, job))
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        verdict = {None: "unscreened", True: "eligible", False: "not eligible"}[r["eligible"]]
        typer.echo(
            f"{r['id']}  {_name(r):24} {redact(r['phone_e164']):12} {r['timezone']:20} {verdict}"
        )


def _name(row: Any) -> str:
    """The candidate's name as HR knows it (decrypted by the store), or a marker."""
    if row.get("erased"):
        return "(erased)"
    return str(row.get("name") or "(no name)")


def screen(job: JobOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check the job's must-haves against each candidate's résumé, before anyone is called."""
    from voicebot.hr.importer import screen as run_screen
    from voicebot.store import hr as db

    async def main(store: Any) -> tuple[list[Any], dict[str, str]]:
        results = await run_screen(store, job)
        names = {c["id"]: _name(c) for c in await db.list_candidates(store, job)}
        return results, names

    results, names = _with_store(_config(config), main)
    if as_json:
        _echo_json([{**_screen_dict(r), "name": names.get(r.candidate_id)} for r in results])
        return
    for r in results:
        verdict = "eligible    " if r.eligible else "not eligible"
        name = names.get(r.candidate_id, "")
        typer.echo(f"{r.candidate_id}  {name:24} {verdict}  {'; '.join(r.reasons)}")
    n_ok = sum(r.eligible for r in results)
    typer.echo(f"{n_ok} of {len(results)} eligible")


def _screen_dict(r: Any) -> dict[str, Any]:
    return {"candidate_id": r.candidate_id, "eligible": r.eligible, "reasons": list(r.reasons)}


# campaigns ------------------------------------------------------------------------------------


@campaign_app.command("create")
def campaign_create(
    job: JobOpt,
    config: ConfigOpt = None,
    name: Annotated[str, typer.Option(help="A name HR recognises.")] = "",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting: max_concurrent=2, retry_busy=600,3 …"),
    ] = None,
) -> None:
    """Create a campaign over the job's eligible (or unscreened) candidates; prints its id."""
    from voicebot.campaigns.settings import SettingsError, parse_settings, settings_from_config
    from voicebot.store import hr as db

    cfg = _config(config)
    overrides: dict[str, Any] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.strip()] = value.strip()
    try:
        settings = parse_settings(overrides, settings_from_config(cfg.campaigns))
    except SettingsError as e:
        _fail(f"--set {e.key}: {e.why}")
        raise
    cid, n = _with_store(
        cfg,
        lambda s: db.create_campaign(s, name=name or job, job_id=job, settings=settings.to_dict()),
    )
    typer.echo(f"campaign {cid}: {n} candidates (start with: voicebot campaign start {cid})")


SimulateOpt = Annotated[
    str | None,
    typer.Option(help="Simulated calls instead of a PBX: 'completed=0.6,busy=0.2,…'.", hidden=True),
]


@campaign_app.command("start")
def campaign_start(
    campaign_id: str,
    config: ConfigOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Call scripted candidates instead (real SIP on loopback, kamailio, the real "
            "interviewer and scorer), into a separate store; nobody is called and the real "
            "store is only read.",
        ),
    ] = False,
    dry_store: Annotated[
        Path | None, typer.Option(help="The dry run's store (default: dry-run.db by the store).")
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(help="Dry run: deliver its webhooks here (see voicebot webhooks listen)."),
    ] = None,
    webhook_secret: Annotated[
        str | None, typer.Option(help="Dry run: the receiver's whsec_… (default: a new one).")
    ] = None,
    candidates: Annotated[
        int, typer.Option(min=1, max=20, help="Dry run: how many of its candidates.")
    ] = 2,
    report_url: Annotated[
        str | None,
        typer.Option(
            help="Dry run: the base of its webhooks' report links, an API over the dry store "
            "(VOICEBOT_STORE__PATH=<dry store> voicebot api); default: no links."
        ),
    ] = None,
    to_workers: Annotated[
        bool,
        typer.Option(
            "--to-workers",
            help="Leave the dialling to `voicebot worker` processes (on any machines, one "
            "store): mark the campaign running and return.",
        ),
    ] = False,
    simulate: SimulateOpt = None,
    seed: Annotated[int, typer.Option(hidden=True)] = 0,
    call_s: Annotated[float, typer.Option(hidden=True)] = 0.0,
    dial_log: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Dial the campaign in this process until done or paused (webhooks go out meanwhile);
    --dry-run tries it on scripted candidates first; --to-workers hands it to the workers."""
    from voicebot.campaigns.service import CallingUnavailable, Simulation, run_campaign

    cfg = _config(config)
    if to_workers:
        _to_workers(cfg, campaign_id)
        return
    if dry_run:
        _dry_run(cfg, campaign_id, dry_store, webhook, webhook_secret, candidates, report_url)
        return
    sim = Simulation(simulate, seed, call_s, dial_log) if simulate else None

    async def main(_: Any) -> dict[str, Any]:
        return await run_campaign(cfg, campaign_id, simulate=sim)

    try:
        result = _with_store(cfg, main)
    except (ValueError, CallingUnavailable) as e:  # a bad --simulate mix, an unreachable PBX
        _fail(str(e))
        raise
    typer.echo(f"campaign {campaign_id}: {result['state']}; dialled {result['dialled']}")


def _to_workers(cfg: Config, campaign_id: str) -> None:
    from voicebot.store import hr as db

    async def main(store: Any) -> None:
        await db.mark_running(store, campaign_id)

    _with_store(cfg, main)
    typer.echo(f"campaign {campaign_id}: running; `voicebot worker` processes dial it")


def _dry_run(
    cfg: Config,
    campaign_id: str,
    store: Path | None,
    webhook: str | None,
    secret: str | None,
    limit: int,
    report_url: str | None,
) -> None:
    from voicebot.campaigns.dryrun import default_store, dry_run
    from voicebot.hr.webhooks import WebhookError, new_secret, sign
    from voicebot.store.db import StoreError

    if webhook is not None:
        if not webhook.startswith(("http://", "https://")):
            _fail(f"--webhook: {webhook!r} is not an http(s) URL")
        secret = secret or new_secret()
        try:
            sign(secret, "check", 0, b"")
        except WebhookError as e:
            _fail(str(e))
        typer.echo(f"webhooks to {webhook}, secret {secret}", err=True)
    path = store or default_store(cfg)
    try:
        result = asyncio.run(
            dry_run(cfg, campaign_id, store_path=path, webhook_url=webhook,
                    webhook_secret=secret, limit=limit, report_url=report_url or "")
        )  # fmt: skip
    except StoreError as e:
        _fail(str(e))
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    for r in result["interviews"]:
        score = "" if r["overall"] is None else f"{r['overall']:.1f} {r['recommendation']}"
        typer.echo(f"{r['id']}  {r['name'] or '-':24} {r['outcome'] or '-':10} {score}")
    hooks = ", ".join(f"{k} {v}" for k, v in result["webhooks"].items())
    typer.echo(f"dry run {result['campaign_id']}: {result['state']}; webhooks {hooks}")
    typer.echo(f"its store: {path}; read a report: VOICEBOT_STORE__PATH={path} voicebot report ID")
    if not report_url:
        typer.echo(f"its webhooks carry no report links; to serve them: VOICEBOT_STORE__PATH={path}"
                   " voicebot api --port 8081, and pass --report-url http://127.0.0.1:8081")


def worker(
    config: ConfigOpt = None,
    until_idle: Annotated[
        bool, typer.Option(help="Exit once no campaign is running (a batch), not on SIGTERM.")
    ] = False,
    lease_s: Annotated[
        float,
        typer.Option(min=1, help="A silent worker's calls are settled by the others after this."),
    ] = 30.0,
    simulate: SimulateOpt = None,
    seed: Annotated[int, typer.Option(hidden=True)] = 0,
    call_s: Annotated[float, typer.Option(hidden=True)] = 0.0,
    dial_log: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Dial every running campaign together with the other workers on the same store (any
    number of processes, on any machines); caps hold across all of them; SIGTERM stops it
    after its live calls."""
    from voicebot.campaigns.service import CallingUnavailable, Simulation, run_worker
    from voicebot.campaigns.worker import describe
    from voicebot.cli import stop_on_signals

    cfg = _config(config)
    sim = Simulation(simulate, seed, call_s, dial_log) if simulate else None

    async def main(_: Any) -> dict[str, str]:
        stop = asyncio.Event()
        stop_on_signals(stop)
        return await run_worker(
            cfg, simulate=sim, until_idle=until_idle, stop=stop, lease_s=lease_s
        )

    try:
        ended = _with_store(cfg, main)
    except (ValueError, CallingUnavailable) as e:
        _fail(str(e))
        raise
    typer.echo(f"worker: {describe(ended)}")


@campaign_app.command("resume")
def campaign_resume(
    campaign_id: str, config: ConfigOpt = None, simulate: SimulateOpt = None
) -> None:
    """Resume a paused campaign (dials in this process, like start)."""
    campaign_start(
        campaign_id, config, dry_run=False, dry_store=None, webhook=None, webhook_secret=None,
        candidates=2, simulate=simulate, seed=0, call_s=0.0, dial_log=None,
    )  # fmt: skip


@campaign_app.command("pause")
def campaign_pause(campaign_id: str, config: ConfigOpt = None) -> None:
    """Stop new calls; calls in progress finish. The running dialer exits once they have."""
    from voicebot.store import hr as db

    _with_store(_config(config), lambda s: db.set_campaign_state(s, campaign_id, "paused"))
    typer.echo(f"campaign {campaign_id}: paused")


async def _status(store: Any, campaign_id: str, targets: bool = False) -> dict[str, Any]:
    """The campaign as HR reads it: `stalled` when nobody dials it, the job's title, what it
    waits for, and (with `targets`) each candidate by name."""
    from voicebot.campaigns.liveness import shown_state
    from voicebot.campaigns.waits import describe_wait
    from voicebot.store import hr as db
    from voicebot.store import listing
    from voicebot.store.db import StoreError

    campaign = await db.get_campaign(store, campaign_id)
    if campaign is None:
        raise StoreError(f"campaign {campaign_id!r} does not exist")
    spec = await db.get_job_spec(store, campaign["job_id"]) or {}
    nxt = await listing.next_wait(store, campaign_id)
    out = {
        **shown_state(campaign),
        "job_title": spec.get("title"),
        "progress": await db.campaign_progress(store, campaign_id),
        "next_call": nxt and nxt["next_at"],
        "waiting": nxt and describe_wait(nxt["next_at"], nxt["reason"], nxt["timezone"]),
    }
    if targets:
        out["targets"] = await listing.campaign_targets(store, campaign_id)
    return out


@campaign_app.command("list")
def campaign_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Campaigns with their state (`stalled`: asked to run, but its dialler is gone)."""
    from voicebot.campaigns.liveness import shown_state
    from voicebot.store import hr as db

    rows = [shown_state(r) for r in _with_store(_config(config), db.list_campaigns)]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        title = r["job_title"] or r["job_id"]
        typer.echo(f"{r['id']}  {r['state']:8} {title:28} {r['name']}")


@campaign_app.command("status")
def campaign_status(
    campaign_id: str,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="Candidates listed (0: all).")] = 20,
) -> None:
    """Counts by outcome, what the campaign waits for, and each candidate by name."""
    from voicebot.campaigns.waits import describe_wait

    st = _with_store(_config(config), lambda s: _status(s, campaign_id, targets=True))
    if as_json:
        _echo_json(st)
        return
    p = st["progress"]
    title = st["job_title"] or st["job_id"]
    typer.echo(f"campaign {campaign_id} ({st['name']}, {title}): {st['state']}")
    if st["stalled_reason"]:
        typer.echo(f"  stalled: {st['stalled_reason']}; voicebot campaign resume {campaign_id}")
    typer.echo("  targets: " + ", ".join(f"{k} {v}" for k, v in sorted(p["by_status"].items())))
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(p["by_outcome"].items()))
    typer.echo(f"  outcomes: {outcomes or 'none yet'}")
    typer.echo(f"  attempts: {p['attempts']}")
    if st["waiting"]:
        typer.echo(f"  {st['waiting']}")
    shown = st["targets"] if limit <= 0 else st["targets"][:limit]
    for t in shown:
        pending = t["status"] == "pending"
        wait = describe_wait(t["next_at"], t["reason"], t["timezone"]) if pending else None
        detail = wait or t["reason"] or ""
        typer.echo(
            f"  {_name(t):24} {t['status']:11} {t['last_outcome'] or '-':10} "
            f"tries {t['attempts']}  {detail}"
        )
    if len(shown) < len(st["targets"]):
        typer.echo(f"  … and {len(st['targets']) - len(shown)} more (--limit 0 lists all)")


def _progress_line(st: dict[str, Any]) -> str:
    """One line of a campaign's progress: what `watch` prints when it changes."""
    p = st["progress"]
    finished = p["by_status"].get("done", 0) + p["by_status"].get("skipped", 0)
    parts = [f"{st['name']} [{st['state']}] {finished}/{p['total']} done"]
    if p["by_outcome"]:
        parts.append(", ".join(f"{k} {v}" for k, v in sorted(p["by_outcome"].items())))
    live = p["by_status"].get("in_progress", 0)
    if live:
        parts.append(f"{live} in progress")
    if st["waiting"] and st["state"] == "running":
        parts.append(st["waiting"])
    if st["stalled_reason"]:
        parts.append(st["stalled_reason"])
    return "; ".join(parts)


_WATCH_ENDS = ("done", "paused", "draft", "stalled")


@campaign_app.command("watch")
def campaign_watch(
    campaign_id: str,
    config: ConfigOpt = None,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 1.0,
    plain: Annotated[
        bool, typer.Option(help="One line per change (the default when not on a terminal).")
    ] = False,
) -> None:
    """Live progress until the campaign is done, paused or stalled; shows what it waits for
    (calling window, cool-down). Exit 1 when it stalled."""
    import sys

    async def lines(store: Any) -> str:
        last = ""
        while True:
            st = await _status(store, campaign_id)
            line = _progress_line(st)
            if line != last:
                typer.echo(f"{dt.datetime.now():%H:%M:%S}  {line}")
                last = line
            if st["state"] in _WATCH_ENDS:
                return str(st["state"])
            await asyncio.sleep(interval)

    async def live(store: Any) -> str:
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Table

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        task = bar.add_task(campaign_id, total=1)
        with Live(bar, refresh_per_second=4, transient=False) as view:
            while True:
                st = await _status(store, campaign_id)
                p = st["progress"]
                finished = p["by_status"].get("done", 0) + p["by_status"].get("skipped", 0)
                bar.update(task, completed=finished, total=max(p["total"], 1),
                           description=f"{st['name']} [{st['state']}]")  # fmt: skip
                table = Table("outcome", "candidates", box=None)
                for k, v in sorted(p["by_outcome"].items()):
                    table.add_row(k, str(v))
                table.add_row("in progress", str(p["by_status"].get("in_progress", 0)))
                extra = st["stalled_reason"] or (st["state"] == "running" and st["waiting"])
                view.update(Group(bar, table, *([str(extra)] if extra else [])))
                if st["state"] in _WATCH_ENDS:
                    return str(st["state"])
                await asyncio.sleep(interval)

    use_lines = plain or not sys.stdout.isatty()
    state = _with_store(_config(config), lines if use_lines else live)
    typer.echo(f"campaign {campaign_id}: {state}")
    if state == "stalled":
        typer.echo(f"resume it with: voicebot campaign resume {campaign_id}", err=True)
        raise typer.Exit(1)


# interviews -----------------------------------------------------------------------------------


@interviews_app.command("list")
def interviews_list(
    config: ConfigOpt = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's.")] = None,
    candidate: Annotated[str | None, typer.Option(help="Only this candidate's (cand_…).")] = None,
    job: Annotated[str | None, typer.Option(help="Only this job's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue after an earlier page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Interviews newest first with the candidate's name, the job title, outcome and score;
    the id is what `voicebot report ID` takes."""
    from voicebot.store import listing

    page = _with_store(
        _config(config),
        lambda s: listing.list_interviews(
            s, campaign_id=campaign, candidate_id=candidate, job_id=job, cursor=cursor,
            limit=limit,
        ),
    )  # fmt: skip
    if as_json:
        _echo_json({"items": page.items, "next_cursor": page.next_cursor})
        return
    for r in page.items:
        when = dt.datetime.fromtimestamp(r["started_at"]).strftime("%Y-%m-%d %H:%M")
        score = "" if r["overall"] is None else f"{r['overall']:.1f} {r['recommendation']}"
        typer.echo(
            f"{r['id']}  {when}  {_name(r):24} {(r['job_title'] or r['job_id'] or '-'):28} "
            f"{r['outcome'] or 'live':10} {score}"
        )
    if not page.items:
        typer.echo("no interviews", err=True)
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)


# tokens and webhooks --------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    role: Annotated[
        str, typer.Option(help="hr (everything), system (no campaign control), readonly (reads).")
    ],
    config: ConfigOpt = None,
    name: Annotated[str, typer.Option(help="Who the token is for.")] = "",
    expires: Annotated[
        str | None, typer.Option(help="Lifetime: 30d, 12h, 90m (default: never expires).")
    ] = None,
) -> None:
    """Create a bearer token; it is printed once and stored only as a hash."""
    from voicebot.hr.console.tokens import parse_duration
    from voicebot.store import accounts

    try:
        lifetime = None if expires is None else parse_duration(expires)
    except ValueError as e:
        _fail(str(e))
        raise
    _, token = _with_store(
        _config(config), lambda s: accounts.create_token(s, name or role, role, lifetime)
    )
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(config: ConfigOpt = None) -> None:
    """Every token: id, role, label, state, created, expires, last used (never the secret)."""
    from voicebot.hr.console.tokens import item
    from voicebot.store import accounts

    rows = [item(r) for r in _with_store(_config(config), accounts.list_tokens)]
    for r in rows:
        typer.echo(
            f"{r['id']}  {r['role']:<8}  {r['state']:<7}  {r['label']}  "
            f"created {r['created_at']}  expires {r['expires_at'] or 'never'}  "
            f"last used {r['last_used_at'] or 'never'}"
        )
    if not rows:
        typer.echo("no tokens", err=True)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str, config: ConfigOpt = None) -> None:
    """Revoke a token by id: it and the console sessions signed in with it stop at once."""
    from voicebot.store import accounts

    if not _with_store(_config(config), lambda s: accounts.revoke_token(s, token_id)):
        _fail(f"token {token_id!r} does not exist (voicebot tokens list)")
    typer.echo(f"revoked {token_id}")


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    config: ConfigOpt = None,
    events: Annotated[str, typer.Option(help="Comma-separated event types (default all).")] = "",
    secret: Annotated[str | None, typer.Option(help="whsec_… (default: a new one).")] = None,
) -> None:
    """Register an endpoint; prints its id and signing secret."""
    from voicebot.hr.webhooks import EVENT_TYPES, WebhookError, new_secret, sign
    from voicebot.store import hr as db

    types = [e.strip() for e in events.split(",") if e.strip()]
    bad = [e for e in types if e not in EVENT_TYPES]
    if bad:
        _fail(f"--events: {bad} unknown; choose from {', '.join(EVENT_TYPES)}")
    if not url.startswith(("http://", "https://")):
        _fail(f"url: {url!r} is not an http(s) URL")
    secret = secret or new_secret()
    try:
        sign(secret, "check", 0, b"")
    except WebhookError as e:
        _fail(str(e))
    eid = _with_store(_config(config), lambda s: db.add_endpoint(s, url, secret, types))
    typer.echo(f"endpoint {eid}\nsecret {secret}")


@webhooks_app.command("rotate")
def webhooks_rotate(endpoint_id: str, config: ConfigOpt = None) -> None:
    """New signing secret; the old one keeps signing for webhooks.rotation_overlap_s."""
    from voicebot.hr.webhooks import new_secret
    from voicebot.store import hr as db

    cfg = _config(config)
    secret = new_secret()
    _with_store(
        cfg, lambda s: db.rotate_secret(s, endpoint_id, secret, cfg.webhooks.rotation_overlap_s)
    )
    typer.echo(f"secret {secret}")


@webhooks_app.command("list")
def webhooks_list(
    config: ConfigOpt = None,
    state: Annotated[
        str | None, typer.Option(help="Only deliveries in this state (pending, failed, …).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Endpoints, then recent deliveries."""
    from voicebot.store import hr as db

    async def main(store: Any) -> dict[str, Any]:
        eps = await db.list_endpoints(store)
        for e in eps:
            e.pop("secret"), e.pop("old_secret")
        return {"endpoints": eps, "deliveries": await db.list_deliveries(store, state=state)}

    data = _with_store(_config(config), main)
    if as_json:
        _echo_json(data)
        return
    for e in data["endpoints"]:
        status = "enabled" if e["enabled"] else f"DISABLED ({e['disabled_reason']})"
        typer.echo(f"{e['id']}  {e['url']}  {status}")
    for d in data["deliveries"]:
        when = dt.datetime.fromtimestamp(d["created_at"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        last = d["last_status"] or d["last_error"] or ""
        typer.echo(
            f"{d['event_id']}  {d['type']:28} {d['state']:9} tries {d['attempts']}  {when}  {last}"
        )


@webhooks_app.command("replay")
def webhooks_replay(
    event_id: Annotated[str | None, typer.Argument(help="One webhook-id (msg_…).")] = None,
    config: ConfigOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Every event since this ISO time (2026-01-31T09:00).")
    ] = None,
) -> None:
    """Queue deliveries again (and re-enable their endpoints); the sender picks them up."""
    from voicebot.store import hr as db

    if (event_id is None) == (since is None):
        _fail("give an event id or --since, not both")
    t0 = None
    if since is not None:
        try:
            t0 = dt.datetime.fromisoformat(since).timestamp()
        except ValueError:
            _fail(f"--since: {since!r} is not an ISO date-time")
    n = _with_store(_config(config), lambda s: db.replay(s, event_id=event_id, since=t0))
    typer.echo(f"{n} deliveries queued")


@webhooks_app.command("test")
def webhooks_test(endpoint_id: str, config: ConfigOpt = None) -> None:
    """Queue a signed webhook.test event for this endpoint alone (and re-enable it)."""
    from voicebot.store import endpoints

    payload = {"endpoint_id": endpoint_id, "message": "voicebot webhook test"}
    eid = _with_store(_config(config), lambda s: endpoints.send_test(s, endpoint_id, payload))
    typer.echo(f"test event {eid} queued")


@webhooks_app.command("backfill")
def webhooks_backfill(
    endpoint_id: str,
    config: ConfigOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Events since this ISO time (default: all of them).")
    ] = None,
) -> None:
    """Queue the earlier events this endpoint wants and never got, in order, same ids."""
    from voicebot.store import endpoints

    t0 = 0.0
    if since is not None:
        try:
            t0 = dt.datetime.fromisoformat(since).timestamp()
        except ValueError:
            _fail(f"--since: {since!r} is not an ISO date-time")
    n = _with_store(_config(config), lambda s: endpoints.backfill(s, endpoint_id, since=t0))
    typer.echo(f"{n} deliveries queued for {endpoint_id}")


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: str, config: ConfigOpt = None) -> None:
    """Delete an endpoint; its pending deliveries are cancelled."""
    from voicebot.store import endpoints

    n = _with_store(_config(config), lambda s: endpoints.remove_endpoint(s, endpoint_id))
    typer.echo(f"endpoint {endpoint_id} removed; {n} pending deliveries cancelled")


@webhooks_app.command("listen")
def webhooks_listen(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any).")],
    secret: Annotated[
        str | None,
        typer.Option(
            help="The endpoint's whsec_… (default: a new one, printed; give it to "
            "voicebot webhooks add URL --secret …)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    as_json: JsonOpt = False,
) -> None:
    """Receive webhooks and print each verified delivery (standardwebhooks); try voicebot
    before an ATS is wired up. Unverified deliveries get 401 and a line on stderr."""
    from voicebot.hr.listen import listen
    from voicebot.hr.webhooks import WebhookError, new_secret, sign

    secret = secret or new_secret()
    try:
        sign(secret, "check", 0, b"")
    except WebhookError as e:
        _fail(str(e))

    def ready(url: str) -> None:
        typer.echo(f"listening on {url}  secret {secret}", err=True)
        typer.echo(f"add it with: voicebot webhooks add {url} --secret {secret}", err=True)

    def out(line: str) -> None:
        typer.echo(line)

    def err(line: str) -> None:
        typer.echo(line, err=True)

    try:
        asyncio.run(listen(secret, host, port, out, err, as_json=as_json, ready=ready))
    except OSError as e:
        _fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@webhooks_app.command("deliver")
def webhooks_deliver(
    config: ConfigOpt = None,
    until_empty: Annotated[bool, typer.Option(help="Exit when nothing is due.")] = False,
) -> None:
    """Run the webhook sender (the API server and campaign runs also run one)."""
    from voicebot.hr.webhooks import WebhookSender

    cfg = _config(config)

    async def main(store: Any) -> int:
        async with WebhookSender(store, cfg.webhooks) as sender:
            if until_empty:
                while await sender.deliver_due():
                    pass
            else:
                await sender.run()
            return sender.delivered

    typer.echo(f"{_with_store(cfg, main)} delivered")


# analytics and the API server -----------------------------------------------------------------


@analytics_app.command("validity")
def analytics_validity(job: JobOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Correlation of each competency with hiring and performance; suggested weights."""
    from voicebot.hr.analytics import load_interviewed, validity
    from voicebot.hr.importer import load_stored_job

    async def main(store: Any) -> dict[str, Any]:
        job_def = await load_stored_job(store, job)
        weights = {c.id: getattr(c, "weight", 1.0) for c in getattr(job_def, "competencies", ())}
        return validity(await load_interviewed(store, job), weights)

    data = _with_store(_config(config), main)
    if as_json:
        _echo_json(data)
        return
    typer.echo(
        f"{data['candidates']} interviewed candidates (r acted on from {data['min_pairs']} pairs)"
    )
    for c in data["competencies"]:
        typer.echo(
            f"{c['competency']:24} r(hired) {_fmt(c['r_hired'])} n={c['n_hired']:<4} "
            f"r(perf) {_fmt(c['r_performance'])} n={c['n_performance']:<4} "
            f"weight {c['weight']:g} -> {_fmt(c['suggested_weight'])}  {c['note']}"
        )


@analytics_app.command("adverse-impact")
def analytics_adverse_impact(
    job: JobOpt,
    config: ConfigOpt = None,
    category: Annotated[str | None, typer.Option(help="Only this category (e.g. sex).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Selection and scoring rates per self-reported group; four-fifths and LL144 ratios."""
    from voicebot.hr.analytics import adverse_impact, load_interviewed

    async def main(store: Any) -> dict[str, Any]:
        return adverse_impact(await load_interviewed(store, job), category)

    data = _with_store(_config(config), main)
    if as_json:
        _echo_json(data)
        return
    typer.echo(f"{data['candidates']} interviewed candidates; median score {data['median_score']}")
    for cat, groups in data["categories"].items():
        typer.echo(f"\n{cat}")
        for g in groups:
            note = "too small to judge" if g["too_small"] else (
                "below four-fifths" if g["four_fifths_flag"] else "")  # fmt: skip
            typer.echo(
                f"  {g['group']:24} n={g['n']:<5} selection {_fmt(g['selection_rate'])} "
                f"ratio {_fmt(g['impact_ratio'])}  scoring rate {_fmt(g['scoring_rate'])} "
                f"ratio {_fmt(g['scoring_impact_ratio'])}  {note}"
            )


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def api(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Default: api.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: api.port.")] = None,
    to_workers: Annotated[
        bool,
        typer.Option(
            "--to-workers",
            help="A campaign started here is dialled by `voicebot worker` processes, not by "
            "this one.",
        ),
    ] = False,
) -> None:
    """Serve the HR API (and deliver webhooks) with uvicorn."""
    from voicebot.hr.server import serve
    from voicebot.store.db import StoreError

    cfg = _config(config)
    try:
        asyncio.run(serve(cfg, host=host or cfg.api.host, port=port or cfg.api.port,
                          to_workers=to_workers))  # fmt: skip
    except StoreError as e:  # an API on a store it cannot use would answer 500 to everything
        _fail(str(e))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
