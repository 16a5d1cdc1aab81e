"""Share links: a recruiter in the ATS opens the report with no token until the link expires;
a changed, foreign or expired link opens nothing, and says so in words a person can act on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.hr.helpers import JOB_ID
from voicebot.campaigns.dialer import score_with_pipeline
from voicebot.config import ApiConfig, Config
from voicebot.hr.api import create_app
from voicebot.hr.importer import load_stored_job
from voicebot.pii import PiiKeys
from voicebot.sharing import ShareError, sign, verify
from voicebot.store import Store, TurnRecord
from voicebot.store import hr as db

KEYS = PiiKeys(b"s" * 32, ("ZmVybmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMhISE=",), "test")
OTHER = PiiKeys(b"o" * 32, KEYS.keys, "test")


def test_a_link_opens_its_interview_until_it_expires() -> None:
    sip_call_id = "a84b4c76e66710@pc33.atlanta.example.com"  # a SIP Call-ID: '@' and dots
    token = sign(KEYS, sip_call_id, ttl_s=3600, now=1_000_000)
    assert verify(KEYS, token, now=1_000_000 + 3599).call_id == sip_call_id
    with pytest.raises(ShareError, match="expired") as gone:
        verify(KEYS, token, now=1_000_000 + 3600)
    assert gone.value.gone


@pytest.mark.parametrize("part", [0, 1, 2])
def test_a_changed_or_foreign_link_opens_nothing(part: int) -> None:
    token = sign(KEYS, "call-1", ttl_s=3600)
    pieces = token.split(".")
    other_call = sign(KEYS, "call-2", ttl_s=3600).split(".")[0]
    pieces[part] = [other_call, str(int(pieces[1]) + 86400), "A" * 43][part]
    with pytest.raises(ShareError, match="not valid") as bad:
        verify(KEYS, ".".join(pieces))
    assert not bad.value.gone
    with pytest.raises(ShareError, match="not valid"):
        verify(OTHER, token)  # another install's secret
    for junk in ("", "...", "x" * 5000, "call-1.1.=="):
        with pytest.raises(ShareError, match="not valid"):
            verify(KEYS, junk)


def test_links_live_between_a_second_and_ninety_days() -> None:
    for ttl in (0, -1, 91 * 86400):
        with pytest.raises(ShareError, match="90 days"):
            sign(KEYS, "call-1", ttl_s=ttl)


@pytest.fixture
async def api(store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    cfg = Config(api=ApiConfig(public_url="https://hr.example.com/vb",
                               recordings_dir=str(tmp_path / "rec")))  # fmt: skip
    token = await db.create_token(store, "ats", "hr")
    transport = httpx.ASGITransport(app=create_app(store, cfg))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


async def _interview(store: Store, recordings: Path, consent_recording: bool) -> str:
    await db.upsert_candidates(
        store, [db.CandidateRecord(JOB_ID, "+12125550100", "UTC", name="Ada Lovelace",
                                   consent_recording=consent_recording)],
    )  # fmt: skip
    (cand,) = await db.list_candidates(store, JOB_ID)
    await store.call_started(
        "call-5", direction="outbound", bridge="sip", remote="+12125550100",
        started_at=time.time(), job_id=JOB_ID, candidate_id=cand["id"],
    )  # fmt: skip
    await store.set_consent("call-5", True)
    job = await load_stored_job(store, JOB_ID)
    q = job.questions[0]
    await store.add_turn(TurnRecord("call-5", 0, "bot", "ask", q.text, 1.0, 2.0, q.id))
    await store.add_turn(
        TurnRecord("call-5", 1, "candidate", "answer", "I traced it in the logs.", 2.0, 3.0, q.id)
    )
    await store.call_ended("call-5", at=time.time(), outcome="completed")
    assert await score_with_pipeline(store, "call-5", job) is not None
    _recording(recordings / "call-5.wav")
    return cand["id"]


def _recording(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")


async def test_a_recruiter_opens_the_shared_report_without_a_token(
    store: Store, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await _interview(store, tmp_path / "rec", consent_recording=True)
    made = await api.post("/interviews/call-5/share", json={"ttl_s": 600})
    assert made.status_code == 200, made.text
    link = made.json()
    assert link["url"].startswith("https://hr.example.com/vb/share/")
    assert link["expires_at"].endswith("Z")
    path = link["url"].removeprefix("https://hr.example.com/vb")
    anonymous = {"Authorization": ""}
    page = await api.get(path, headers=anonymous)
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    assert 'src="recording"' in page.text  # the player plays through this same link
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "no-referrer"  # the token never leaks onward
    audio = await api.get(path.replace("report.html", "recording"), headers=anonymous)
    assert audio.status_code == 200 and audio.content.startswith(b"RIFF")
    # the link opens this interview only: nothing else of the API
    assert (await api.get("/interviews/call-5", headers=anonymous)).status_code == 401


async def test_a_shared_link_keeps_the_recording_consent(
    store: Store, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await _interview(store, tmp_path / "rec", consent_recording=False)
    link = (await api.post("/interviews/call-5/share")).json()["url"]
    path = link.removeprefix("https://hr.example.com/vb").replace("report.html", "recording")
    assert (await api.get(path, headers={"Authorization": ""})).status_code == 403


async def test_expired_and_forged_links_are_pages_that_say_why(
    store: Store, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await _interview(store, tmp_path / "rec", consent_recording=True)
    old = sign(store.pii, "call-5", ttl_s=60, now=time.time() - 3600)
    expired = await api.get(f"/share/{old}/report.html", headers={"Authorization": ""})
    assert expired.status_code == 410 and "expired" in expired.text
    assert "Ada" not in expired.text
    forged = sign(OTHER, "call-5", ttl_s=600)
    bad = await api.get(f"/share/{forged}/report.html", headers={"Authorization": ""})
    assert bad.status_code == 404 and "not valid" in bad.text
    assert (await api.get(f"/share/{forged}/recording")).status_code == 404


async def test_only_hr_mints_links_and_only_for_a_report_that_exists(
    store: Store, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await _interview(store, tmp_path / "rec", consent_recording=True)
    system = await db.create_token(store, "ats", "system")
    denied = await api.post(
        "/interviews/call-5/share", headers={"Authorization": f"Bearer {system}"}
    )
    assert denied.status_code == 403
    assert (await api.post("/interviews/nope/share")).status_code == 404
    too_long = await api.post("/interviews/call-5/share", json={"ttl_s": 365 * 86400})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"][-1] == "ttl_s"
