"""Finding an interview by campaign or candidate, by name: `voicebot interviews list` and
`GET /interviews` (newest first, names decrypted, the job's title, ISO 8601 times, a cursor
that walks every interview once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.hr.helpers import JOB_ID
from voicebot.cli import app
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import AttemptResult, CandidateRecord
from voicebot.store.reports import save_report

NAMES = ["Ada Lovelace", "Grace Hopper", "王芳", "Linus Torvalds", "Barbara Liskov"]
JOB_TITLE = "Backend Engineer"  # tests/hr/data/job.yaml
T0 = 1772415000.0  # 2026-03-02T01:30:00Z


async def interviewed(store: Store) -> tuple[str, str, list[str]]:
    """Two campaigns of the test job: the first calls three candidates, the second two; each
    call a minute apart, the second scored."""
    phones = [f"+1212555{i:04d}" for i in range(len(NAMES))]
    people = zip(phones, NAMES, strict=True)
    records = [CandidateRecord(JOB_ID, p, "America/New_York", name=n) for p, n in people]
    await db.upsert_candidates(store, records)
    ids = [store.pii.candidate_id(JOB_ID, p) for p in phones]
    first, _ = await db.create_campaign(
        store, name="first", job_id=JOB_ID, settings={}, candidate_ids=ids[:3]
    )
    second, _ = await db.create_campaign(
        store, name="second", job_id=JOB_ID, settings={}, candidate_ids=ids[3:]
    )
    for i, (cand, phone) in enumerate(zip(ids, phones, strict=True)):
        campaign = first if i < 3 else second
        at = T0 + 60 * i
        attempt = await db.claim(store, campaign, cand, at)
        assert attempt is not None
        await db.mark_dialling(store, attempt, at)
        call_id = f"call-{i}"
        await store.call_started(
            call_id, direction="outbound", bridge="sip", remote=phone, started_at=at,
            job_id=JOB_ID, candidate_id=cand,
        )  # fmt: skip
        await store.call_ended(call_id, at=at + 30, outcome="completed")
        await db.finish_attempt(
            store, attempt, at + 30, AttemptResult("completed", "done", call_id=call_id)
        )
    await save_report(
        store, "call-1",
        {"call_id": "call-1", "job_id": JOB_ID,
         "overall": {"score": 3.8, "max": 5, "recommendation": "yes"}},
    )  # fmt: skip
    return first, second, ids


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    token = await db.create_token(store, "ats", "system")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store, Config())), base_url="http://api",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:  # fmt: skip
        yield c


async def test_interviews_by_campaign_and_candidate_with_names(
    store: Store, client: httpx.AsyncClient
) -> None:
    first, second, ids = await interviewed(store)
    page = (await client.get("/interviews", params={"campaign_id": first})).json()
    assert [i["name"] for i in page["items"]] == ["王芳", "Grace Hopper", "Ada Lovelace"]
    assert page["next_cursor"] is None
    one = page["items"][1]
    assert (one["id"], one["job_title"], one["campaign_id"]) == ("call-1", JOB_TITLE, first)
    assert (one["overall"], one["recommendation"]) == (3.8, "yes")
    assert one["started_at"] == "2026-03-02T01:31:00+00:00"
    assert dt.datetime.fromisoformat(one["ended_at"]).timestamp() == T0 + 90

    mine = (await client.get("/interviews", params={"candidate_id": ids[4]})).json()["items"]
    assert [(i["id"], i["campaign_id"], i["name"]) for i in mine] == [
        ("call-4", second, "Barbara Liskov")
    ]
    both = (await client.get("/interviews", params={"campaign_id": second,
                                                      "candidate_id": ids[0]})).json()  # fmt: skip
    assert both == {"items": [], "next_cursor": None}


async def test_the_cursor_walks_every_interview_once_newest_first(
    store: Store, client: httpx.AsyncClient
) -> None:
    await interviewed(store)
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = (await client.get("/interviews", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [f"call-{i}" for i in (4, 3, 2, 1, 0)]
    bad = await client.get("/interviews", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert (await client.get("/interviews", params={"limit": 0})).status_code == 422
    spec = (await client.get("/openapi.json")).json()["paths"]["/interviews"]["get"]
    assert {p["name"] for p in spec["parameters"]} >= {"campaign_id", "candidate_id", "cursor"}


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="voicebot")


def test_interviews_list_prints_names_and_job_titles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "cli.db"
    monkeypatch.setenv("VOICEBOT_STORE__PATH", str(db_path))

    async def setup() -> tuple[str, str, list[str]]:
        from tests.hr.helpers import JOB_FILE
        from voicebot.hr.importer import import_jobs

        async with await Store.open(db_path) as store:
            await import_jobs(store, JOB_FILE)
            return await interviewed(store)

    first, _, ids = asyncio.run(setup())
    out = run("interviews", "list", "--campaign", first)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["call-2", "call-1", "call-0"]
    assert "Grace Hopper" in lines[1] and "Backend Engineer" in lines[1] and "3.8 yes" in lines[1]
    paged = run("interviews", "list", "--limit", "2")
    assert len(paged.stdout.splitlines()) == 2 and "more: --cursor " in paged.stderr
    data = json.loads(run("interviews", "list", "--candidate", ids[2], "--json").stdout)
    assert [i["name"] for i in data["items"]] == ["王芳"]
    bad = run("interviews", "list", "--cursor", "zzz")
    assert bad.exit_code == 2 and "cursor" in bad.stderr and "Traceback" not in bad.output
