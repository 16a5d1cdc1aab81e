"""The console's campaign and dry-run forms against hostile and mistaken input, over HTTP
(no browser): each mistake is one message on the form, nothing starts, nothing is created."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.console.conftest import JOB_FILE, JOB_ID
from voicebot.config import Config, StoreConfig
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_jobs
from voicebot.store import Store, accounts
from voicebot.store import hr as db


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store, str]]:
    """A signed-in hr session: (client, store, the session's CSRF token)."""
    async with await Store.open(tmp_path / "voicebot.db") as store:
        await import_jobs(store, JOB_FILE)
        _, token = await accounts.create_token(store, "Ann Recruiter", "hr")
        app = create_app(store, Config(store=StoreConfig(path=str(tmp_path / "voicebot.db"))))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            form = await client.get("/console/signin")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            signed = await client.post("/console/signin", data={"csrf": csrf, "token": token})
            assert signed.status_code == 303
            page = await client.get("/console/campaigns")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            yield client, store, csrf


async def test_a_campaign_for_a_missing_job_is_refused_and_a_name_is_trimmed(
    console: tuple[httpx.AsyncClient, Store, str],
) -> None:
    client, store, csrf = console
    refused = await client.post("/console/campaigns", data={"csrf": csrf, "job_id": "nope",
                                                            "name": "x"})  # fmt: skip
    assert refused.status_code == 422 and "Job &#39;nope&#39; does not exist" in refused.text
    assert await db.list_campaigns(store) == []
    made = await client.post("/console/campaigns", data={
        "csrf": csrf, "job_id": JOB_ID, "name": "  <script>alert(1)</script>" + "x" * 500})
    assert made.status_code == 303
    (campaign,) = await db.list_campaigns(store)
    assert len(campaign["name"]) == 200  # kept, trimmed, and escaped where it is shown
    shown = await client.get(made.headers["location"])
    assert "<script>alert(1)" not in shown.text and "&lt;script&gt;" in shown.text
    forged = await client.post("/console/campaigns", data={"csrf": "x", "job_id": JOB_ID})
    assert forged.status_code == 403 and len(await db.list_campaigns(store)) == 1


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"candidates": "abc"}, "candidates: a whole number"),
        ({"candidates": "0"}, "candidates: from 1 to 5"),
        ({"candidates": "99999999999999999999"}, "candidates: from 1 to 5"),
        ({"webhook": "javascript:alert(1)"}, "is not an http(s) URL"),
        ({"webhook": "http://127.0.0.1:9/", "secret": "whsec_%%%"}, "webhook secret:"),
    ],
)
async def test_a_wrong_dry_run_form_is_one_message_and_starts_nothing(
    console: tuple[httpx.AsyncClient, Store, str], fields: dict[str, str], says: str
) -> None:
    client, _, csrf = console
    made = await client.post("/console/campaigns", data={"csrf": csrf, "job_id": JOB_ID,
                                                         "name": "spring"})  # fmt: skip
    url = made.headers["location"]
    sent = await client.post(f"{url}/dry-run", data={"csrf": csrf, "candidates": "1", **fields})
    assert sent.status_code == 422, sent.text
    assert says in sent.text.replace("&#39;", "'")
    page = await client.get("/console/dry-run")
    assert "No dry run yet" in page.text  # nothing started
