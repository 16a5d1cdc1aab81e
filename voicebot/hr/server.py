"""`voicebot api`: the HR API under uvicorn, with the webhook sender and campaign dialers
running in the same event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import uvicorn

from voicebot.campaigns.service import run_campaign
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.hr.webhooks import WebhookSender
from voicebot.store import Store

log = logging.getLogger(__name__)


async def serve(cfg: Config, *, host: str, port: int) -> None:
    store = await Store.open(cfg.store.path)
    sender = WebhookSender(store, cfg.webhooks)
    dialers: dict[str, asyncio.Task[object]] = {}

    async def launch(campaign_id: str) -> None:
        """One dialer per campaign; starting a running campaign again is a no-op."""
        running = dialers.get(campaign_id)
        if running is not None and not running.done():
            return
        dialers[campaign_id] = asyncio.create_task(
            run_campaign(cfg, campaign_id, send_webhooks=False)
        )
        dialers[campaign_id].add_done_callback(_log_end(campaign_id))

    app = create_app(store, cfg, launcher=launch)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    sending = asyncio.create_task(sender.run())
    try:
        await server.serve()
    finally:
        sender.stop()
        await sending
        for task in dialers.values():
            task.cancel()
        await asyncio.gather(*dialers.values(), return_exceptions=True)
        await store.close()


def _log_end(campaign_id: str) -> Callable[[asyncio.Task[object]], None]:
    def done(task: asyncio.Task[object]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign %s dialer failed: %s", campaign_id, task.exception())

    return done
