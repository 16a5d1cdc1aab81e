"""Hostile bodies through the HR API (issue 16 item 8): deep JSON and YAML, alias bombs,
NaN and Infinity, oversized bodies, absurd campaign settings. Each is a 4xx naming what is
wrong, never a 500; and /docs and /redoc work offline (issue 17)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.hr.helpers import JOB_FILE, JOB_ID
from tests.hr.test_limits import DEEP, alias_bomb
from voicebot.config import ApiConfig, Config
from voicebot.hr.api import create_app
from voicebot.store import Store
from voicebot.store import hr as db

CAP = 64 * 1024


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, Config(api=ApiConfig(max_body_bytes=CAP)))
    token = await db.create_token(store, "ats", "hr")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


def messages(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 422, (resp.status_code, resp.text[:300])
    return [e["msg"] for e in resp.json()["detail"]]


JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


@pytest.mark.parametrize(
    ("body", "headers", "why"),
    [
        ('{"id": "x",\n"title": ' + "[" * DEEP + "]" * DEEP + "}", JSON,
         "line 2: nested deeper than 64 levels"),
        ("id: x\ntitle: " + "[" * DEEP + "]" * DEEP + "\n", YAML,
         "line 2: nested deeper than 64 levels"),
        (alias_bomb(), YAML, "aliases (*name) expand it by"),
        (JOB_FILE.read_text() + "title: Again\n", YAML, "duplicate key 'title' (first at line"),
        ("id: x\ntitle: .inf\n", YAML, "line 2: '.inf' is not a finite number"),
        ('{"id": "x", "id": "y"}', JSON, "duplicate key 'id' in one object"),
        (b"id: caf\xe9\n", YAML, "line 1: not UTF-8 text"),
    ],
)  # fmt: skip
async def test_post_jobs_refuses_hostile_documents_with_a_422(
    client: httpx.AsyncClient, body: str | bytes, headers: dict[str, str], why: str
) -> None:
    resp = await client.post("/jobs", content=body, headers=headers)
    (msg,) = messages(resp)
    assert why in msg
    assert [j["id"] for j in (await client.get("/jobs")).json()] == [JOB_ID]


@pytest.mark.parametrize(
    ("performance", "why"),
    [
        ("NaN", "line 1: NaN is not a number JSON allows"),
        ("Infinity", "line 1: Infinity is not a number JSON allows"),
        ("-Infinity", "line 1: -Infinity is not a number JSON allows"),
        ("1e400", "1e400 is too large a number"),
        ("[" * DEEP + "]" * DEEP, "line 1: nested deeper than 64 levels"),
    ],
)
async def test_outcomes_refuse_non_finite_and_deep_numbers(
    client: httpx.AsyncClient, performance: str, why: str
) -> None:
    body = '{"candidate_id": "c", "performance": ' + performance + "}"
    (msg,) = messages(await client.post("/outcomes", content=body, headers=JSON))
    assert why in msg


async def test_candidate_rows_with_objects_or_surrogates_name_the_row(
    client: httpx.AsyncClient,
) -> None:
    body = '{"candidates": [{"phone": "+1 212 555 0100", "name": {"first": "Ada"}}]}'
    resp = await client.post(f"/jobs/{JOB_ID}/candidates", content=body, headers=JSON)
    assert resp.json()["detail"][0]["loc"] == ["body", "candidates", 0, "name"]
    body = '{"candidates": [{"phone": "+1 212 555 0100", "name": "\\ud800"}]}'
    resp = await client.post(f"/jobs/{JOB_ID}/candidates", content=body, headers=JSON)
    assert "lone UTF-16 surrogate" in messages(resp)[0]
    resp = await client.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": "nobody"})
    assert resp.json()["detail"][0]["loc"] == ["body", "candidates"]
    assert (await client.get(f"/jobs/{JOB_ID}/candidates")).json() == []


async def test_a_body_over_the_cap_is_413_with_or_without_content_length(
    client: httpx.AsyncClient,
) -> None:
    big = b'{"candidates": [' + b'{"phone": "+1 212 555 0100"},' * (CAP // 20) + b"{}]}"
    resp = await client.post(f"/jobs/{JOB_ID}/candidates", content=big, headers=JSON)
    assert resp.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    resp = await client.post("/jobs", content=chunks(), headers=JSON)  # chunked, no length
    assert resp.status_code == 413
    assert (await client.get(f"/jobs/{JOB_ID}/candidates")).json() == []


@pytest.mark.parametrize(
    ("settings", "key", "why"),
    [
        ({"max_concurrent": 10**30}, "max_concurrent", "must be at most 1000"),
        ({"window_days": 5}, "window_days", "expected a list of days"),
        ({"retries": ["busy"]}, "retries", "expected a mapping"),
        ({"calls_per_second": "nan"}, "calls_per_second", "expected a number"),
    ],
)
async def test_campaign_settings_out_of_bounds_are_422_naming_the_setting(
    client: httpx.AsyncClient, settings: dict[str, Any], key: str, why: str
) -> None:
    resp = await client.post("/campaigns", json={"job_id": JOB_ID, "settings": settings})
    assert resp.status_code == 422, resp.text
    (err,) = resp.json()["detail"]
    assert err["loc"] == ["body", "settings", key] and why in err["msg"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages_use_only_local_assets(client: httpx.AsyncClient, path: str) -> None:
    html = (await client.get(path)).text
    assets = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)
    assert assets and not [a for a in assets if re.match(r"(https?:)?//", a)], assets
    assert not re.search(r"https?://", html.replace("http://www.w3.org", ""))
    for url in assets:
        resp = await client.get(url)
        assert resp.status_code == 200 and len(resp.content) > 1000, url
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200 and "/jobs" in spec.json()["paths"]
