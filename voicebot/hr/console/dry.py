"""The console's dry run: one at a time per API process, run in its event loop beside the API.

`voicebot.campaigns.dryrun` does the work (scripted SIP phones on loopback, the real models,
a separate store). Once it has finished, its store stays open for the console to show the
interviews, their reports and the review form, and a webhook sender stays on it, so a review
decision recorded there reaches the dry run's webhook receiver as the real one would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.config import Config
from voicebot.hr.webhooks import WebhookError, WebhookSender, new_secret, sign
from voicebot.store import Store

log = logging.getLogger(__name__)

MAX_CANDIDATES = 5  # scripted phones a console dry run may dial (each is a whole interview)


@dataclass(slots=True)
class DryRun:
    campaign_id: str
    campaign_name: str
    candidates: int
    webhook: str | None
    secret: str | None
    generated: bool = False  # the secret was made here: the page shows it once
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        return "running" if self.result is None else "done"


class DryRunner:
    """Starts dry runs and, once one has ended, holds its store open for the pages."""

    def __init__(self, cfg: Config, source: Store, path: Path) -> None:
        self.cfg = cfg
        self.source = source
        self.path = path
        self.current: DryRun | None = None
        self.store: Store | None = None
        self._task: asyncio.Task[None] | None = None
        self._sender: WebhookSender | None = None
        self._sending: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(
        self, campaign: dict[str, Any], candidates: int, webhook: str, secret: str
    ) -> DryRun:
        """ValueError with the reason when the form is wrong or a dry run is still on."""
        if self.running:
            raise ValueError("a dry run is still running: wait for it to finish")
        if not 1 <= candidates <= MAX_CANDIDATES:
            raise ValueError(f"candidates: from 1 to {MAX_CANDIDATES}")
        url = webhook.strip() or None
        key = secret.strip() or None
        generated = False
        if url is not None:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook: {url!r} is not an http(s) URL")
            generated = key is None
            key = key or new_secret()
            try:
                sign(key, "check", 0, b"")
            except WebhookError as e:
                raise ValueError(f"webhook secret: {e}") from None
        await self._close_store()
        run = DryRun(campaign["id"], campaign["name"], candidates, url, key, generated)
        self.current = run
        self._task = asyncio.create_task(self._run(run))
        return run

    async def _run(self, run: DryRun) -> None:
        from voicebot.campaigns.dryrun import dry_run

        try:
            run.result = await dry_run(
                self.cfg, run.campaign_id, store_path=self.path, webhook_url=run.webhook,
                webhook_secret=run.secret, limit=run.candidates, source=self.source,
            )  # fmt: skip
        except asyncio.CancelledError:
            run.error = "stopped: the API shut down"
            raise
        except Exception as e:  # the page shows it; the API goes on
            log.exception("dry run of campaign %s failed", run.campaign_id)
            run.error = str(e) or type(e).__name__
        finally:
            run.ended_at = time.time()
        if run.error is None:
            self.store = await Store.open(self.path)
            self._sender = WebhookSender(self.store, self.cfg.webhooks, poll_s=0.5)
            self._sending = asyncio.create_task(self._sender.run())

    def wake(self) -> None:
        """A decision was recorded in the dry store: deliver it now."""
        if self._sender is not None:
            self._sender.wake()

    async def _close_store(self) -> None:
        if self._sender is not None and self._sending is not None:
            self._sender.stop()
            with contextlib.suppress(Exception):
                await self._sending
        self._sender = self._sending = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self._close_store()
