"""The HR web console under /console/ of `voicebot api`: server-rendered pages, plain HTML forms
(no JavaScript needed), its stylesheet served from the package.

Sign-in takes an `hr` or `readonly` API token; the browser keeps only a random session id in an
HttpOnly, SameSite=Strict cookie (its hash and the session's CSRF token are in the store), and
every POST form carries the CSRF token. A readonly session sees no write forms and gets 403 on
any POST but sign-out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from voicebot.campaigns.liveness import shown_state
from voicebot.config import Config
from voicebot.hr import share
from voicebot.hr.console.dry import MAX_CANDIDATES, DryRunner
from voicebot.hr.importer import CandidateFileError, ReadOptions, _parse_file, import_candidates
from voicebot.hr.tables import saved_mappings
from voicebot.store import Store, accounts
from voicebot.store import hr as db
from voicebot.store.accounts import Caller
from voicebot.store.listing import MAX_LIMIT, campaign_targets, list_interviews

COOKIE = "vb_console"
PRE_COOKIE = "vb_console_pre"  # the sign-in form's CSRF pair, before there is a session
PREFIX = "/console"
_HERE = Path(__file__).parent
_MAX_UPLOADS = 32  # previews kept in memory, oldest dropped first

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(t: float | None) -> str:
    if t is None:
        return "—"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


_env.filters["when"] = _when


@dataclass(frozen=True, slots=True)
class Ctx:
    sid: str
    caller: Caller
    csrf: str

    @property
    def can_write(self) -> bool:
        return self.caller.role == "hr"


@dataclass(slots=True)
class _Upload:
    sid: str
    job_id: str
    filename: str
    raw: bytes


def _page(name: str, ctx: Ctx | None, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(name).render(ctx=ctx, prefix=PREFIX, **values)
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})


def _missing(ctx: Ctx, what: str) -> HTMLResponse:
    return _page("error.html", ctx, 404, message=f"{what} does not exist.")


def _mask(phone: str | None) -> str:
    return "—" if not phone else "…" + phone[-2:]


def add_routes(app: FastAPI, store: Store, cfg: Config) -> None:
    """Mount the console's pages and its static files on the API app."""
    uploads: OrderedDict[str, _Upload] = OrderedDict()
    mode = cfg.compliance.mode
    secure = cfg.api.public_url.startswith("https://")
    app.mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="console-static")
    from voicebot.campaigns.dryrun import default_store

    dry_runs = DryRunner(cfg, store, default_store(cfg))
    app.router.on_shutdown.append(dry_runs.close)

    async def current(request: Request) -> Ctx | None:
        sid = request.cookies.get(COOKIE)
        if not sid:
            return None
        found = await accounts.session(store, sid)
        return None if found is None else Ctx(sid, found[0], found[1])

    def signin_redirect() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/signin", 303)

    async def posted(request: Request, *, write: bool = True) -> tuple[Ctx, Mapping[str, Any]]:
        """The signed-in caller and the form, once its CSRF token and the role allow it."""
        ctx = await current(request)
        if ctx is None:
            raise _Stop(signin_redirect())
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), ctx.csrf):
            raise _Stop(_page("error.html", ctx, 403, message="The form expired: reload the page."))
        if write and not ctx.can_write:
            raise _Stop(_page("error.html", ctx, 403, message="A readonly token only reads."))
        return ctx, form

    async def signed_in(request: Request) -> Ctx:
        ctx = await current(request)
        if ctx is None:
            raise _Stop(signin_redirect())
        return ctx

    @app.exception_handler(_Stop)
    async def stop(_: Request, e: _Stop) -> Response:
        return e.response

    # sign-in ----------------------------------------------------------------------------------

    @app.get(f"{PREFIX}", include_in_schema=False)
    @app.get(f"{PREFIX}/", include_in_schema=False)
    async def home(request: Request) -> Response:
        ctx = await current(request)
        return RedirectResponse(f"{PREFIX}/reviews" if ctx else f"{PREFIX}/signin", 303)

    @app.get(f"{PREFIX}/signin", include_in_schema=False)
    async def signin_form(request: Request, error: str = "") -> Response:
        pre = secrets.token_urlsafe(24)
        page = _page("signin.html", None, 401 if error else 200, csrf=pre, error=error)
        page.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=secure,
                        path=PREFIX, max_age=3600)  # fmt: skip
        return page

    @app.post(f"{PREFIX}/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = await request.form()
        pre = request.cookies.get(PRE_COOKIE, "")
        if not pre or not secrets.compare_digest(str(form.get("csrf", "")), pre):
            return await signin_form(request, "The sign-in form expired: try again.")
        token = str(form.get("token", "")).strip()
        opened = await accounts.open_session(store, token) if token else None
        if opened is None:
            return await signin_form(request, "Unknown, revoked or expired token.")
        sid, caller = opened
        if caller.role == "system":
            await accounts.close_session(store, sid)
            return await signin_form(request, "A system token is for machines: use an hr token.")
        out = RedirectResponse(f"{PREFIX}/reviews", 303)
        out.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure,
                       path=PREFIX, max_age=int(accounts.SESSION_TTL_S))  # fmt: skip
        out.delete_cookie(PRE_COOKIE, path=PREFIX)
        return out

    @app.post(f"{PREFIX}/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        ctx, _ = await posted(request, write=False)
        await accounts.close_session(store, ctx.sid)
        out = RedirectResponse(f"{PREFIX}/signin", 303)
        out.delete_cookie(COOKIE, path=PREFIX)
        return out

    # jobs and candidates ----------------------------------------------------------------------

    @app.get(f"{PREFIX}/jobs", include_in_schema=False)
    async def jobs(request: Request) -> Response:
        ctx = await signed_in(request)
        return _page("jobs.html", ctx, jobs=await db.list_jobs(store))

    @app.get(f"{PREFIX}/jobs/{{job_id}}", include_in_schema=False)
    async def job(request: Request, job_id: str) -> Response:
        ctx = await signed_in(request)
        spec = await db.get_job_spec(store, job_id)
        if spec is None:
            return _missing(ctx, f"Job {job_id}")
        return _page("job.html", ctx, job=spec)

    @app.get(f"{PREFIX}/candidates", include_in_schema=False)
    async def candidates(request: Request, job_id: str = "") -> Response:
        ctx = await signed_in(request)
        rows = await db.list_candidates(store, job_id or None)
        return _page("candidates.html", ctx, candidates=rows, jobs=await db.list_jobs(store),
                     job_id=job_id, mask=_mask)  # fmt: skip

    @app.get(f"{PREFIX}/import", include_in_schema=False)
    async def import_form(request: Request) -> Response:
        ctx = await signed_in(request)
        if not ctx.can_write:
            return _page("error.html", ctx, 403, message="A readonly token only reads.")
        return _page("import.html", ctx, jobs=await db.list_jobs(store), error="")

    @app.post(f"{PREFIX}/import", include_in_schema=False)
    async def import_preview(request: Request) -> Response:
        """Check every row and show the accepted and rejected ones; nothing is stored yet."""
        ctx, form = await posted(request)
        job_id = str(form.get("job_id", ""))
        upload = form.get("file")
        all_jobs = await db.list_jobs(store)
        if await db.get_job_spec(store, job_id) is None:
            return _page("import.html", ctx, 422, jobs=all_jobs, error="Choose a job.")
        if upload is None or isinstance(upload, str) or not upload.filename:
            return _page("import.html", ctx, 422, jobs=all_jobs, error="Choose a file.")
        raw = await upload.read()
        name = Path(upload.filename).name
        try:
            report, good, _ = await asyncio.to_thread(
                _parse_file, Path(name), raw, job_id, cfg.campaigns.default_region,
                ReadOptions(), await saved_mappings(store),
            )  # fmt: skip
        except CandidateFileError as e:
            return _page("import.html", ctx, 422, jobs=all_jobs, error=str(e))
        uid = secrets.token_urlsafe(16)
        uploads[uid] = _Upload(ctx.sid, job_id, name, raw)
        while len(uploads) > _MAX_UPLOADS:
            uploads.popitem(last=False)
        return _page("preview.html", ctx, upload_id=uid, job_id=job_id, filename=name,
                     good=good, errors=report.errors, mask=_mask)  # fmt: skip

    @app.post(f"{PREFIX}/import/commit", include_in_schema=False)
    async def import_commit(request: Request) -> Response:
        ctx, form = await posted(request)
        upload = uploads.get(str(form.get("upload_id", "")))
        if upload is None or upload.sid != ctx.sid:
            return _page("error.html", ctx, 410, message="That preview is gone: upload again.")
        del uploads[str(form["upload_id"])]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / upload.filename
            path.write_bytes(upload.raw)
            try:
                report = await import_candidates(
                    store, path, upload.job_id, region=cfg.campaigns.default_region
                )
            except CandidateFileError as e:
                why = str(e).replace(str(path), upload.filename)
                return _page("error.html", ctx, 422, message=why)
        return _page("imported.html", ctx, report=report, job_id=upload.job_id,
                     filename=upload.filename)  # fmt: skip

    # campaigns --------------------------------------------------------------------------------

    @app.get(f"{PREFIX}/campaigns", include_in_schema=False)
    async def campaigns(request: Request, error: str = "") -> Response:
        ctx = await signed_in(request)
        rows = [shown_state(c) for c in await db.list_campaigns(store)]
        progress = {c["id"]: await db.campaign_progress(store, c["id"]) for c in rows}
        return _page("campaigns.html", ctx, 422 if error else 200, campaigns=rows,
                     progress=progress, jobs=await db.list_jobs(store), error=error)  # fmt: skip

    @app.post(f"{PREFIX}/campaigns", include_in_schema=False)
    async def create_campaign(request: Request) -> Response:
        """A draft over the job's callable candidates, with the configured campaign defaults."""
        from voicebot.campaigns.settings import settings_from_config

        _, form = await posted(request)
        job_id = str(form.get("job_id", ""))
        name = str(form.get("name", "")).strip()[:200]
        if await db.get_job_spec(store, job_id) is None:
            return await campaigns(request, error=f"Job {job_id!r} does not exist.")
        settings = settings_from_config(cfg.campaigns).to_dict()
        cid, _ = await db.create_campaign(store, name=name or job_id, job_id=job_id,
                                          settings=settings)  # fmt: skip
        return RedirectResponse(f"{PREFIX}/campaigns/{cid}", 303)

    @app.get(f"{PREFIX}/campaigns/{{campaign_id}}", include_in_schema=False)
    async def campaign(request: Request, campaign_id: str, error: str = "") -> Response:
        ctx = await signed_in(request)
        found = await db.get_campaign(store, campaign_id)
        if found is None:
            return _missing(ctx, f"Campaign {campaign_id}")
        return _page("campaign.html", ctx, 422 if error else 200, campaign=shown_state(found),
                     progress=await db.campaign_progress(store, campaign_id),
                     targets=await campaign_targets(store, campaign_id),
                     now=time.time(), error=error, max_dry=MAX_CANDIDATES,
                     dry_running=dry_runs.running)  # fmt: skip

    @app.post(f"{PREFIX}/campaigns/{{campaign_id}}/dry-run", include_in_schema=False)
    async def start_dry_run(request: Request, campaign_id: str) -> Response:
        """Scripted candidates, the real call path, a separate store (campaigns/dryrun.py)."""
        ctx, form = await posted(request)
        found = await db.get_campaign(store, campaign_id)
        if found is None:
            return _missing(ctx, f"Campaign {campaign_id}")
        try:
            count = int(str(form.get("candidates", "1")) or 1)
            await dry_runs.start(found, count, str(form.get("webhook", "")),
                                 str(form.get("secret", "")))  # fmt: skip
        except ValueError as e:
            why = str(e) if "invalid literal" not in str(e) else "candidates: a whole number"
            return await campaign(request, campaign_id, error=why)
        return RedirectResponse(f"{PREFIX}/dry-run", 303)

    @app.get(f"{PREFIX}/dry-run", include_in_schema=False)
    async def dry_run_page(request: Request) -> Response:
        ctx = await signed_in(request)
        run, rows, hooks = dry_runs.current, [], {}
        if run is not None and run.result is not None and dry_runs.store is not None:
            rows = (await list_interviews(dry_runs.store, campaign_id=run.result["campaign_id"],
                                          limit=MAX_LIMIT)).items  # fmt: skip
            hooks = await db.delivery_counts(dry_runs.store)
        return _page("dry_run.html", ctx, run=run, interviews=rows, hooks=hooks,
                     now=time.time())  # fmt: skip

    # interviews and reviews -------------------------------------------------------------------

    @app.get(f"{PREFIX}/interviews", include_in_schema=False)
    async def interviews(
        request: Request, campaign_id: str = "", candidate_id: str = "", outcome: str = ""
    ) -> Response:
        ctx = await signed_in(request)
        page = await list_interviews(
            store, campaign_id=campaign_id or None, candidate_id=candidate_id or None,
            limit=MAX_LIMIT,
        )  # fmt: skip
        rows = [r for r in page.items if not outcome or r["outcome"] == outcome]
        return _page("interviews.html", ctx, interviews=rows, campaign_id=campaign_id,
                     candidate_id=candidate_id, outcome=outcome,
                     campaigns=await db.list_campaigns(store),
                     candidates=await db.list_candidates(store),
                     outcomes=sorted({r["outcome"] for r in page.items if r["outcome"]}),
                     more=page.next_cursor is not None)  # fmt: skip

    async def _interview(st: Store, call_id: str) -> dict[str, Any] | None:
        call = await st.get_call(call_id)
        if call is None:
            return None
        out = dict(call)
        cand = await db.get_candidate(st, call["candidate_id"]) if call["candidate_id"] else None
        out["name"] = (cand or {}).get("name")
        return out

    def interview_pages(base: str, store_of: Callable[[], Store | None], dry: bool) -> None:
        """An interview's page, report, recording and review form under `base`: the real
        store's, and the finished dry run's (the same pages, told apart by a banner)."""

        def opened(ctx: Ctx) -> Store:
            st = store_of()
            if st is None:
                raise _Stop(_page("error.html", ctx, 404, message="No finished dry run."))
            return st

        async def interview(request: Request, call_id: str, error: str = "") -> Response:
            ctx = await signed_in(request)
            st = opened(ctx)
            call = await _interview(st, call_id)
            if call is None:
                return _missing(ctx, f"Interview {call_id}")
            from voicebot.store.reports import get_report

            report = await get_report(st, call_id)
            queue = {r["call_id"]: r for r in await accounts.review_queue(st, mode)}
            requested = bool(queue.get(call_id, {}).get("requested"))
            return _page("interview.html", ctx, 422 if error else 200, call=call, report=report,
                         decisions=await accounts.decisions(st, call_id), mode=mode,
                         awaiting=call_id in queue, requested=requested, base=base, dry=dry,
                         error=error, choices=accounts.DECISIONS)  # fmt: skip

        async def report(request: Request, call_id: str) -> Response:
            ctx = await signed_in(request)
            from voicebot.scoring.pipeline import report_page

            html = await report_page(opened(ctx), call_id, recordings_dir=cfg.api.recordings_dir)
            if html is None:
                why = f"Interview {call_id} has no report yet."
                return _page("error.html", ctx, 404, message=why)
            return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})

        async def recording(request: Request, call_id: str) -> Response:
            ctx = await signed_in(request)
            path = await share.recording_file(opened(ctx), cfg, call_id)
            return FileResponse(path, media_type="audio/wav")

        async def decide(request: Request, call_id: str) -> Response:
            """advance / reject / hold with a reason; queued as `review.decided` for the ATS."""
            ctx, form = await posted(request)
            st = opened(ctx)
            if await st.get_call(call_id) is None:
                return _missing(ctx, f"Interview {call_id}")
            try:
                await accounts.decide(st, call_id, str(form.get("decision", "")),
                                      str(form.get("reason", "")), ctx.caller, mode,
                                      {"dry_run": True} if dry else None)  # fmt: skip
            except ValueError as e:
                return await interview(request, call_id, error=str(e))
            if dry:
                dry_runs.wake()
            return RedirectResponse(f"{base}/{call_id}?decided=1", 303)

        async def request_review(request: Request, call_id: str) -> Response:
            ctx, _ = await posted(request)
            st = opened(ctx)
            if await st.get_call(call_id) is None:
                return _missing(ctx, f"Interview {call_id}")
            await accounts.request_review(st, call_id, f"console:{ctx.caller.token_id}")
            return RedirectResponse(f"{base}/{call_id}", 303)

        for path, endpoint, methods in (
            ("/{call_id}", interview, ["GET"]),
            ("/{call_id}/report.html", report, ["GET"]),
            ("/{call_id}/recording", recording, ["GET"]),
            ("/{call_id}/decision", decide, ["POST"]),
            ("/{call_id}/request-review", request_review, ["POST"]),
        ):
            app.add_api_route(base + path, endpoint, methods=methods, include_in_schema=False)

    interview_pages(f"{PREFIX}/interviews", lambda: store, dry=False)
    interview_pages(f"{PREFIX}/dry-run/interviews", lambda: dry_runs.store, dry=True)

    @app.get(f"{PREFIX}/reviews", include_in_schema=False)
    async def reviews(request: Request) -> Response:
        ctx = await signed_in(request)
        queue = await accounts.review_queue(store, mode)
        names = {}  # only the queued candidates' names are decrypted, not everyone's
        for cid in {r["candidate_id"] for r in queue if r["candidate_id"]}:
            found = await db.get_candidate(store, cid)
            names[cid] = found.get("name") if found else None
        return _page("reviews.html", ctx, queue=queue, names=names, mode=mode)

    # tokens -----------------------------------------------------------------------------------

    @app.get(f"{PREFIX}/tokens", include_in_schema=False)
    async def tokens(request: Request) -> Response:
        ctx = await signed_in(request)
        if not ctx.can_write:  # as GET /tokens: who holds which token is for hr only
            return _page("error.html", ctx, 403, message="Tokens are managed with an hr token.")
        return _page("tokens.html", ctx, tokens=await accounts.list_tokens(store), now=time.time())

    @app.post(f"{PREFIX}/tokens/{{token_id}}/revoke", include_in_schema=False)
    async def revoke(request: Request, token_id: str) -> Response:
        ctx, _ = await posted(request)
        if not await accounts.revoke_token(store, token_id):
            return _missing(ctx, f"Token {token_id}")
        if token_id == ctx.caller.token_id:
            return signin_redirect()
        return RedirectResponse(f"{PREFIX}/tokens", 303)


class _Stop(Exception):
    """Answer a console request early with this response (sign-in redirect, 403 page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response
