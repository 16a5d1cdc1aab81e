"""The HR API through httpx against the app, and once through a real uvicorn on 127.0.0.1:
tokens, jobs, candidates, campaigns, interviews, outcomes, 422s naming the field."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.store import Store, TurnRecord
from voicebot.store import hr as db

EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"
GOOD = {"phone": "+1 212 555 0100", "name": "Ada", "skills": ["Python"]}


@pytest.fixture
async def launched() -> list[str]:
    return []


@pytest.fixture
async def client(store: Store, launched: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    async def launch(campaign_id: str) -> None:
        launched.append(campaign_id)

    app = create_app(store, Config(), launcher=launch)
    token = await db.create_token(store, "ats", "hr")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


def errors(resp: httpx.Response) -> list[tuple[list[Any], str]]:
    assert resp.status_code == 422, resp.text
    return [(e["loc"], e["msg"]) for e in resp.json()["detail"]]


async def test_tokens_are_required_and_roles_limit_campaign_control(
    store: Store, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/jobs", headers={"Authorization": ""})).status_code == 401
    assert (
        await client.get("/jobs", headers={"Authorization": "Bearer vb_nope"})
    ).status_code == 401
    system = await db.create_token(store, "ats", "system")
    as_system = {"Authorization": f"Bearer {system}"}
    assert (await client.get("/jobs", headers=as_system)).status_code == 200
    resp = await client.post("/campaigns", json={"job_id": JOB_ID}, headers=as_system)
    assert resp.status_code == 403
    conn_rows = await store._db.execute_fetchall("SELECT token_hash FROM api_tokens")
    assert all(system not in r[0] for r in conn_rows)  # stored hashed


async def test_jobs_validate_with_the_field_in_error(client: httpx.AsyncClient) -> None:
    spec = yaml.safe_load(JOB_FILE.read_text())
    resp = await client.post("/jobs", json={**spec, "id": "second"})
    assert resp.status_code == 201 and resp.json() == {"id": "second", "created": True}
    assert (await client.get("/jobs/second")).json()["title"] == spec["title"]
    full = EXAMPLE_JOB.read_bytes()  # the full job format: anchors keyed by integer level
    as_yaml = await client.post("/jobs", content=full, headers={"content-type": "application/yaml"})
    assert as_yaml.status_code == 201, as_yaml.text
    assert (await client.get("/jobs/backend-engineer")).json()["competencies"]
    not_json = await client.post(
        "/jobs", content=b"{", headers={"content-type": "application/json"}
    )
    assert errors(not_json)[0][1].startswith("not valid JSON or YAML")
    bad = {**spec, "id": "third", "questions": [{"id": "q1"}]}
    assert errors(await client.post("/jobs", json=bad)) == [
        (["body", "questions", "0", "text"], "required")
    ]


async def test_candidates_all_or_nothing_with_field_and_reason(client: httpx.AsyncClient) -> None:
    body = {"candidates": [GOOD, {"phone": "12"}, {**GOOD, "phone": "+1 212 555 0101",
                                                   "years_experience": "many"}]}  # fmt: skip
    assert errors(await client.post(f"/jobs/{JOB_ID}/candidates", json=body)) == [
        (["body", "candidates", 1, "phone"], "not a valid number for its country"),
        (["body", "candidates", 2, "years_experience"], "'many' is not a number"),
    ]
    assert (await client.get(f"/jobs/{JOB_ID}/candidates")).json() == []
    ok = await client.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": [GOOD]})
    assert ok.json()["inserted"] == 1
    (cand,) = (await client.get(f"/jobs/{JOB_ID}/candidates")).json()
    assert (cand["phone_e164"], cand["timezone"]) == ("+12125550100", "America/New_York")
    assert (await client.get(f"/candidates/{cand['id']}")).json()["name"] == "Ada"
    assert (await client.post("/jobs/nope/candidates", json=body)).status_code == 404


async def test_campaign_create_start_pause(client: httpx.AsyncClient, launched: list[str]) -> None:
    await client.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": [GOOD]})
    bad = await client.post(
        "/campaigns", json={"job_id": JOB_ID, "settings": {"max_concurrent": 0}}
    )
    assert errors(bad) == [(["body", "settings", "max_concurrent"], "must be at least 1")]
    assert errors(await client.post("/campaigns", json={"name": "x"}))[0][0] == ["body", "job_id"]
    made = await client.post(
        "/campaigns", json={"job_id": JOB_ID, "settings": {"max_concurrent": 2}}
    )
    assert made.status_code == 201 and made.json()["targets"] == 1
    cid = made.json()["id"]
    assert [c["id"] for c in (await client.get("/campaigns")).json()] == [cid]
    assert (await client.post(f"/campaigns/{cid}/start")).json()["state"] == "running"
    assert launched == [cid]
    assert (await client.post(f"/campaigns/{cid}/pause")).json()["state"] == "paused"
    status = (await client.get(f"/campaigns/{cid}")).json()
    assert status["state"] == "paused" and status["settings"]["max_concurrent"] == 2
    assert status["progress"]["by_status"] == {"pending": 1}


async def test_interview_status_transcript_recording_and_outcomes(
    store: Store, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await client.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": [GOOD]})
    (cand,) = await db.list_candidates(store, JOB_ID)
    await store.call_started(
        "call-1", direction="outbound", bridge="sip", remote="+12125550100",
        started_at=time.time(), job_id=JOB_ID, candidate_id=cand["id"],
    )  # fmt: skip
    await store.set_consent("call-1", True)
    await store.add_turn(TurnRecord("call-1", 0, "bot", "ask", "Salary?", 1.0, 2.0, "salary"))
    await store.call_ended("call-1", at=time.time(), outcome="completed")
    info = (await client.get("/interviews/call-1")).json()
    assert (info["outcome"], info["consent"], info["candidate_id"]) == (
        "completed",
        True,
        cand["id"],
    )
    (turn,) = (await client.get("/interviews/call-1/transcript")).json()
    assert (turn["speaker"], turn["text"], turn["question_id"]) == ("bot", "Salary?", "salary")
    # the import said no recording consent: the recording is never served
    assert (await client.get("/interviews/call-1/recording")).status_code == 403
    assert (await client.get("/interviews/missing")).status_code == 404
    too_high = {"candidate_id": cand["id"], "performance": 9}
    assert errors(await client.post("/outcomes", json=too_high))[0][0] == ["body", "performance"]
    nobody = {"candidate_id": "nobody", "hired": True}
    assert errors(await client.post("/outcomes", json=nobody))[0][0] == ["body", "candidate_id"]
    ok = await client.post("/outcomes", json={"candidate_id": cand["id"], "hired": True})
    assert ok.status_code == 200
    await client.post("/outcomes", json={"candidate_id": cand["id"], "performance": 4.5})
    assert (await db.outcomes(store, JOB_ID))[cand["id"]]["hired"] == 1  # kept by the later call
    assert (await db.outcomes(store, JOB_ID))[cand["id"]]["performance"] == 4.5


async def test_openapi_over_a_real_uvicorn(store: Store) -> None:
    token = await db.create_token(store, "ats", "hr")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for _ in range(100):
                if server.started:
                    break
                await asyncio.sleep(0.05)
            spec = (await c.get("/openapi.json")).json()
            assert {"/jobs", "/campaigns", "/outcomes", "/interviews/{call_id}/report"} <= set(
                spec["paths"]
            )
            assert (await c.get("/docs")).status_code == 200
            jobs = await c.get("/jobs", headers={"Authorization": f"Bearer {token}"})
            assert [j["id"] for j in jobs.json()] == [JOB_ID]
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_report_json_and_html_come_from_the_scoring_pipeline(
    store: Store, client: httpx.AsyncClient
) -> None:
    from voicebot.campaigns.dialer import score_with_pipeline
    from voicebot.hr.importer import import_jobs, load_stored_job

    ((job_id, _),) = await import_jobs(store, EXAMPLE_JOB)
    job = await load_stored_job(store, job_id)
    await store.call_started(
        "call-9", direction="outbound", bridge="sip", remote="+12125550100",
        started_at=time.time(), job_id=job_id,
    )  # fmt: skip
    await store.set_consent("call-9", True)
    for seq, q in enumerate(job.questions[:2]):
        await store.add_turn(TurnRecord("call-9", 2 * seq, "bot", "ask", q.text, 1.0, 2.0, q.id))
        await store.add_turn(
            TurnRecord("call-9", 2 * seq + 1, "candidate", "answer",
                       "I traced the root cause in the logs and fixed it.", 2.0, 3.0, q.id)
        )  # fmt: skip
    await store.call_ended("call-9", at=time.time(), outcome="completed")
    assert (await client.get("/interviews/call-9/report")).status_code == 404  # not scored yet
    report = await score_with_pipeline(store, "call-9", job)
    assert report is not None
    got = (await client.get("/interviews/call-9/report")).json()
    assert got["call_id"] == "call-9" and got["overall"] == report["overall"]
    html = await client.get("/interviews/call-9/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "<html" in html.text.lower()
    assert (await client.get("/interviews/call-9")).json()["report"] is True


async def test_the_report_page_names_the_candidate_and_old_versions_stay_readable(
    store: Store, client: httpx.AsyncClient
) -> None:
    from voicebot.campaigns.dialer import score_with_pipeline
    from voicebot.hr.importer import import_jobs, load_stored_job
    from voicebot.store.reports import save_report

    ((job_id, _),) = await import_jobs(store, EXAMPLE_JOB)
    await client.post(f"/jobs/{job_id}/candidates", json={"candidates": [GOOD]})
    (cand,) = await db.list_candidates(store, job_id)
    job = await load_stored_job(store, job_id)
    await store.call_started(
        "call-7", direction="outbound", bridge="sip", remote="+12125550100",
        started_at=time.time(), job_id=job_id, candidate_id=cand["id"],
    )  # fmt: skip
    q = job.questions[0]
    await store.add_turn(TurnRecord("call-7", 0, "bot", "ask", q.text, 1.0, 2.0, q.id))
    await store.add_turn(
        TurnRecord("call-7", 1, "candidate", "answer", "About 90k a year.", 2.0, 3.0, q.id)
    )
    await store.call_ended("call-7", at=time.time(), outcome="completed")
    report = await score_with_pipeline(store, "call-7", job)
    assert report is not None
    page = (await client.get("/interviews/call-7/report.html")).text
    assert "Ada" in page and job.title in page  # the name and the role, not ids
    await save_report(store, "call-7", {**report, "overall": {**report["overall"], "score": 1.0}})
    versions = (await client.get("/interviews/call-7/report/versions")).json()
    assert [v["version"] for v in versions] == [1, 2]
    first = (await client.get("/interviews/call-7/report", params={"version": 1})).json()
    assert first["overall"] == report["overall"]
    assert (await client.get("/interviews/call-7/report", params={"version": 9})).status_code == 404


async def test_deleting_a_candidate_erases_them_and_keeps_them_off_the_call_list(
    store: Store, client: httpx.AsyncClient
) -> None:
    await client.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": [GOOD]})
    (cand,) = await db.list_candidates(store, JOB_ID)
    system = await db.create_token(store, "ats", "system")
    denied = await client.delete(
        f"/candidates/{cand['id']}", headers={"Authorization": f"Bearer {system}"}
    )
    assert denied.status_code == 403
    gone = await client.delete(f"/candidates/{cand['id']}")
    assert gone.status_code == 200 and gone.json()["erased"] is True
    assert (await client.get(f"/candidates/{cand['id']}")).json().get("name") in (None, "")
    assert (await client.delete("/candidates/nobody")).status_code == 404
    again = await client.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": [GOOD]})
    assert again.status_code == 200
    assert [c for c in await db.list_candidates(store, JOB_ID) if c.get("name") == "Ada"] == []
