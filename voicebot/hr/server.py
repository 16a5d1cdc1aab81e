"""`voicebot api`: the HR API under uvicorn, with the webhook sender and campaign dialers
running in the same event loop.

The bridge and the interviewer (speech models) are opened on the first campaign start and
shared by every campaign the server dials, so two campaigns never fight over the SIP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from voicebot import metrics
from voicebot.campaigns.dialer import Dialer
from voicebot.campaigns.service import open_calling
from voicebot.config import Config
from voicebot.hr.api import create_app
from voicebot.hr.webhooks import WebhookSender
from voicebot.store import Store

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn re-raises the SIGTERM it handled once HTTP has stopped, which killed the
    process before the dialers drained: here the signal only asks the server to stop, and
    `serve` returns (exit 0) after the drain."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


async def serve(cfg: Config, *, host: str, port: int, to_workers: bool = False) -> None:
    """`to_workers`: a started campaign is only marked running, for `voicebot worker`s."""
    store = await Store.open(cfg.store.path)
    sender = WebhookSender(store, cfg.webhooks)
    dialers: dict[str, asyncio.Task[str]] = {}
    runners: dict[str, Dialer] = {}
    calling: tuple[Any, ...] | None = None
    opening = asyncio.Lock()

    async with contextlib.AsyncExitStack() as stack:

        async def launch(campaign_id: str) -> None:
            """One dialer per campaign; starting a running campaign again is a no-op."""
            nonlocal calling
            running = dialers.get(campaign_id)
            if running is not None and not running.done():
                return
            async with opening:
                if calling is None:
                    calling = await stack.enter_async_context(open_calling(cfg, store, None))
            bridge, interviewer, scorer = calling
            dialer = Dialer(
                store, bridge, interviewer, scorer=scorer, report_url=cfg.api.public_url
            )
            runners[campaign_id] = dialer
            dialers[campaign_id] = asyncio.create_task(dialer.run(campaign_id))
            dialers[campaign_id].add_done_callback(_log_end(campaign_id))

        app = create_app(store, cfg, launcher=None if to_workers else launch)
        metrics.mount(app, store)
        # with JSON logs uvicorn keeps its hands off logging: its lines go through ours
        log_config = None if cfg.log_format == "json" else uvicorn.config.LOGGING_CONFIG
        server = DrainingServer(uvicorn.Config(app, host=host, port=port, log_level="info",
                                               log_config=log_config))  # fmt: skip
        sending = asyncio.create_task(sender.run())
        try:
            await server.serve()
        finally:
            sender.stop()
            await sending
            # SIGTERM (uvicorn's): dial nobody new, give live interviews the grace period,
            # then cut the rest (their rows close as interrupted; the bridge sends the BYEs)
            for dialer in runners.values():
                dialer.stop()
            live = [t for t in dialers.values() if not t.done()]
            if live:
                log.info("shutting down: %d campaign(s) finishing their calls", len(live))
                await asyncio.wait(live, timeout=cfg.shutdown_grace_s)
            for task in dialers.values():
                task.cancel()
            await asyncio.gather(*dialers.values(), return_exceptions=True)
    await store.close()


def _log_end(campaign_id: str) -> Callable[[asyncio.Task[str]], None]:
    def done(task: asyncio.Task[str]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign %s dialer failed: %s", campaign_id, task.exception())

    return done
