"""Issue 16 item 9: a 410 from a receiver stops the deliveries to that endpoint that the same
pass had already leased (they were being POSTed one after another to a receiver that said Gone).
"""

from __future__ import annotations

from tests.hr.receiver import Receiver
from tests.hr.test_webhooks import FAST, enqueue_all
from voicebot.hr.webhooks import WebhookSender, new_secret
from voicebot.store import Store
from voicebot.store import hr as db


async def test_gone_stops_the_deliveries_already_leased_to_that_endpoint(store: Store) -> None:
    secret = new_secret()
    async with Receiver([secret], answer=lambda n: (410, {})) as gone, Receiver([secret]) as ok:
        await db.add_endpoint(store, gone.url, secret)
        await db.add_endpoint(store, ok.url, secret)
        await enqueue_all(store, 6)
        async with WebhookSender(store, FAST, concurrency=1) as sender:
            tried = await sender.deliver_due(limit=100)
        assert tried == 12  # all six events for both endpoints were leased in one pass
        assert len(gone.got) == 1  # only the first reached the receiver that said Gone
        assert len(ok.accepted_ids()) == 6  # the other endpoint got every one
        pending = await db.list_deliveries(store, state="pending")
        assert len(pending) == 5  # not lost: a replay (after re-enabling) sends them
