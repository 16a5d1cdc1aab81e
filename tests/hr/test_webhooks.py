"""Webhooks to a real receiver on 127.0.0.1 that verifies with the `standardwebhooks` library:
every delivery verifies, retries after 500s give each webhook-id exactly once, Retry-After is
honoured, 410 disables the endpoint, and a rotated secret signs alongside the new one."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from pathlib import Path

from tests.hr.receiver import Receiver
from voicebot.config import WebhooksConfig
from voicebot.hr.webhooks import EVENT_TYPES, WebhookSender, new_secret, sign
from voicebot.store import Store
from voicebot.store import hr as db

FAST = WebhooksConfig(schedule=(0, 0, 0, 0, 0, 0, 0, 0), jitter=0.0, timeout_s=5)


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def enqueue_all(store: Store, n: int) -> list[str]:
    return [
        await db.enqueue_event(store, EVENT_TYPES[i % len(EVENT_TYPES)], {"n": i, "name": "Zoë"})
        for i in range(n)
    ]


async def deliver_until_idle(sender: WebhookSender, batch: int = 100) -> None:
    while await sender.deliver_due(limit=batch):
        pass


def test_signature_matches_the_standard_webhooks_reference() -> None:
    from standardwebhooks import Webhook

    secret = new_secret()
    body = b'{"type":"call.completed","data":{}}'
    ours = sign(secret, "msg_1", 1_700_000_000, body)
    theirs = Webhook(secret).sign("msg_1", __import__("datetime").datetime.fromtimestamp(
        1_700_000_000, __import__("datetime").UTC), body.decode())  # fmt: skip
    assert ours == theirs


async def test_every_delivery_verifies_with_the_reference_library(store: Store) -> None:
    secret = new_secret()
    async with Receiver([secret]) as rx:
        await db.add_endpoint(store, rx.url, secret)
        ids = await enqueue_all(store, 25)
        async with WebhookSender(store, FAST) as sender:
            await deliver_until_idle(sender)
    assert rx.rejected == []
    assert sorted(rx.accepted_ids()) == sorted(ids)
    assert {r.type for r in rx.got} == set(EVENT_TYPES)
    assert rx.got[0].data["name"] == "Zoë"


async def test_a_receiver_that_fails_then_recovers_gets_each_event_exactly_once(
    store: Store,
) -> None:
    secret = new_secret()
    clock = Clock()
    schedule = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    cfg = replace(FAST, schedule=schedule, jitter=0.1)
    down_for = 30  # requests
    async with Receiver([secret], answer=lambda n: (500, {}) if n < down_for else (200, {})) as rx:
        await db.add_endpoint(store, rx.url, secret)
        ids = await enqueue_all(store, 12)
        async with WebhookSender(store, cfg, clock=clock, rng=random.Random(3)) as sender:
            for _ in range(40):  # each round: deliver what is due, then let an hour pass
                await deliver_until_idle(sender)
                clock.t += 3600
    accepted = rx.accepted_ids()
    assert sorted(accepted) == sorted(ids)
    assert len(accepted) == len(set(accepted))
    assert sum(r.status == 500 for r in rx.got) == down_for
    assert await db.list_deliveries(store, state="pending") == []


async def test_retry_schedule_has_jitter_and_honours_retry_after(store: Store) -> None:
    secret = new_secret()
    clock = Clock()
    cfg = replace(FAST, schedule=(0, 5, 300), jitter=0.1)
    answers = [(503, {"Retry-After": "120"}), (500, {}), (200, {})]
    async with Receiver([secret], answer=lambda n: answers[n]) as rx:
        await db.add_endpoint(store, rx.url, secret)
        await enqueue_all(store, 1)
        async with WebhookSender(store, cfg, clock=clock, rng=random.Random(1)) as sender:
            start = clock.t
            await deliver_until_idle(sender)
            (d,) = await db.list_deliveries(store)
            assert d["next_at"] - start == 120  # Retry-After beats the 5 s step
            clock.t += 119
            assert await sender.deliver_due() == 0
            clock.t += 1
            await deliver_until_idle(sender)
            (d,) = await db.list_deliveries(store)
            assert 270 <= d["next_at"] - clock.t <= 330 and d["next_at"] - clock.t != 300
            clock.t = d["next_at"]
            await deliver_until_idle(sender)
    assert [r.status for r in rx.got] == [503, 500, 200]


async def test_gone_disables_the_endpoint_and_replay_revives_it(store: Store) -> None:
    secret = new_secret()
    async with Receiver([secret], answer=lambda n: (410, {}) if n == 0 else (200, {})) as rx:
        eid = await db.add_endpoint(store, rx.url, secret)
        first = (await enqueue_all(store, 1))[0]
        async with WebhookSender(store, FAST) as sender:
            await deliver_until_idle(sender)
            await enqueue_all(store, 1)
            await deliver_until_idle(sender)
            (ep,) = await db.list_endpoints(store)
            assert (ep["id"], ep["enabled"], ep["disabled_reason"]) == (eid, False, "410 Gone")
            assert len(rx.got) == 1  # nothing more was sent to a gone endpoint
            assert await db.replay(store, event_id=first) == 1
            await deliver_until_idle(sender)
    assert rx.accepted_ids() == [first]


async def test_rotation_signs_with_both_secrets_until_the_old_one_expires(store: Store) -> None:
    old, new = new_secret(), new_secret()
    async with Receiver([old, new]) as rx:
        eid = await db.add_endpoint(store, rx.url, old)
        await db.rotate_secret(store, eid, new, keep_old_s=3600)
        await enqueue_all(store, 2)
        async with WebhookSender(store, FAST) as sender:
            await deliver_until_idle(sender)
    assert rx.rejected == [] and len(rx.accepted_ids()) == 2
    # after the overlap only the new secret signs: a receiver still on the old one rejects
    async with Receiver([old]) as rx_old:
        ep = (await db.list_endpoints(store))[0]
        await store._db.execute(
            "UPDATE webhook_endpoints SET url = ?, old_secret_until = ? WHERE id = ?",
            (rx_old.url, time.time() - 1, ep["id"]),
        )
        await store._db.commit()
        await enqueue_all(store, 1)
        async with WebhookSender(store, FAST) as sender:
            await deliver_until_idle(sender)
    assert len(rx_old.rejected) >= 1 and rx_old.accepted_ids() == []


async def test_two_senders_on_one_store_never_send_the_same_event_twice(
    store: Store, tmp_path: Path
) -> None:
    """`voicebot api` and a `campaign start` may both run a sender on the same file."""
    secret = new_secret()
    async with Receiver([secret]) as rx:
        await db.add_endpoint(store, rx.url, secret)
        ids = await enqueue_all(store, 60)
        async with await Store.open(store.path) as other:
            a, b = WebhookSender(store, FAST), WebhookSender(other, FAST)
            async with a, b:
                await asyncio.gather(*(deliver_until_idle(s, batch=4) for s in (a, b, a, b)))
    accepted = rx.accepted_ids()
    assert len(accepted) == len(set(accepted)), f"sent twice; a={a.delivered} b={b.delivered}"
    assert sorted(accepted) == sorted(ids)
