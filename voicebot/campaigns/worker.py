"""`voicebot worker`: one of any number of processes (on one machine or many, over one shared
store) that dial every running campaign together and deliver the webhook outbox.

Unlike `campaign start`, which holds a campaign for one process, workers share it: each call
is claimed under a lease (voicebot/store/workers.py) and the campaign's `max_concurrent` and
`calls_per_second` are counted across all workers. A worker renews its leases while its calls
live; when one dies (kill -9, a lost host), the others settle what it held once its leases
expire: undialled claims go back to the queue, calls that may have connected go to review.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from voicebot.campaigns.dialer import Dialer, Interviews, Scorer, _Run
from voicebot.campaigns.settings import CampaignSettings, parse_settings
from voicebot.interview.plan import Job, parse_job
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store import workers as shared
from voicebot.telephony.base import Bridge

log = logging.getLogger(__name__)
LEASE_S = 30.0  # a worker silent this long is taken for dead; it renews 3 times meanwhile


class _SharedRun(_Run):
    """One campaign's share of the work in this worker."""

    def __init__(
        self, dialer: Dialer, campaign_id: str, job: Job, settings: CampaignSettings,
        owner: str, lease_s: float,
    ) -> None:  # fmt: skip
        super().__init__(dialer, campaign_id, job, settings)
        self.owner = owner
        self.lease_s = lease_s
        self.held: dict[asyncio.Task[None], str] = {}

    async def loop(self) -> str:
        renewed = time.time()
        while True:
            now = time.time()  # leases are wall time: other processes read them
            if now - renewed >= self.lease_s / 3:
                renewed = now
                await shared.renew(self.store, self.owner, list(self.held.values()),
                                   now + self.lease_s)  # fmt: skip
                await shared.reap(self.store, self.campaign_id, now)
            state = (await db.get_campaign(self.store, self.campaign_id) or {}).get("state")
            if state != "running" or self.d._stopping.is_set():
                await self._drain()
                return str(state)
            claim = await shared.claim_next(
                self.store, self.campaign_id, self.owner, self.d.clock.now(),
                lease_s=self.lease_s, max_concurrent=self.s.max_concurrent,
                calls_per_second=self.s.calls_per_second,
            )  # fmt: skip
            if claim.attempt_id is not None and claim.target is not None:
                await self._start(claim.target, claim.attempt_id)
                continue
            if claim.idle and not self.held:
                await shared.reap(self.store, self.campaign_id, time.time())
                if await shared.settle_if_done(self.store, self.campaign_id, time.time()):
                    return "done"
            await self._wait(claim.wait_s or self.d.poll_s)

    async def _start(self, target: dict[str, Any], attempt_id: str) -> None:
        if not await self._may_call(target):  # its window is shut, do-not-call, cool-down
            await db.release(self.store, attempt_id)
            await self._may_call(target)  # now pending again: defer or skip it for real
            return
        await db.mark_dialling(self.store, attempt_id, self.d.clock.now())
        self.d.stats.dialled += 1
        task = asyncio.create_task(self._attempt(target, attempt_id))
        self.held[task] = attempt_id
        self.in_flight.add(task)
        task.add_done_callback(self._ended)
        self.d.stats.max_in_flight = max(self.d.stats.max_in_flight, len(self.in_flight))

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.held.pop(task, None)


class Worker:
    """Dials every running campaign's share this process can take, until `stop()`."""

    def __init__(
        self,
        store: Store,
        bridge: Bridge,
        interviewer: Interviews,
        *,
        scorer: Scorer | None,
        report_url: str = "",
        lease_s: float = LEASE_S,
        poll_s: float = 0.5,
    ) -> None:
        self.dialer = Dialer(store, bridge, interviewer, scorer=scorer, report_url=report_url,
                             poll_s=poll_s)  # fmt: skip
        self.store = store
        self.owner = f"{socket.gethostname()}:{os.getpid()}{shared.WORKER}"
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.runs: dict[str, asyncio.Task[str]] = {}

    def stop(self) -> None:
        self.dialer.stop()

    async def run(self, *, until_idle: bool = False) -> dict[str, str]:
        """Every running campaign, each in its own task; `until_idle` returns once none is
        running (a batch), else it keeps looking for new ones until `stop()`."""
        ended: dict[str, str] = {}
        while not self.dialer._stopping.is_set():
            for cid in await shared.running_campaigns(self.store, time.time()):
                if cid not in self.runs:
                    self.runs[cid] = asyncio.create_task(self._campaign(cid))
            for cid, task in list(self.runs.items()):
                if task.done():
                    ended[cid] = task.result() if not task.exception() else "failed"
                    del self.runs[cid]
            if until_idle and not self.runs and not await shared.running_campaigns(
                self.store, time.time()
            ):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dialer._stopping.wait(), self.poll_s)
        for cid, task in self.runs.items():
            ended[cid] = await task
        return ended

    async def _campaign(self, campaign_id: str) -> str:
        campaign = await db.get_campaign(self.store, campaign_id)
        spec = await db.get_job_spec(self.store, campaign["job_id"]) if campaign else None
        if campaign is None or spec is None:
            return "missing"
        job = parse_job(spec, source=f"job {campaign['job_id']}", default_id=campaign["job_id"])
        settings = parse_settings(campaign["settings"])
        await self.dialer.interviewer.warm_prompts(job)
        run = _SharedRun(self.dialer, campaign_id, job, settings, self.owner, self.lease_s)
        try:
            return await run.loop()
        except Exception:
            log.exception("worker: campaign %s failed in this worker", campaign_id)
            raise


def describe(ended: Mapping[str, str]) -> str:
    return ", ".join(f"{cid} {state}" for cid, state in sorted(ended.items())) or "nothing ran"
