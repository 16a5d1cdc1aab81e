"""Greenhouse's Assessment Partner API as Greenhouse drives it: a stand-in Greenhouse (its
published request bodies, HTTP Basic with the org key, responses checked against the documented
shapes) lists the tests, sends one, and polls test_status until complete; the profile URL opens
the report without a token. A wrong key is 401, an uncallable candidate 400, and with no key the
integration is off."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from tests.campaigns.fakes import FakeClock, ScriptedBridge, ScriptedInterviewer
from tests.hr.helpers import JOB_ID
from voicebot.campaigns.dialer import Dialer, score_with_pipeline
from voicebot.config import ApiConfig, Config, GreenhouseConfig
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_jobs
from voicebot.interview.plan import Job
from voicebot.store import Store, TurnRecord
from voicebot.store import hr as db

KEY = "gh-org-key-3f9a"
EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"
SCORED = "backend-engineer"  # the example job: competencies, so a score


class _Doc(BaseModel):  # what Greenhouse's documentation promises, nothing more
    model_config = ConfigDict(extra="forbid", strict=True)


class PartnerTest(_Doc):
    partner_test_id: str
    partner_test_name: str


class SendTestResponse(_Doc):
    partner_interview_id: str


class StatusResponse(_Doc):
    partner_status: str
    partner_profile_url: str | None = None
    partner_score: float | None = None
    metadata: dict[str, str] | None = None


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:".encode()).decode()}


async def scorer(store: Store, call_id: str, job: Job) -> dict[str, Any] | None:
    """The interview the scripted call stands for: its turns, then the real scoring."""
    (cand,) = await db.list_candidates(store, job.id)
    await store.call_started(
        call_id, direction="outbound", bridge="sip", remote=cand["phone_e164"],
        started_at=time.time(), job_id=job.id, candidate_id=cand["id"],
    )  # fmt: skip
    answer = (
        "Last year our payments service failed every night. I went through the logs myself, "
        "found a connection pool that ran out under the batch job, reproduced it in staging, "
        "fixed the pool size and added a regression test; it has not failed since."
    )
    for n, q in enumerate(job.all_questions):
        await store.add_turn(TurnRecord(call_id, 2 * n, "bot", "ask", q.text, 1.0, 2.0, q.id))
        await store.add_turn(
            TurnRecord(call_id, 2 * n + 1, "candidate", "answer", answer, 2.0, 6.0, q.id)
        )
    await store.call_ended(call_id, at=time.time(), outcome="completed")
    return await score_with_pipeline(store, call_id, job)


@pytest.fixture
async def greenhouse(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    await import_jobs(store, EXAMPLE_JOB)
    bridge = ScriptedBridge(FakeClock())
    tasks: list[asyncio.Task[str]] = []
    launched: list[str] = []

    async def launch(campaign_id: str) -> None:
        launched.append(campaign_id)
        dialer = Dialer(store, bridge, ScriptedInterviewer(bridge), clock=bridge.clock,
                        scorer=scorer, report_url="https://vb.example.com")  # fmt: skip
        tasks.append(asyncio.create_task(dialer.run(campaign_id)))

    cfg = Config(greenhouse=GreenhouseConfig(api_key=KEY),
                 api=ApiConfig(public_url="https://vb.example.com"))  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(store, cfg, launcher=launch))
    async with httpx.AsyncClient(transport=transport, base_url="https://vb.example.com") as c:
        yield c, launched
    await asyncio.gather(*tasks)


SEND = {
    "partner_test_id": SCORED,
    "candidate": {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "phone_number": "+1 212 555 0100", "resume_url": "https://gh.example/resume/1",
        "greenhouse_profile_url": "https://app.greenhouse.io/people/4242?application_id=777",
    },
    "url": "https://app.greenhouse.io/integrations/testing_partners/take_home_tests/9",
}  # fmt: skip
ROOT = "/integrations/greenhouse"


async def test_greenhouse_sends_the_screen_and_polls_until_it_is_complete(
    store: Store, greenhouse: tuple[httpx.AsyncClient, list[str]]
) -> None:
    gh, launched = greenhouse
    listed = await gh.get(f"{ROOT}/list_tests", headers=basic(KEY))
    tests = [PartnerTest.model_validate(t) for t in listed.json()]
    assert {JOB_ID, SCORED} <= {t.partner_test_id for t in tests}

    sent = await gh.post(f"{ROOT}/send_test", json=SEND, headers=basic(KEY))
    assert sent.status_code == 200, sent.text
    interview = SendTestResponse.model_validate(sent.json()).partner_interview_id
    assert len(launched) == 1  # a campaign of this one candidate is dialling
    (cand,) = await db.list_candidates(store, SCORED)
    assert (cand["name"], cand["external_id"]) == ("Ada Lovelace", "greenhouse:application:777")

    status = None
    for _ in range(200):  # Greenhouse polls; the scripted call ends in virtual time
        got = await gh.get(f"{ROOT}/test_status", params={"partner_interview_id": interview},
                           headers=basic(KEY))  # fmt: skip
        status = StatusResponse.model_validate(got.json())
        if status.partner_status == "complete":
            break
        await asyncio.sleep(0.05)
    assert status is not None and status.partner_status == "complete"
    assert status.partner_score is not None and 0 <= status.partner_score <= 100
    assert status.metadata and status.metadata["Recommendation"]
    assert status.partner_profile_url and status.partner_profile_url.startswith(
        "https://vb.example.com/share/"
    )
    page = await gh.get(status.partner_profile_url)  # a recruiter's click: no token
    assert page.status_code == 200 and "Ada Lovelace" in page.text


async def test_keys_bad_candidates_and_unknown_ids(
    store: Store, greenhouse: tuple[httpx.AsyncClient, list[str]]
) -> None:
    gh, launched = greenhouse
    assert (await gh.get(f"{ROOT}/list_tests")).status_code == 401
    wrong = await gh.get(f"{ROOT}/list_tests", headers=basic("not-the-key"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
    garbled = await gh.get(f"{ROOT}/list_tests", headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401
    no_phone = {**SEND, "candidate": {**SEND["candidate"], "phone_number": None}}
    refused = await gh.post(f"{ROOT}/send_test", json=no_phone, headers=basic(KEY))
    assert refused.status_code == 400 and "phone_number" in refused.json()["detail"]
    assert launched == [] and await db.list_candidates(store, SCORED) == []
    unknown = {**SEND, "partner_test_id": "no-such-job"}
    assert (await gh.post(f"{ROOT}/send_test", json=unknown, headers=basic(KEY))).status_code == 404
    for bad in ("camp_0.cand_0", "x" * 100, "../../etc"):
        got = await gh.get(f"{ROOT}/test_status", params={"partner_interview_id": bad},
                           headers=basic(KEY))  # fmt: skip
        assert got.status_code == 404
    reported = await gh.post(f"{ROOT}/response_error", json={"errors": ["x"]}, headers=basic(KEY))
    assert reported.status_code == 200


async def test_without_a_key_the_integration_is_off(store: Store) -> None:
    transport = httpx.ASGITransport(app=create_app(store, Config()))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        off = await c.get(f"{ROOT}/list_tests", headers=basic(""))
    assert off.status_code == 404 and "greenhouse.api_key" in off.json()["detail"]
