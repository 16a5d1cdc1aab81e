"""One process running a campaign: the dialer over a bridge, and the webhook sender beside it.

`voicebot campaign start|resume` call `run_campaign`; `--simulate` swaps the bridge and the
interviewer for simulated ones (benchmarks, crash tests) so no PBX or model is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from voicebot.campaigns.dialer import Dialer, Interviews, Scorer, score_with_pipeline
from voicebot.config import Config
from voicebot.hr.webhooks import WebhookSender
from voicebot.store import Store
from voicebot.telephony.base import Bridge

log = logging.getLogger(__name__)


class CallingUnavailable(RuntimeError):
    """The PBX (or the bot's own SIP socket) cannot be used; one line naming where."""


def pbx_address(cfg: Config, name: str = "") -> str:
    """Where the configured bridge connects to, as the operator wrote it in the config."""
    bridge = name or cfg.bridge
    if bridge == "ari":
        return f"ARI {cfg.ari.url}"
    if bridge == "agi":
        return f"AMI {cfg.agi.ami_host}:{cfg.agi.ami_port}"
    if bridge == "freeswitch":
        return f"FreeSWITCH ESL {cfg.freeswitch.host}:{cfg.freeswitch.port}"
    if cfg.sip.registrar:
        return f"SIP registrar {cfg.sip.registrar}"
    return f"SIP on {cfg.sip.listen_host}:{cfg.sip.listen_port}"


@contextlib.asynccontextmanager
async def open_pbx(cfg: Config, wait_s: float = 15.0) -> AsyncIterator[Bridge]:
    """The configured bridge, ready to dial; a PBX that cannot be reached (or a SIP port that
    cannot be bound) is `CallingUnavailable` naming the address, not a bridge traceback."""
    from voicebot.serve import BridgeNotReady, open_bridge

    async with contextlib.AsyncExitStack() as stack:
        try:
            bridge = await stack.enter_async_context(open_bridge(cfg, wait_s=wait_s))
        except BridgeNotReady as e:
            raise CallingUnavailable(
                f"{_unreachable(cfg, str(e))}; check [{cfg.bridge}] in the config, or run "
                "voicebot doctor"
            ) from None
        except OSError as e:
            sip = cfg.bridge in ("sip", "freeswitch")  # these bind sip.listen_host:port
            hint = f"; is another voicebot on {cfg.sip.listen_host}:{cfg.sip.listen_port}?"
            raise CallingUnavailable(
                f"cannot start the {cfg.bridge} bridge (for {pbx_address(cfg)}): "
                f"{e.strerror or e}{hint if sip else ''}"
            ) from None
        yield bridge


def _unreachable(cfg: Config, error: str) -> str:
    """'sip bridge not ready after 15 s: no answer' as 'cannot reach the PBX at SIP registrar
    pbx.example.com:5060: no answer within 15 s' (the bridge's own reason when it has one)."""
    m = re.match(r"\w+ bridge not ready after ([\d.]+ s): (.*)", error)
    if m is None:
        return f"cannot reach the PBX at {pbx_address(cfg)}: {error}"
    wait, why = m[1], m[2].removesuffix("; retrying with backoff")
    if not why or why == "no answer":
        return f"cannot reach the PBX at {pbx_address(cfg)}: no answer within {wait}"
    return f"cannot reach the PBX: {why} (waited {wait})"


@dataclass(frozen=True, slots=True)
class Simulation:
    mix: str
    seed: int = 0
    call_s: float = 0.0
    dial_log: str | None = None


@contextlib.asynccontextmanager
async def open_calling(
    cfg: Config, store: Store, simulate: Simulation | None
) -> AsyncIterator[tuple[Bridge, Interviews, Scorer]]:
    """The bridge, interviewer and scorer a dialer uses: simulated, or the configured bridge
    with the real models."""
    if simulate is not None:
        from voicebot.campaigns.simulated import (
            SimulatedBridge,
            SimulatedInterviewer,
            parse_mix,
            simulated_scorer,
        )

        bridge = SimulatedBridge(
            parse_mix(simulate.mix), seed=simulate.seed, dial_log=simulate.dial_log
        )
        interviewer = SimulatedInterviewer(
            store, call_s=simulate.call_s, dial_log=simulate.dial_log
        )
        yield bridge, interviewer, simulated_scorer
        return
    from voicebot.interview.runner import Interviewer
    from voicebot.scoring import llm

    # the PBX first: an unreachable one fails before seconds of model loading
    async with open_pbx(cfg) as bridge:  # `bridge` in the config: sip, ari, agi, freeswitch
        interviewer = await Interviewer.create(cfg, store=store)
        scorer = functools.partial(
            score_with_pipeline,
            compliance=cfg.compliance.mode,
            feedback_scores=cfg.reports.feedback_scores,
            rater=llm.from_config(cfg.scoring),
        )
        yield bridge, interviewer, scorer


async def run_campaign(
    cfg: Config, campaign_id: str, *, simulate: Simulation | None = None, drain_s: float = 5.0
) -> dict[str, Any]:
    """Dial the campaign to its end (or until paused), delivering webhooks meanwhile; then
    give the outbox up to `drain_s` to empty. Undelivered events stay in the store."""
    store = await Store.open(cfg.store.path)
    sender = WebhookSender(store, cfg.webhooks, poll_s=0.5)
    sending = asyncio.create_task(sender.run())
    try:
        async with open_calling(cfg, store, simulate) as (bridge, interviewer, scorer):
            dialer = Dialer(
                store, bridge, interviewer, scorer=scorer, report_url=cfg.api.public_url
            )
            state = await dialer.run(campaign_id)
        await _drain(store, sender, drain_s)
        return {"state": state, "dialled": dialer.stats.dialled, "outcomes": dialer.stats.outcomes}
    finally:
        sender.stop()
        try:
            await sending
        finally:
            await store.close()  # an open connection's thread would keep the process alive


async def _drain(store: Store, sender: WebhookSender, seconds: float) -> None:
    from voicebot.store import hr as db

    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        next_at = await db.next_delivery_at(store)
        if next_at is None or next_at > sender.clock() + left:
            return
        sender.wake()
        await asyncio.sleep(0.1)


async def run_worker(
    cfg: Config,
    *,
    simulate: Simulation | None = None,
    until_idle: bool = False,
    stop: asyncio.Event | None = None,
    drain_s: float | None = None,
    lease_s: float | None = None,
) -> dict[str, str]:
    """`voicebot worker`: dial every running campaign's share and deliver the outbox beside
    the other workers on the same store, until `stop` (or, with `until_idle`, until no
    campaign is running); then give the outbox up to `drain_s`. A batch (`until_idle`) waits
    by default for deliveries a dead worker's sender had leased: when the last worker leaves,
    nothing is left undelivered that a live sender could have sent."""
    from voicebot.campaigns.worker import LEASE_S, Worker
    from voicebot.metrics import metrics_listener
    from voicebot.store.db import store_unready

    store = await Store.open(cfg.store.path)
    sender = WebhookSender(store, cfg.webhooks, poll_s=0.5)
    sending = asyncio.create_task(sender.run())
    stop = stop or asyncio.Event()

    async def unready() -> str | None:
        if stop.is_set():
            return "stopping: live calls are finishing"
        return await store_unready(store)

    scrape = None
    try:
        scrape = await metrics_listener(cfg.metrics, lambda line: log.info("%s", line), unready)
        async with open_calling(cfg, store, simulate) as (bridge, interviewer, scorer):
            worker = Worker(store, bridge, interviewer, scorer=scorer,
                            report_url=cfg.api.public_url, lease_s=lease_s or LEASE_S)  # fmt: skip
            stopper = asyncio.create_task(stop.wait())
            stopper.add_done_callback(lambda _: worker.stop())
            try:
                ended = await worker.run(until_idle=until_idle)
            finally:
                stopper.cancel()
        if drain_s is None:
            lease = sender.lease_s(2 * sender.concurrency)
            drain_s = lease + cfg.webhooks.timeout_s if until_idle else 5.0
        await _drain(store, sender, drain_s)
        return ended
    finally:
        if scrape is not None:
            scrape.close()
        sender.stop()
        try:
            await sending
        finally:
            await store.close()  # an open connection's thread would keep the process alive
