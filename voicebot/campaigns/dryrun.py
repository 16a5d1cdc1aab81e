"""`voicebot campaign start ID --dry-run`: the campaign as it will run, without calling anyone.

The campaign's job, settings and first candidates (their names, not their numbers) are copied
into a separate store (`var/dry-run.db` by default; the real store is only read). Each
candidate is a scripted SIP phone (`voicebot.demo.ScriptedCandidate`, piper's voice) registered
on a kamailio started on loopback, as in `voicebot demo`; the real dialer, interviewer, scorer
and webhook sender run against them, so the webhooks an ATS would get carry real reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from voicebot.campaigns.dialer import Dialer, score_with_pipeline
from voicebot.campaigns.settings import parse_settings
from voicebot.config import Config
from voicebot.hr.webhooks import WebhookSender
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.db import StoreError
from voicebot.store.hr import CandidateRecord

log = logging.getLogger(__name__)

# every day, all day, no cool-down, no retries: the dry run is about the calls, not the clock
_DRY_SETTINGS = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
                 "window_end": "23:59", "cooldown_s": 0, "max_concurrent": 1,
                 "calls_per_second": 10}  # fmt: skip
_NUMBER = "+1555010{:04d}"  # the scripted phones' numbers (555-01xx: fictional)


def default_store(cfg: Config) -> Path:
    """Beside the SQLite store; under var/ when the store is a database URL."""
    if "://" in cfg.store.path:
        return Path("var") / "dry-run.db"
    return Path(cfg.store.path).with_name("dry-run.db")


def _fresh(path: Path) -> None:
    """A fresh store each time: it holds only this run's results."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


async def _copy(
    cfg: Config, campaign_id: str, dry: Store, limit: int, source: Store | None
) -> tuple[str, list[tuple[str, str]]]:
    """The campaign into the dry store: (dry campaign id, [(SIP user, name)])."""
    from voicebot.demo import DEFAULT_RESUME
    from voicebot.store import listing

    async with contextlib.AsyncExitStack() as opened:
        real = source or await opened.enter_async_context(await Store.open(cfg.store.path))
        campaign = await db.get_campaign(real, campaign_id)
        if campaign is None:
            raise StoreError(f"campaign {campaign_id!r} does not exist")
        spec = await db.get_job_spec(real, campaign["job_id"])
        if spec is None:
            raise StoreError(f"job {campaign['job_id']!r} of campaign {campaign_id} is missing")
        targets = (await listing.campaign_targets(real, campaign_id))[:limit]
        recordable = {t["candidate_id"]: bool((await db.get_candidate(real, t["candidate_id"])
                                               or {}).get("consent_recording"))
                      for t in targets}  # fmt: skip
    job_id = campaign["job_id"]
    await db.upsert_job(dry, job_id, str(spec.get("title") or job_id), spec)
    phones = [(_NUMBER.format(i + 1), t.get("name") or f"Candidate {i + 1}")
              for i, t in enumerate(targets)]  # fmt: skip
    await db.upsert_candidates(
        dry,
        [
            CandidateRecord(
                job_id, number, t.get("timezone") or "UTC", name=name,
                years_experience=DEFAULT_RESUME.years_experience,
                skills=DEFAULT_RESUME.skills,  # the script answers the plan for this résumé
                consent_recording=recordable[t["candidate_id"]],  # as the real candidate's
            )
            for (number, name), t in zip(phones, targets, strict=True)
        ],
    )  # fmt: skip
    settings = parse_settings({**campaign["settings"], **_DRY_SETTINGS})
    dry_id, _ = await db.create_campaign(
        dry, name=f"dry run of {campaign['name']}", job_id=job_id, settings=settings.to_dict()
    )
    return dry_id, phones


async def dry_run(
    cfg: Config,
    campaign_id: str,
    *,
    store_path: Path,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    limit: int = 2,
    drain_s: float = 10.0,
    report_url: str = "",
    source: Store | None = None,
) -> dict[str, Any]:
    """Run the dry campaign to its end; the summary says what each scripted candidate got.
    The campaign is read from `source` (the console's open store) or from `cfg.store`.

    Every event says `"dry_run": true`. Its links point at `report_url`, an API serving the dry
    store (`VOICEBOT_STORE__PATH=<dry store> voicebot api`), or are null: never at the real API,
    which has none of these interviews."""
    from voicebot.demo import ScriptedCandidate, candidate_voice, script_for
    from voicebot.interview.runner import Interviewer
    from voicebot.scoring import llm
    from voicebot.telephony.registrar import LocalRegistrar
    from voicebot.telephony.sip import SipEndpoint

    await asyncio.to_thread(_fresh, store_path)
    async with await Store.open(store_path) as dry:
        dry_id, phones = await _copy(cfg, campaign_id, dry, limit, source)
        if webhook_url:
            await db.add_endpoint(dry, webhook_url, webhook_secret or "")
        spec = await db.get_job_spec(dry, (await db.get_campaign(dry, dry_id) or {})["job_id"])
        locale = str((spec or {}).get("locale") or cfg.interview.locale)
        users = {"bot": "dryrun-bot"} | {number: f"dryrun-{i}" for i, (number, _) in
                                         enumerate(phones)}  # fmt: skip
        sender = WebhookSender(dry, cfg.webhooks, poll_s=0.5)
        sending = asyncio.create_task(sender.run())
        interviewer = await Interviewer.create(cfg, store=dry)
        try:
            async with LocalRegistrar(users) as reg, contextlib.AsyncExitStack() as phones_up:
                registrar = f"{reg.host}:{reg.port}"
                bot = await phones_up.enter_async_context(SipEndpoint(replace(
                    cfg.sip, listen_host="127.0.0.1", public_host="127.0.0.1", listen_port=0,
                    username="bot", password=users["bot"], registrar=registrar, allow_from=[],
                ), None))  # fmt: skip
                for i, (number, _) in enumerate(phones):
                    cand = ScriptedCandidate(script_for(locale), candidate_voice(cfg, locale))
                    await cand.prepare()
                    lo = 40000 + 200 * i
                    ua = await phones_up.enter_async_context(SipEndpoint(replace(
                        cfg.sip, listen_host="127.0.0.1", public_host="127.0.0.1",
                        listen_port=0, username=number, password=users[number],
                        registrar=registrar, display_name=number, rtp_port_min=lo,
                        rtp_port_max=lo + 199,
                    ), cand.run))  # fmt: skip
                    await asyncio.wait_for(ua.registered.wait(), 10)
                await asyncio.wait_for(bot.registered.wait(), 10)
                scorer = functools.partial(
                    score_with_pipeline, compliance=cfg.compliance.mode,
                    feedback_scores=cfg.reports.feedback_scores,
                    rater=llm.from_config(cfg.scoring),
                )  # fmt: skip
                dialer = Dialer(dry, bot, interviewer, scorer=scorer, report_url=report_url,
                                event_fields={"dry_run": True})  # fmt: skip
                state = await dialer.run(dry_id)
            await _drain(dry, sender, drain_s)
        finally:
            sender.stop()
            await sending
            await interviewer.close()
        from voicebot.store import listing

        page = await listing.list_interviews(dry, campaign_id=dry_id)
        webhooks = await db.delivery_counts(dry)
        return {
            "campaign_id": dry_id,
            "state": state,
            "store": str(store_path),
            "interviews": [
                {k: r[k] for k in ("id", "name", "outcome", "overall", "recommendation")}
                for r in page.items
            ],
            "webhooks": webhooks,
        }


async def _drain(store: Store, sender: WebhookSender, seconds: float) -> None:
    from voicebot.campaigns.service import _drain as drain

    await drain(store, sender, seconds)
