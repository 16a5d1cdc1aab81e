"""Webhook endpoints over the API as an ATS manages its own receiver: register it (the secret
shown once), test it, backfill what it missed in order and under the original ids, rotate the
secret, remove it; readers without an hr token cannot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.hr.receiver import Receiver
from tests.hr.test_webhooks import FAST, deliver_until_idle
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.hr.webhooks import WebhookSender
from voicebot.store import Store
from voicebot.store import hr as db


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    token = await db.create_token(store, "ats", "hr")
    transport = httpx.ASGITransport(app=create_app(store, Config()))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


async def deliver(store: Store) -> None:
    async with WebhookSender(store, FAST) as sender:
        await deliver_until_idle(sender)


async def test_an_ats_registers_tests_and_backfills_its_receiver(
    store: Store, api: httpx.AsyncClient
) -> None:
    kinds = ["call.completed", "interview.completed", "call.completed", "interview.completed"]
    before = [await db.enqueue_event(store, t, {"n": i}) for i, t in enumerate(kinds)]
    async with Receiver(["whsec_placeholder"]) as rx:
        wants = {"url": rx.url, "event_types": ["interview.completed"]}
        made = await api.post("/webhooks/endpoints", json=wants)
        assert made.status_code == 201, made.text
        ep = made.json()
        assert ep["secret"].startswith("whsec_") and ep["enabled"] is True
        rx.secrets = [ep["secret"]]
        listed = (await api.get("/webhooks/endpoints")).json()
        assert [e["id"] for e in listed] == [ep["id"]] and "secret" not in listed[0]

        test = await api.post(f"/webhooks/endpoints/{ep['id']}/test")
        assert test.status_code == 202
        await deliver(store)
        assert [(r.type, r.webhook_id) for r in rx.got] == [
            ("webhook.test", test.json()["event_id"])
        ]

        filled = await api.post(f"/webhooks/endpoints/{ep['id']}/backfill", json={})
        assert filled.json()["queued"] == 2  # only the types it subscribed to
        await deliver(store)
        assert [r.webhook_id for r in rx.got[1:]] == [before[1], before[3]]  # in order, same ids
        again = await api.post(f"/webhooks/endpoints/{ep['id']}/backfill")
        assert again.json()["queued"] == 0  # what it has is not sent twice
        assert rx.rejected == []

        rotated = (await api.post(f"/webhooks/endpoints/{ep['id']}/rotate")).json()
        rx.secrets = [rotated["secret"], ep["secret"]]  # both signatures ride along meanwhile
        await db.enqueue_event(store, "interview.completed", {"n": 9})
        await deliver(store)
        assert rx.got[-1].data == {"n": 9} and rx.rejected == []

        await db.enqueue_event(store, "interview.completed", {"n": 10})
        gone = await api.delete(f"/webhooks/endpoints/{ep['id']}")
        assert gone.json()["cancelled"] == 1  # the pending delivery is cancelled
        assert (await api.get(f"/webhooks/endpoints/{ep['id']}")).status_code == 404
        await deliver(store)
        assert rx.got[-1].data == {"n": 9}


async def test_backfill_takes_a_window_and_a_narrower_type_list(
    store: Store, api: httpx.AsyncClient
) -> None:
    await db.enqueue_event(store, "call.completed", {})
    await db.enqueue_event(store, "interview.completed", {})
    ep = (await api.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:9/h"})).json()
    await db.enqueue_event(store, "report.updated", {})  # queued for it when it happened
    url = f"/webhooks/endpoints/{ep['id']}/backfill"
    assert (await api.post(url, json={"since": "2999-01-01T00:00:00Z"})).json()["queued"] == 0
    assert (await api.post(url, json={"event_types": ["call.completed"]})).json()["queued"] == 1
    assert (await api.post(url)).json()["queued"] == 1  # the interview.completed left
    assert (await api.post(url)).json()["queued"] == 0
    pending = [d["type"] for d in await db.list_deliveries(store, state="pending")]
    assert sorted(pending) == ["call.completed", "interview.completed", "report.updated"]


@pytest.mark.parametrize(
    "body, field",
    [({"url": "ftp://x.example/h"}, "url"), ({"url": "http://x.example/h",
      "event_types": ["interview.done"]}, "event_types")],
)  # fmt: skip
async def test_bad_endpoints_are_422s_naming_the_field(
    api: httpx.AsyncClient, body: dict, field: str
) -> None:
    resp = await api.post("/webhooks/endpoints", json=body)
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][-1] == field


async def test_only_hr_manages_endpoints(store: Store, api: httpx.AsyncClient) -> None:
    system = {"Authorization": f"Bearer {await db.create_token(store, 'ats', 'system')}"}
    assert (await api.get("/webhooks/endpoints", headers=system)).status_code == 403
    made = await api.post("/webhooks/endpoints", json={"url": "http://x.example/h"},
                          headers=system)  # fmt: skip
    assert made.status_code == 403
    for path in ("/webhooks/endpoints/ep_nope/test", "/webhooks/endpoints/ep_nope/backfill"):
        assert (await api.post(path)).status_code == 404
