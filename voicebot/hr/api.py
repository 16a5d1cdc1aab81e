"""The HTTP API for HR systems (FastAPI; OpenAPI at /openapi.json, docs at /docs).

Bearer tokens are stored hashed (`voicebot tokens create --role hr|system`); both roles read and
push jobs, candidates and outcomes, only `hr` starts and pauses campaigns. Every validation
error is a 422 naming the field (`loc`) and the reason (`msg`).
"""

# no `from __future__ import annotations`: FastAPI must resolve the route-local `Auth` aliases
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError

from voicebot.campaigns.liveness import shown_state
from voicebot.campaigns.service import CallingUnavailable
from voicebot.campaigns.settings import SettingsError, parse_settings
from voicebot.config import Config
from voicebot.hr import docs, endpoints_api, greenhouse, share
from voicebot.hr.bodies import SafeJSONRoute, invalid, responses
from voicebot.hr.console import app as console
from voicebot.hr.console import tokens as token_routes
from voicebot.hr.importer import parse_candidate
from voicebot.interview.plan import Job, JobError, field_lines, parse_job
from voicebot.safeload import DocumentError, decode_text, load_json, load_yaml
from voicebot.store import Store, accounts
from voicebot.store import hr as db
from voicebot.store.db import StoreError, store_unready
from voicebot.store.hr import CandidateRecord
from voicebot.store.listing import MAX_LIMIT, CursorError, list_interviews

# (campaign id) -> start dialling it in this process (or somewhere else)
CampaignLauncher = Callable[[str], Awaitable[None]]

_bearer = HTTPBearer(auto_error=False)
_T = TypeVar("_T")


class CandidatesIn(BaseModel):
    candidates: list[dict[str, Any]] = Field(min_length=1)


class CampaignIn(BaseModel):
    job_id: str = Field(min_length=1)
    name: str = ""
    candidate_ids: list[str] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class OutcomeIn(BaseModel):
    candidate_id: str | None = Field(default=None, min_length=1)
    external_id: str | None = Field(
        default=None, min_length=1, description="The ATS's id, instead of candidate_id"
    )
    job_id: str | None = Field(default=None, min_length=1, description="With external_id")
    hired: bool | None = None
    performance: float | None = Field(default=None, ge=1, le=5, allow_inf_nan=False)
    note: str | None = Field(default=None, max_length=2000)


class JobCreated(BaseModel):
    id: str
    created: bool


class CandidatesAdded(BaseModel):
    inserted: int
    updated: int
    ids: list[str]


class CampaignCreated(BaseModel):
    id: str
    targets: int
    state: str


class CampaignState(BaseModel):
    id: str
    state: str
    dialer: bool | None = None


class InterviewItem(BaseModel):
    id: str
    job_id: str | None
    job_title: str | None
    candidate_id: str | None
    name: str | None = Field(description="The candidate's name (decrypted for the caller)")
    campaign_id: str | None
    direction: str
    started_at: str = Field(description="ISO 8601, UTC")
    answered_at: str | None
    ended_at: str | None
    outcome: str | None
    overall: float | None
    recommendation: str | None


class InterviewPage(BaseModel):
    items: list[InterviewItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last")


def _iso(t: float | None) -> str | None:
    import datetime as dt

    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


class OutcomeRecorded(BaseModel):
    candidate_id: str
    recorded: bool


_invalid = invalid
_JOB_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/yaml": {"schema": {"type": "object"}},
}}}  # fmt: skip
_CANDIDATES_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": CandidatesIn.model_json_schema()},
}}}  # fmt: skip


def _job_from_body(raw: bytes, content_type: str) -> tuple[Job, dict[str, Any]]:
    """Parse and validate a job body (CPU work on up to max_body_bytes: run off the loop)."""
    try:
        if "yaml" in content_type:
            spec, node = load_yaml(raw, "body")
        else:
            spec, node = load_json(decode_text(raw, "body"), "body"), None
    except DocumentError as e:
        at = f"line {e.line}: " if e.line else ""
        raise _invalid([([], f"not valid JSON or YAML: {at}{e.why}")]) from None
    try:
        job = parse_job(spec, source="body", lines=field_lines(node))
    except JobError as e:
        raise _invalid([(e.field.replace("]", "").replace("[", ".").split("."), e.why)]) from None
    return job, {**spec, "id": job.id}


def _candidates_from_body(data: Any, job_id: str, region: str) -> list[CandidateRecord]:
    """All or nothing: every row checked, one 422 naming each bad one (off the loop: 100 000
    rows take seconds of phonenumbers work)."""
    try:
        body = CandidatesIn.model_validate(data)
    except ValidationError as e:
        raise _invalid([(list(err["loc"]), err["msg"]) for err in e.errors()]) from None
    records, errors = [], []
    for i, row in enumerate(body.candidates):
        try:
            records.append(parse_candidate(row, job_id, region))
        except ValueError as e:
            field, why = _split_reason(str(e))
            errors.append((["candidates", i, *([field] if field else [])], why))
    if errors:
        raise _invalid(errors)
    return records


def _or_404(found: _T | None, what: str) -> _T:
    if found is None:
        raise HTTPException(404, f"{what} not found")
    return found


def _split_reason(reason: str) -> tuple[str, str]:
    field, sep, why = reason.partition(": ")
    return (field, why) if sep and " " not in field else ("", reason)


def create_app(
    store: Store, cfg: Config | None = None, *, launcher: CampaignLauncher | None = None
) -> FastAPI:
    """The API over an open store; `launcher` starts a campaign's dialer when one is started."""
    cfg = cfg or Config()
    app = FastAPIOffline(  # /docs and /redoc with Swagger UI and ReDoc served from here
        title="voicebot HR API",
        version="1",
        description="Jobs, candidates, campaigns, interviews and hiring outcomes.",
        max_body_size=cfg.api.max_body_bytes,
        swagger_ui_parameters={"validatorUrl": None},  # the validator badge calls out
        redoc_url=None,  # served by voicebot.hr.docs: the bundle's logo came from a CDN
    )
    docs.add_redoc(app)
    app.router.route_class = SafeJSONRoute

    async def role(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        found = await accounts.authenticate(store, creds.credentials)
        if found is None:
            why = "unknown, revoked or expired token"
            raise HTTPException(401, why, {"WWW-Authenticate": "Bearer"})
        if found.role == "readonly" and request.method not in ("GET", "HEAD", "OPTIONS"):
            raise HTTPException(403, "a readonly token only reads")
        return found.role

    async def hr_role(r: Annotated[str, Depends(role)]) -> str:
        if r != "hr":
            raise HTTPException(403, "campaign control needs an hr token")
        return r

    Auth = Annotated[str, Depends(role)]
    HrAuth = Annotated[str, Depends(hr_role)]

    @app.exception_handler(StoreError)
    async def store_error(_: Request, e: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=409)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        """Readiness: the store answers within 2 s (a load balancer sends no traffic before)."""
        why = await store_unready(store)
        if why:
            return JSONResponse({"status": "unavailable", "reason": why}, status_code=503)
        return JSONResponse({"status": "ready"})

    # jobs -------------------------------------------------------------------------------------

    @app.post(
        "/jobs", status_code=201, response_model=JobCreated, openapi_extra=_JOB_BODY,
        responses=responses(401, 403, 409, 413, 422),
    )  # fmt: skip
    async def put_job(request: Request, _: Auth) -> dict[str, Any]:
        """A job as JSON, or as YAML (the job file itself; YAML keeps integer keys such as
        anchor levels, which JSON objects cannot)."""
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        job, spec = await asyncio.to_thread(_job_from_body, raw, ctype)
        created = await db.upsert_job(store, job.id, job.title, spec)
        return {"id": job.id, "created": created}

    @app.get("/jobs", responses=responses(401))
    async def jobs(_: Auth) -> list[dict[str, Any]]:
        return await db.list_jobs(store)

    @app.get("/jobs/{job_id}", responses=responses(401, 404))
    async def job(job_id: str, _: Auth) -> dict[str, Any]:
        return _or_404(await db.get_job_spec(store, job_id), f"job {job_id}")

    # candidates -------------------------------------------------------------------------------

    @app.post(
        "/jobs/{job_id}/candidates", response_model=CandidatesAdded,
        openapi_extra=_CANDIDATES_BODY, responses=responses(401, 403, 404, 409, 413, 422),
    )  # fmt: skip
    async def add_candidates(job_id: str, request: Request, _: Auth) -> dict[str, Any]:
        """All or nothing: one bad candidate is a 422 naming it, and nothing is stored."""
        if await db.get_job_spec(store, job_id) is None:
            raise HTTPException(404, f"job {job_id} not found")
        data = await request.json()  # parsed off the loop when big (SafeJSONRoute)
        region = cfg.campaigns.default_region
        records = await asyncio.to_thread(_candidates_from_body, data, job_id, region)
        ids: list[str] = []  # by the ATS's external_id where given, else by job + number
        inserted, updated = await db.upsert_candidates(store, records, ids)
        return {"inserted": inserted, "updated": updated, "ids": ids}

    @app.get("/jobs/{job_id}/candidates", responses=responses(401))
    async def candidates(job_id: str, _: Auth) -> list[dict[str, Any]]:
        return await db.list_candidates(store, job_id)

    @app.get("/candidates", responses=responses(401, 422))
    async def find_candidates(
        _: Auth,
        external_id: Annotated[str, Query(min_length=1, max_length=200)],
        job_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    ) -> list[dict[str, Any]]:
        """The candidates the ATS knows by its own id: one per job they applied to."""
        return await db.find_candidates(store, external_id, job_id)

    @app.get("/candidates/{candidate_id}", responses=responses(401, 404))
    async def candidate(candidate_id: str, _: Auth) -> dict[str, Any]:
        return _or_404(await db.get_candidate(store, candidate_id), f"candidate {candidate_id}")

    @app.delete("/candidates/{candidate_id}", responses=responses(401, 403, 404))
    async def erase_candidate(candidate_id: str, role: HrAuth) -> dict[str, Any]:
        """Forget a candidate: contact fields, turns, reports, recordings; the number's hash
        stays on do-not-call; an audit row names the caller's role, never the person."""
        from voicebot.store import privacy

        erased = _or_404(
            await privacy.erase(store, candidate_id, f"api:{role}"), f"candidate {candidate_id}"
        )
        removed = privacy.delete_recordings(cfg.api.recordings_dir, erased.recordings)
        return {"id": candidate_id, "erased": True, **erased.counts(), "recordings": removed}

    # campaigns --------------------------------------------------------------------------------

    @app.post(
        "/campaigns", status_code=201, response_model=CampaignCreated,
        responses=responses(401, 403, 409, 413, 422),
    )  # fmt: skip
    async def create_campaign(body: CampaignIn, _: HrAuth) -> dict[str, Any]:
        from voicebot.campaigns.settings import settings_from_config

        try:
            settings = parse_settings(body.settings, settings_from_config(cfg.campaigns))
        except SettingsError as e:
            raise _invalid([(["settings", e.key], e.why)]) from None
        if await db.get_job_spec(store, body.job_id) is None:
            raise _invalid([(["job_id"], f"job {body.job_id!r} does not exist")])
        cid, n = await db.create_campaign(
            store, name=body.name or body.job_id, job_id=body.job_id,
            settings=settings.to_dict(), candidate_ids=body.candidate_ids,
        )  # fmt: skip
        return {"id": cid, "targets": n, "state": "draft"}

    async def _campaign(campaign_id: str) -> dict[str, Any]:
        return _or_404(await db.get_campaign(store, campaign_id), f"campaign {campaign_id}")

    @app.get("/campaigns", responses=responses(401))
    async def campaigns(_: Auth) -> list[dict[str, Any]]:
        """`state` is `stalled` when the campaign should run but its dialler is gone."""
        return [shown_state(c) for c in await db.list_campaigns(store)]

    @app.get("/campaigns/{campaign_id}", responses=responses(401, 404))
    async def campaign(campaign_id: str, _: Auth) -> dict[str, Any]:
        found = shown_state(await _campaign(campaign_id))
        return {**found, "progress": await db.campaign_progress(store, campaign_id)}

    @app.post(
        "/campaigns/{campaign_id}/start", response_model=CampaignState,
        responses=responses(401, 403, 404, 409, 503),
    )  # fmt: skip
    async def start(campaign_id: str, _: HrAuth) -> dict[str, Any]:
        """Dial the campaign (a stalled one is taken over); 503 naming the PBX when it cannot
        be reached, and the campaign stays paused."""
        await _campaign(campaign_id)  # 404 when missing
        await db.mark_running(store, campaign_id)  # 409 (StoreError) when done
        if launcher is not None:
            try:
                await launcher(campaign_id)
            except CallingUnavailable as e:
                await db.set_campaign_state(store, campaign_id, "paused")
                raise HTTPException(503, str(e), {"Retry-After": "60"}) from None
        return {"id": campaign_id, "state": "running", "dialer": launcher is not None}

    @app.post(
        "/campaigns/{campaign_id}/pause", response_model=CampaignState,
        responses=responses(401, 403, 404, 409),
    )  # fmt: skip
    async def pause(campaign_id: str, _: HrAuth) -> dict[str, Any]:
        await _campaign(campaign_id)
        await db.set_campaign_state(store, campaign_id, "paused")
        return {"id": campaign_id, "state": "paused"}

    # interviews -------------------------------------------------------------------------------

    @app.get(
        "/interviews", response_model=InterviewPage, responses=responses(401, 422),
    )  # fmt: skip
    async def interviews(
        _: Auth,
        campaign_id: str | None = None,
        candidate_id: str | None = None,
        job_id: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> dict[str, Any]:
        """Interviews newest first with the candidate's name and the job title; follow
        `next_cursor` for the next page."""
        try:
            page = await list_interviews(
                store, campaign_id=campaign_id, candidate_id=candidate_id, job_id=job_id,
                cursor=cursor, limit=limit,
            )  # fmt: skip
        except CursorError as e:
            raise HTTPException(
                422, [{"loc": ["query", "cursor"], "msg": str(e), "type": "value_error"}]
            ) from None
        times = ("started_at", "answered_at", "ended_at")
        items = [{**r, **{k: _iso(r[k]) for k in times}} for r in page.items]
        return {"items": items, "next_cursor": page.next_cursor}

    async def _call(call_id: str) -> dict[str, Any]:
        return _or_404(await store.get_call(call_id), f"interview {call_id}")

    @app.get("/interviews/{call_id}", responses=responses(401, 404))
    async def interview(call_id: str, _: Auth) -> dict[str, Any]:
        c = await _call(call_id)
        keys = ("id", "job_id", "candidate_id", "direction", "bridge", "started_at",
                "answered_at", "ended_at", "outcome")  # fmt: skip
        out = {k: c[k] for k in keys}
        out["consent"] = None if c["consent"] is None else bool(c["consent"])
        from voicebot.store.reports import get_report

        out["report"] = await get_report(store, call_id) is not None
        return out

    async def _report_or_404(call_id: str, version: int | None = None) -> Mapping[str, Any]:
        from voicebot.store.reports import get_report

        await _call(call_id)
        report = await get_report(store, call_id, version)
        if report is None:
            missing = f"no version {version}" if version else "no report yet"
            raise HTTPException(404, f"interview {call_id} has {missing}")
        return report

    @app.get("/interviews/{call_id}/report", responses=responses(401, 404))
    async def report_json(
        call_id: str, _: Auth, version: Annotated[int | None, Query(ge=1)] = None
    ) -> Mapping[str, Any]:
        """The newest report, or `version` (a rescore adds a version, never overwrites)."""
        return await _report_or_404(call_id, version)

    @app.get("/interviews/{call_id}/report/versions", responses=responses(401, 404))
    async def report_versions(call_id: str, _: Auth) -> list[dict[str, Any]]:
        from voicebot.store.reports import report_versions as versions

        await _call(call_id)
        return await versions(store, call_id)

    @app.get(
        "/interviews/{call_id}/report.html", response_class=HTMLResponse,
        responses=responses(401, 404),
    )  # fmt: skip
    async def report_html(
        call_id: str, _: Auth, version: Annotated[int | None, Query(ge=1)] = None
    ) -> str:
        """The page HR reads: name, role, date, duration, checklists, the consented recording."""
        from voicebot.scoring.pipeline import report_page

        await _report_or_404(call_id, version)
        html = await report_page(
            store, call_id, version=version, recordings_dir=cfg.api.recordings_dir
        )
        return _or_404(html, f"report of interview {call_id}")

    @app.get("/interviews/{call_id}/transcript", responses=responses(401, 404))
    async def transcript(call_id: str, _: Auth) -> list[dict[str, Any]]:
        await _call(call_id)
        keys = ("seq", "speaker", "kind", "question_id", "text", "started_at", "ended_at")
        return [{k: getattr(t, k) for k in keys} for t in await store.turns(call_id)]

    @app.get(
        "/interviews/{call_id}/recording", response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {}}}, **responses(401, 403, 404)},
    )  # fmt: skip
    async def recording(call_id: str, _: Auth) -> FileResponse:
        """Only when the candidate agreed to recording (import flag) and on the call."""
        return FileResponse(await share.recording_file(store, cfg, call_id), media_type="audio/wav")

    # outcomes ---------------------------------------------------------------------------------

    @app.post(
        "/outcomes", response_model=OutcomeRecorded, responses=responses(401, 403, 409, 413, 422)
    )
    async def outcome(body: OutcomeIn, _: Auth) -> dict[str, Any]:
        candidate_id = await _outcome_candidate(body)
        if body.hired is None and body.performance is None:
            raise _invalid([(["hired"], "give hired and/or performance")])
        await db.record_outcome(
            store, candidate_id, hired=body.hired, performance=body.performance, note=body.note
        )
        return {"candidate_id": candidate_id, "recorded": True}

    async def _outcome_candidate(body: OutcomeIn) -> str:
        """voicebot's id of the candidate an outcome is about, given either id."""
        if body.candidate_id is not None:
            if await db.get_candidate(store, body.candidate_id) is None:
                why = f"candidate {body.candidate_id!r} does not exist"
                raise _invalid([(["candidate_id"], why)])
            return body.candidate_id
        if body.external_id is None:
            raise _invalid([(["candidate_id"], "give candidate_id or external_id")])
        found = await db.find_candidates(store, body.external_id, body.job_id)
        if len(found) != 1:
            why = (f"no candidate has external_id {body.external_id!r}" if not found else
                   f"external_id {body.external_id!r} is on {len(found)} jobs: give job_id")
            raise _invalid([(["external_id"], why)])
        return str(found[0]["id"])

    share.add_routes(app, store, cfg, hr_role)
    token_routes.add_routes(app, store, hr_role)
    console.add_routes(app, store, cfg)
    endpoints_api.add_routes(app, store, cfg, hr_role)
    greenhouse.add_routes(app, store, cfg, launcher)
    return app
