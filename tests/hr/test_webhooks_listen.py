"""`voicebot webhooks listen` as a real process on 127.0.0.1: voicebot's own sender delivers
to it and each verified delivery is one line on stdout; a forged one is 401 and named on
stderr, and the sender's delivery is recorded as delivered."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from voicebot.config import WebhooksConfig
from voicebot.hr.webhooks import WebhookSender, new_secret
from voicebot.store import Store
from voicebot.store import hr as db

ENV = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}


async def test_listen_prints_verified_deliveries_and_refuses_forged_ones(
    store: Store, tmp_path: Path
) -> None:
    secret = new_secret()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "webhooks", "listen", "--port", "0",
        "--secret", secret, env=ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert first.startswith("listening on http://127.0.0.1:") and secret in first
        url = first.split()[2]
        await db.add_endpoint(store, url, secret)
        event = {"candidate_id": "cand_1", "campaign_id": "camp_1", "recommendation": "yes",
                 "score": 3.8, "report_url": "http://api/interviews/c1/report"}  # fmt: skip
        event_id = await db.enqueue_event(store, "interview.completed", event)
        async with WebhookSender(store, WebhooksConfig(jitter=0.0)) as sender:
            assert await sender.deliver_due() == 1
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "interview.completed" in line and event_id in line
        assert "recommendation=yes" in line and "score=3.8" in line
        (delivery,) = await db.list_deliveries(store)
        assert delivery["state"] == "delivered"

        async with httpx.AsyncClient() as client:
            forged = await client.post(
                url, content=b'{"type":"x","data":{}}',
                headers={"webhook-id": "msg_forged", "webhook-timestamp": "1",
                         "webhook-signature": "v1,AAAA"},
            )  # fmt: skip
        assert forged.status_code == 401
        refused = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        while not refused.startswith("refused"):  # after the 'add it with' hint
            refused = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert refused.startswith("refused msg_forged:")
    finally:
        proc.terminate()
        await proc.wait()


async def test_a_bad_secret_is_one_line() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot.cli", "webhooks", "listen", "--port", "0",
        "--secret", "not-a-secret", env=ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and out == b""
    assert err.decode().strip() == ("voicebot: webhook secret: expected whsec_ followed by base64")
