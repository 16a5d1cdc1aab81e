"""The dialer: works through a campaign's candidates politely and durably.

Each attempt is claimed in the store before the number is dialled and finished in one
transaction with its webhook events, so a crash and restart neither calls anyone twice
(an attempt caught mid-call is recorded as `interrupted`, not redialled at once) nor forgets
anyone (an undialled claim goes back to pending). Caps: concurrent calls and calls per second;
candidates are called only inside their local calling window, never while on the
do-not-call list, and not within the cool-down after another campaign called them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from voicebot import metrics
from voicebot import sharing as share_link
from voicebot.campaigns.payloads import completed_payload
from voicebot.campaigns.settings import CampaignSettings, parse_settings
from voicebot.interview.plan import Job, Resume, parse_job
from voicebot.pii import redact
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.db import StoreError
from voicebot.store.workers import live_worker_claims
from voicebot.telephony.base import Bridge, Call, CallFailed, HangupCause

log = logging.getLogger(__name__)

# what an interview's outcome means for the campaign; anything else ends the candidate's turn
_RETRYABLE_SESSION_OUTCOMES = {"failed": "failed", "voicemail": "voicemail", "machine": "voicemail"}
_CAUSE_OUTCOME = {
    HangupCause.BUSY: "busy",
    HangupCause.REJECTED: "busy",
    HangupCause.NO_ANSWER: "no_answer",
    HangupCause.CANCELLED: "no_answer",
}


HEARTBEAT_S = 5.0  # a runner silent for 60 s is taken over (at once if its process is gone)


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that jumps to whatever is awaited (retry delays, call-backs, calling windows):
    simulated campaigns and tests run days of dialling in moments."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        target = self.t + max(0.0, seconds)
        await asyncio.sleep(0)
        self.t = max(self.t, target)


class Interviews(Protocol):
    """What the dialer needs from `voicebot.interview.runner.Interviewer`."""

    async def warm_prompts(self, job: Job) -> None: ...

    async def interview(
        self,
        call: Call,
        job: Job,
        *,
        bridge: str = ...,
        candidate_id: str | None = ...,
        candidate_name: str | None = ...,
        timezone: str | None = ...,
        resume: Resume | None = ...,
    ) -> Any: ...


# (store, call id, job) -> the report as a dict (contract 3), or None when there is none
Scorer = Callable[[Store, str, Job], Awaitable[Mapping[str, Any] | None]]


async def resume_of(store: Store, candidate_id: str | None) -> Resume | None:
    """The imported résumé fields: what the plan personalises on and the scorer levels by."""
    cand = await db.get_candidate(store, candidate_id) if candidate_id else None
    if cand is None:
        return None
    return Resume(
        years_experience=cand["years_experience"],
        education=cand["education"],
        skills=tuple(cand["skills"]),
        current_title=cand["current_title"],
    )


async def score_with_pipeline(
    store: Store,
    call_id: str,
    job: Job,
    *,
    compliance: str = "none",
    feedback_scores: bool = False,
    rater: Any = None,
) -> Mapping[str, Any] | None:
    """Score the call against the candidate's résumé and store the report (voicebot.scoring,
    imported when first used)."""
    from voicebot.scoring.pipeline import score_call

    call = await store.get_call(call_id)
    resume = await resume_of(store, call["candidate_id"] if call else None)
    report = await score_call(
        store,
        call_id,
        job,
        resume=resume,
        compliance=compliance,
        feedback_scores=feedback_scores,
        rater=rater,
    )
    return report.to_dict()  # score_call saved it too


@dataclass(slots=True)
class DialerStats:
    dialled: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    dial_times: list[float] = field(default_factory=list)
    max_in_flight: int = 0
    scheduling_s: float = 0.0  # wall time the dialer itself spent choosing and recording


class Dialer:
    """Runs campaigns over one bridge; `await run(campaign_id)` returns when it is done or
    paused (or `stop()` was called)."""

    def __init__(
        self,
        store: Store,
        bridge: Bridge,
        interviewer: Interviews,
        *,
        clock: Clock | None = None,
        scorer: Scorer | None = score_with_pipeline,
        report_url: str = "",
        poll_s: float = 1.0,
        event_fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.bridge = bridge
        self.interviewer = interviewer
        self.clock = clock or SystemClock()
        self.scorer = scorer
        self.report_url = report_url.rstrip("/")
        self.event_fields = dict(event_fields or {})  # in every event (a dry run's mark)
        self.poll_s = poll_s
        self.stats = DialerStats()
        self._stopping = asyncio.Event()
        self._last_dial = float("-inf")
        self.runner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, campaign_id: str) -> str:
        """Dial until nobody is pending (state becomes done) or the campaign is paused."""
        campaign = await db.get_campaign(self.store, campaign_id)
        if campaign is None:
            raise StoreError(f"campaign {campaign_id!r} does not exist")
        spec = await db.get_job_spec(self.store, campaign["job_id"])
        if spec is None:
            raise StoreError(f"job {campaign['job_id']!r} of campaign {campaign_id} is missing")
        job = parse_job(spec, source=f"job {campaign['job_id']}", default_id=campaign["job_id"])
        settings = parse_settings(campaign["settings"])
        await self.interviewer.warm_prompts(job)  # a voice that cannot load fails before a dial
        if shared := await live_worker_claims(self.store, campaign_id, time.time()):
            raise StoreError(
                f"campaign {campaign_id} is being dialled by voicebot worker processes "
                f"({shared} calls now); not twice: stop them, or leave it to them"
            )
        holder = await db.acquire_campaign(self.store, campaign_id, self.runner, time.time())
        if holder is not None:
            raise StoreError(f"campaign {campaign_id} is being dialled by {holder}; not twice")
        try:
            if campaign["state"] in ("draft", "paused"):
                await db.set_campaign_state(self.store, campaign_id, "running")
            return await _Run(self, campaign_id, job, settings).loop()
        finally:
            await db.release_campaign(self.store, campaign_id, self.runner)


class _Run:
    """One campaign's dialling loop (state that lives only while `Dialer.run` runs)."""

    def __init__(self, dialer: Dialer, campaign_id: str, job: Job, settings: CampaignSettings):
        self.d = dialer
        self.store = dialer.store
        self.campaign_id = campaign_id
        self.job = job
        self.s = settings
        self.in_flight: set[asyncio.Task[None]] = set()

    async def loop(self) -> str:
        await self._recover()
        clock = self.d.clock
        beat = time.time()
        while True:
            if time.time() - beat > HEARTBEAT_S:  # wall time: other processes read it
                beat = time.time()
                await db.campaign_heartbeat(self.store, self.campaign_id, self.d.runner, beat)
            state = (await db.get_campaign(self.store, self.campaign_id) or {}).get("state")
            if state != "running" or self.d._stopping.is_set():
                await self._drain()
                return str(state)
            free = self.s.max_concurrent - len(self.in_flight)
            if free > 0 and await self._start_due(free):
                continue
            next_at = None if free <= 0 else await db.next_due_at(self.store, self.campaign_id)
            if next_at is None and not self.in_flight:
                await db.set_campaign_state(self.store, self.campaign_id, "done")
                return "done"
            await self._wait(None if next_at is None else next_at - clock.now())

    async def _wait(self, until_due: float | None) -> None:
        """Until a call ends, the next target is due (on the dialer's clock), or `stop()`.

        Call ends and the poll (to notice a pause) are waited for in real time; the due time on
        the injected clock, so a test's virtual clock can skip the hours between retries."""
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self.d._stopping.wait())}
        if until_due is not None:
            waits.add(asyncio.ensure_future(self.d.clock.sleep(min(until_due, self.d.poll_s))))
        await asyncio.wait(
            waits | set(self.in_flight),
            timeout=min(self.d.poll_s, 5.0),
            return_when=asyncio.FIRST_COMPLETED,
        )
        for t in waits:
            t.cancel()

    async def _drain(self) -> None:
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def _recover(self) -> None:
        released, dialling = await db.recover_attempts(self.store, self.campaign_id)
        if released:
            log.info("campaign %s: %d undialled claims back to pending", self.campaign_id, released)
        for att in dialling:
            target = await db.get_target(self.store, self.campaign_id, att["candidate_id"])
            if target is None:
                continue
            result = self._next_step(target, "interrupted", detail="cut by a restart")
            await db.finish_attempt(self.store, att["id"], self.d.clock.now(), result)
            log.warning("campaign %s: attempt %s was cut by a restart", self.campaign_id, att["id"])

    async def _start_due(self, free: int) -> int:
        """Claim and dial up to `free` due candidates; returns how many calls started."""
        t0 = time.perf_counter()
        clock = self.d.clock
        started = 0
        due = await db.due_targets(self.store, self.campaign_id, clock.now(), free * 4)
        for target in due:
            if started >= free:
                break
            if not await self._may_call(target):
                continue
            wait = self.d._last_dial + 1.0 / self.s.calls_per_second - clock.now()
            if wait > 0:
                self.d.stats.scheduling_s += time.perf_counter() - t0
                await clock.sleep(wait)
                t0 = time.perf_counter()
            attempt = await db.claim(
                self.store, self.campaign_id, target["candidate_id"], clock.now()
            )
            if attempt is None:
                continue
            now = clock.now()
            await db.mark_dialling(self.store, attempt, now)
            self.d._last_dial = now
            self.d.stats.dialled += 1
            self.d.stats.dial_times.append(now)
            task = asyncio.create_task(self._attempt(target, attempt))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
            self.d.stats.max_in_flight = max(self.d.stats.max_in_flight, len(self.in_flight))
            started += 1
        self.d.stats.scheduling_s += time.perf_counter() - t0
        return started

    async def _may_call(self, target: Mapping[str, Any]) -> bool:
        """Do-not-call, cool-down and calling window; a target that may not be called now is
        skipped or moved to when it may."""
        now = self.d.clock.now()
        cand = target["candidate_id"]
        dnc, last = await db.contact_check(self.store, target["phone_hash"], self.campaign_id)
        if dnc:
            await db.skip(self.store, self.campaign_id, cand, "do-not-call")
            return False
        if last is not None and now < last + self.s.cooldown_s:
            await db.defer(
                self.store, self.campaign_id, cand, next_at=last + self.s.cooldown_s,
                reason="cool-down after another campaign's call",
            )  # fmt: skip
            return False
        inside, opens = self.s.local_window(now, target["timezone"])
        if not inside:
            await db.defer(
                self.store, self.campaign_id, cand, next_at=opens, reason="outside calling window"
            )
            return False
        return True

    async def _attempt(self, target: Mapping[str, Any], attempt_id: str) -> None:
        cand = target["candidate_id"]
        try:
            result = await self._place(target, attempt_id)
        except Exception as e:  # the attempt must end recorded whatever went wrong
            log.exception("campaign %s: attempt %s failed", self.campaign_id, attempt_id)
            event = {"candidate_id": cand, "job_id": self.job.id, "campaign_id": self.campaign_id,
                     "attempt_id": attempt_id, "outcome": "failed", "call_id": None}  # fmt: skip
            result = self._next_step(
                target, "failed", detail=f"{type(e).__name__}: {e}",
                events=[("call.completed", event)],
            )  # fmt: skip
        self.d.stats.outcomes[result.outcome] = self.d.stats.outcomes.get(result.outcome, 0) + 1
        metrics.attempt_ended(result.outcome)
        try:
            await db.finish_attempt(self.store, attempt_id, self.d.clock.now(), result)
        except StoreError:
            log.exception("campaign %s: could not record attempt for %s", self.campaign_id, cand)

    async def _place(self, target: Mapping[str, Any], attempt_id: str) -> db.AttemptResult:
        number = target["phone_e164"]
        base = {
            **self.d.event_fields,
            "candidate_id": target["candidate_id"],
            "external_id": target.get("external_id"),  # the ATS's own id, from the import
            "job_id": self.job.id,
            "campaign_id": self.campaign_id,
            "attempt_id": attempt_id,
        }
        try:
            call = await self.d.bridge.dial(
                number,
                variables={"VOICEBOT_CAMPAIGN": self.campaign_id, "VOICEBOT_ATTEMPT": attempt_id},
                ring_timeout=self.s.ring_timeout_s,
            )
        except CallFailed as e:
            outcome = _CAUSE_OUTCOME.get(e.cause, "failed")
            log.info("campaign %s: %s -> %s", self.campaign_id, redact(number), outcome)
            return self._next_step(
                target, outcome, detail=str(e),
                events=[("call.completed", {**base, "outcome": outcome, "call_id": None})],
            )  # fmt: skip
        events: list[tuple[str, Mapping[str, Any]]] = [
            ("candidate.contacted", {**base, "call_id": call.call_id})
        ]
        res = await self.d.interviewer.interview(
            call,
            self.job,
            bridge=self.d.bridge.name,
            candidate_id=target["candidate_id"],
            candidate_name=target.get("name"),
            timezone=target["timezone"],  # a call-back time is read in the candidate's zone
            resume=await resume_of(self.d.store, target["candidate_id"]),
        )
        outcome = str(res.outcome)
        outcome = _RETRYABLE_SESSION_OUTCOMES.get(outcome, outcome)
        callback_at = getattr(res, "callback_at", None)
        opted_out = bool(getattr(res, "opted_out", False)) or outcome == "opted_out"
        events.append(("call.completed", {**base, "outcome": outcome, "call_id": call.call_id}))
        if opted_out:
            events.append(("candidate.opted_out", {**base, "call_id": call.call_id}))
            return self._done(target, "opted_out", call.call_id, events, opt_out=True)
        if outcome == "callback" or callback_at:
            when = _parse_when(callback_at, target["timezone"])
            events.append(
                ("candidate.callback_requested",
                 {**base, "call_id": call.call_id, "callback_at": callback_at,
                  "understood": when is not None})
            )  # fmt: skip
            if when is not None and target["attempts"] < self.s.max_attempts:
                return db.AttemptResult(
                    outcome="callback", status="pending", next_at=when,
                    retries=target["retries"], reason="call-back requested",
                    call_id=call.call_id, events=events,
                )  # fmt: skip
            why = "call-back time not understood" if when is None else "max attempts reached"
            return self._done(target, "callback", call.call_id, events, reason=why)
        if outcome in ("failed", "voicemail"):
            return self._next_step(target, outcome, call_id=call.call_id, events=events)
        if outcome == "completed":
            report = await self._report(call.call_id)
            if report is not None:
                payload = await self._completed_payload(base, call.call_id, report)
                events.append(("interview.completed", payload))
        return self._done(target, outcome, call.call_id, events)

    async def _report(self, call_id: str) -> Mapping[str, Any] | None:
        if self.d.scorer is None:
            return None
        try:
            return await self.d.scorer(self.store, call_id, self.job)
        except Exception:
            log.exception("campaign %s: scoring call %s failed", self.campaign_id, call_id)
            return None

    async def _completed_payload(
        self, base: Mapping[str, Any], call_id: str, report: Mapping[str, Any]
    ) -> dict[str, Any]:
        share = None
        if self.d.report_url:
            token = share_link.sign(self.store.pii, call_id)
            share = share_link.describe(
                self.d.report_url, token, share_link.verify(self.store.pii, token)
            )
        return completed_payload(
            base, call_id, report, call=await self.store.get_call(call_id),
            report_url=self.d.report_url, share=share,
            questions={q.id: " ".join(q.text.split()) for q in self.job.all_questions},
        )  # fmt: skip

    def _done(
        self,
        target: Mapping[str, Any],
        outcome: str,
        call_id: str | None,
        events: list[tuple[str, Mapping[str, Any]]],
        *,
        opt_out: bool = False,
        reason: str | None = None,
    ) -> db.AttemptResult:
        return db.AttemptResult(
            outcome=outcome, status="done", retries=target["retries"], call_id=call_id,
            events=events, opt_out=opt_out, reason=reason,
        )  # fmt: skip

    def _next_step(
        self,
        target: Mapping[str, Any],
        outcome: str,
        *,
        call_id: str | None = None,
        detail: str | None = None,
        events: list[tuple[str, Mapping[str, Any]]] | None = None,
    ) -> db.AttemptResult:
        """Retry after the outcome's delay while its tries and the overall maximum allow."""
        retries = dict(target["retries"])
        retries[outcome] = retries.get(outcome, 0) + 1
        rule = self.s.retry(outcome)
        if rule is None or retries[outcome] > rule.max_tries:
            why = f"no more retries after {outcome}"
        elif target["attempts"] >= self.s.max_attempts:
            why = f"max {self.s.max_attempts} attempts reached"
        else:
            return db.AttemptResult(
                outcome=outcome, status="pending", next_at=self.d.clock.now() + rule.delay_s,
                retries=retries, reason=f"retry after {outcome}", call_id=call_id,
                detail=detail, events=events or [],
            )  # fmt: skip
        return db.AttemptResult(
            outcome=outcome, status="done", retries=retries, reason=why, call_id=call_id,
            detail=detail, events=events or [],
        )  # fmt: skip


def _parse_when(when: str | None, timezone: str) -> float | None:
    """An ISO 8601 call-back time (naive = the candidate's local time) as a timestamp."""
    if not when:
        return None
    try:
        moment = dt.datetime.fromisoformat(when)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.timestamp()
