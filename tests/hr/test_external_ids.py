"""The ATS's own ids: a candidate is upserted, found and given an outcome by `external_id`, so
an ATS needs no table of voicebot's ids; a new number for the same applicant updates them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import yaml

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.store import Store
from voicebot.store import hr as db


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    token = await db.create_token(store, "ats", "system")
    transport = httpx.ASGITransport(app=create_app(store, Config()))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


def applicant(phone: str, external_id: str = "GH-1001", name: str = "Ada") -> dict[str, str]:
    return {"phone": phone, "name": name, "external_id": external_id}


async def test_a_new_number_for_the_same_applicant_updates_them(
    store: Store, api: httpx.AsyncClient
) -> None:
    url = f"/jobs/{JOB_ID}/candidates"
    first = await api.post(url, json={"candidates": [applicant("+1 212 555 0100")]})
    moved = applicant("+1 212 555 0199", name="Ada L.")
    again = await api.post(url, json={"candidates": [moved]})
    assert first.json()["inserted"] == 1
    assert (again.json()["inserted"], again.json()["updated"]) == (0, 1)
    assert again.json()["ids"] == first.json()["ids"]
    (cand,) = await db.list_candidates(store, JOB_ID)
    assert (cand["phone_e164"], cand["name"]) == ("+12125550199", "Ada L.")
    found = (await api.get("/candidates", params={"external_id": "GH-1001"})).json()
    assert [c["id"] for c in found] == first.json()["ids"]


async def test_a_number_that_is_another_candidate_takes_the_external_id_over(
    store: Store, api: httpx.AsyncClient
) -> None:
    await api.post(f"/jobs/{JOB_ID}/candidates", json={"candidates": [
        applicant("+1 212 555 0100", "GH-1"), applicant("+1 212 555 0101", "GH-2")]})  # fmt: skip
    # the ATS merged two applicants: GH-1 is now the person on ...0101
    await api.post(f"/jobs/{JOB_ID}/candidates",
                   json={"candidates": [applicant("+1 212 555 0101", "GH-1")]})  # fmt: skip
    by_phone = {c["phone_e164"]: c["external_id"] for c in await db.list_candidates(store, JOB_ID)}
    assert by_phone == {"+12125550100": None, "+12125550101": "GH-1"}
    assert len((await api.get("/candidates", params={"external_id": "GH-1"})).json()) == 1


async def test_an_outcome_by_external_id_and_the_ambiguity_it_can_have(
    store: Store, api: httpx.AsyncClient
) -> None:
    spec = yaml.safe_load(JOB_FILE.read_text())
    assert (await api.post("/jobs", json={**spec, "id": "second-job"})).status_code == 201
    for job in (JOB_ID, "second-job"):  # one applicant, two jobs
        await api.post(f"/jobs/{job}/candidates",
                       json={"candidates": [applicant("+1 212 555 0100")]})  # fmt: skip
    both = await api.post("/outcomes", json={"external_id": "GH-1001", "hired": True})
    assert both.status_code == 422 and "give job_id" in both.json()["detail"][0]["msg"]
    one = await api.post(
        "/outcomes", json={"external_id": "GH-1001", "job_id": "second-job", "hired": True}
    )
    assert one.status_code == 200, one.text
    lookup = {"external_id": "GH-1001", "job_id": "second-job"}
    (mine,) = (await api.get("/candidates", params=lookup)).json()
    assert one.json()["candidate_id"] == mine["id"]
    assert (await db.outcomes(store, "second-job"))[mine["id"]]["hired"] in (True, 1)
    unknown = await api.post("/outcomes", json={"external_id": "GH-404", "hired": False})
    assert unknown.status_code == 422 and "no candidate" in unknown.json()["detail"][0]["msg"]
    neither = await api.post("/outcomes", json={"hired": False})
    assert neither.status_code == 422
    assert (await api.get("/candidates")).status_code == 422  # the lookup needs its key
