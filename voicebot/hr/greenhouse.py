"""Greenhouse's Assessment Partner API, served by voicebot: the phone screen as a Greenhouse
interview stage.

Greenhouse calls the partner, never the other way round: `list_tests` (voicebot's jobs),
`send_test` (a recruiter pressed "Send Test": the candidate is imported and a one-person
campaign starts dialling them), `test_status` (polled by Greenhouse until `complete`: the
score, the recommendation and each competency's level, with `partner_profile_url` a signed
link to the report that opens without a token) and `response_error` (Greenhouse telling us a
response of ours did not validate: logged). Authentication is HTTP Basic with the org's API
key (`[greenhouse] api_key`) as the user name and an empty password. With no key set, every
route answers 404: the integration is off.
"""

# no `from __future__ import annotations`: FastAPI must resolve the route-local annotations
import base64
import binascii
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from voicebot import sharing
from voicebot.campaigns.settings import parse_settings, settings_from_config
from voicebot.config import Config
from voicebot.hr.importer import parse_candidate
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.listing import list_interviews

log = logging.getLogger(__name__)
PREFIX = "/integrations/greenhouse"
# partner_interview_id: "<campaign id>.<candidate id>", both voicebot's own ids
_INTERVIEW = re.compile(r"^(?P<campaign>camp_[0-9a-f]{1,40})\.(?P<candidate>cand_[0-9a-f]{1,40})$")
_PERSON = re.compile(r"/people/(?P<person>\d+)(?:\?application_id=(?P<app>\d+))?")


class GreenhouseCandidate(BaseModel):
    model_config = ConfigDict(extra="allow")  # Greenhouse may add fields; we keep to these

    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone_number: str | None = Field(default=None, max_length=64)
    resume_url: str | None = Field(default=None, max_length=2000)
    greenhouse_profile_url: str | None = Field(default=None, max_length=2000)


class SendTestIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    partner_test_id: str = Field(min_length=1, max_length=200)
    candidate: GreenhouseCandidate
    url: str | None = Field(default=None, max_length=2000, description="Greenhouse's callback")


class PartnerTest(BaseModel):
    partner_test_id: str
    partner_test_name: str


class SendTestOut(BaseModel):
    partner_interview_id: str


class TestStatusOut(BaseModel):
    partner_status: str = Field(description="complete once the interview is over")
    partner_profile_url: str | None = None
    partner_score: float | None = Field(default=None, description="0-100")
    metadata: dict[str, str] | None = None


def _external_id(c: GreenhouseCandidate) -> str | None:
    """The application (else the person) Greenhouse's profile URL names: the ATS's own id."""
    m = _PERSON.search(c.greenhouse_profile_url or "")
    if m is None:
        return None
    return f"greenhouse:application:{m['app']}" if m["app"] else f"greenhouse:person:{m['person']}"


def _status(target: dict[str, Any], report: dict[str, Any] | None) -> str:
    """`complete` ends Greenhouse's polling: an interview with a report, or a candidate the
    campaign is done with (no answer after every retry, opted out, skipped)."""
    if report is not None or target["status"] in ("done", "skipped"):
        return "complete"
    return "in_progress" if target["status"] == "in_progress" else "pending"


def add_routes(
    app: FastAPI,
    store: Store,
    cfg: Config,
    launcher: Callable[[str], Awaitable[None]] | None,
) -> None:
    key = cfg.greenhouse.api_key

    async def partner(request: Request) -> None:
        """Basic auth, the org's key as user name (Greenhouse sends an empty password)."""
        if not key:
            raise HTTPException(404, "the Greenhouse integration is off (greenhouse.api_key)")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if scheme.lower() != "basic" or not hmac.compare_digest(user.encode(), key.encode()):
            challenge = {"WWW-Authenticate": 'Basic realm="voicebot"'}
            raise HTTPException(401, "unknown API key", challenge)

    Partner = Annotated[None, Depends(partner)]
    codes: dict[int | str, dict[str, Any]] = {
        401: {"description": "No or a wrong API key"},
        404: {"description": "Unknown test or interview, or the integration is off"},
        422: {"description": "Not a request of the Assessment Partner API"},
    }

    @app.get(f"{PREFIX}/list_tests", response_model=list[PartnerTest], responses=codes,
             tags=["greenhouse"])  # fmt: skip
    async def list_tests(_: Partner) -> list[dict[str, str]]:
        """Each job is a test a Greenhouse interview stage can send."""
        return [{"partner_test_id": j["id"], "partner_test_name": j["title"]}
                for j in await db.list_jobs(store)]  # fmt: skip

    @app.post(f"{PREFIX}/send_test", response_model=SendTestOut,
              responses={**codes, 400: {"description": "The candidate cannot be called"}},
              tags=["greenhouse"])  # fmt: skip
    async def send_test(body: SendTestIn, _: Partner) -> dict[str, str]:
        """Import the candidate into the job and start a campaign that calls them alone."""
        job_id = body.partner_test_id
        if await db.get_job_spec(store, job_id) is None:
            raise HTTPException(404, f"test {job_id!r} does not exist")
        c = body.candidate
        name = " ".join(p for p in (c.first_name, c.last_name) if p) or None
        row = {"phone": c.phone_number or "", "name": name, "email": c.email,
               "external_id": _external_id(c)}  # fmt: skip
        try:
            record = parse_candidate(
                {k: v for k, v in row.items() if v is not None}, job_id,
                cfg.campaigns.default_region,
            )  # fmt: skip
        except ValueError as e:
            why = str(e).replace("phone:", "candidate.phone_number:", 1)
            raise HTTPException(400, f"the phone screen needs a number to call: {why}") from None
        ids: list[str] = []
        await db.upsert_candidates(store, [record], ids)
        settings = parse_settings({}, settings_from_config(cfg.campaigns))
        campaign_id, _n = await db.create_campaign(
            store, name=f"Greenhouse: {job_id}", job_id=job_id, settings=settings.to_dict(),
            candidate_ids=ids,
        )  # fmt: skip
        await db.set_campaign_state(store, campaign_id, "running")
        if launcher is not None:
            try:
                await launcher(campaign_id)
            except Exception as e:  # the PBX is down: the campaign waits, Greenhouse polls
                await db.set_campaign_state(store, campaign_id, "paused")
                log.warning("greenhouse: campaign %s paused: %s", campaign_id, e)
        return {"partner_interview_id": f"{campaign_id}.{ids[0]}"}

    @app.get(f"{PREFIX}/test_status", response_model=TestStatusOut,
             response_model_exclude_none=True, responses=codes, tags=["greenhouse"])  # fmt: skip
    async def test_status(
        _: Partner, partner_interview_id: Annotated[str, Query(max_length=120)]
    ) -> dict[str, Any]:
        m = _INTERVIEW.match(partner_interview_id)
        target = await db.get_target(store, m["campaign"], m["candidate"]) if m else None
        if m is None or target is None:
            raise HTTPException(404, f"interview {partner_interview_id!r} does not exist")
        page = await list_interviews(store, campaign_id=m["campaign"], candidate_id=m["candidate"])
        from voicebot.store.reports import get_report

        done = [i for i in page.items if i.get("recommendation") is not None]  # scored calls
        report = await get_report(store, done[0]["id"]) if done else None
        out: dict[str, Any] = {"partner_status": _status(target, report)}
        if report is None:
            if out["partner_status"] == "complete":
                out["metadata"] = {"Outcome": str(target["last_outcome"] or target["status"]),
                                   "Reason": str(target["reason"] or "")}  # fmt: skip
            return out
        overall = report.get("overall") or {}
        token = sharing.sign(store.pii, done[0]["id"], sharing.MAX_TTL_S)
        out["partner_profile_url"] = sharing.share_url(cfg.api.public_url, token)
        if overall.get("score") is not None:
            out["partner_score"] = round(100 * overall["score"] / (overall.get("max") or 5), 1)
        meta = {"Recommendation": str(overall.get("recommendation") or "")}
        for comp in report.get("competencies") or []:
            if comp.get("level") is not None:
                meta[str(comp.get("name") or comp.get("id"))] = f"{comp['level']} / 5"
        if report.get("knockouts"):
            meta["Knock-outs"] = "; ".join(str(k.get("rule", k)) for k in report["knockouts"])
        out["metadata"] = meta
        return out

    @app.post(f"{PREFIX}/response_error", responses=codes, tags=["greenhouse"])
    async def response_error(request: Request, _: Partner) -> dict[str, str]:
        """Greenhouse found a response of ours invalid: kept in the log for the operator."""
        body = (await request.body())[:2000]
        log.warning("greenhouse: response_error: %s", body.decode("utf-8", "replace"))
        return {"status": "ok"}
