"""Scripted stand-ins for the dialer's collaborators: virtual time, a bridge whose calls end
as each number's script says, and an interviewer that returns scripted session results."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from voicebot.campaigns.dialer import VirtualClock
from voicebot.campaigns.simulated import SimulatedCall
from voicebot.interview.plan import Job, Resume
from voicebot.telephony.base import CallFailed, HangupCause

# Monday 2026-01-05 10:00 in New York: inside the default calling window
MONDAY_10_NY = dt.datetime(2026, 1, 5, 10, 0, tzinfo=ZoneInfo("America/New_York")).timestamp()


class FakeClock(VirtualClock):
    """Virtual time starting on a Monday morning in New York."""

    def __init__(self, start: float = MONDAY_10_NY) -> None:
        super().__init__(start)


@dataclass
class Dial:
    number: str
    at: float


@dataclass
class ScriptedBridge:
    """Each number's calls end as its script says, in order; the last entry repeats.

    Entries: busy, no_answer, failed (never answered) or any session outcome (answered)."""

    clock: FakeClock
    scripts: Mapping[str, list[str]] = field(default_factory=dict)
    default: str = "completed"
    call_s: float = 60.0  # virtual length of an answered call
    real_call_s: float = 0.0  # real length too, so calls overlap for concurrency checks
    name: str = "fake"
    dials: list[Dial] = field(default_factory=list)
    live: int = 0
    max_live: int = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> SimulatedCall:
        n = sum(d.number == number for d in self.dials)
        self.dials.append(Dial(number, self.clock.now()))
        script = self.scripts.get(number, [self.default])
        outcome = script[min(n, len(script) - 1)]
        causes = {"busy": HangupCause.BUSY, "no_answer": HangupCause.NO_ANSWER,
                  "failed": HangupCause.FAILED}  # fmt: skip
        if outcome in causes:
            raise CallFailed(causes[outcome], 0, "scripted")
        return SimulatedCall(f"call-{len(self.dials)}", number, outcome)

    def dialled(self, number: str) -> list[float]:
        return [d.at for d in self.dials if d.number == number]


@dataclass
class Result:
    call_id: str
    outcome: str
    consent: bool | None = True
    callback_at: str | None = None
    opted_out: bool = False


@dataclass
class ScriptedInterviewer:
    """Returns the call's scripted outcome; `callback_at` for outcome 'callback'."""

    bridge: ScriptedBridge
    callback_at: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def warm_prompts(self, job: Job) -> None:
        """Nothing to load: the outcome is scripted."""

    async def interview(
        self,
        call: SimulatedCall,
        job: Job,
        *,
        bridge: str = "fake",
        candidate_id: str | None = None,
        candidate_name: str | None = None,
        timezone: str | None = None,
        resume: Resume | None = None,
    ) -> Result:
        self.bridge.live += 1
        self.bridge.max_live = max(self.bridge.max_live, self.bridge.live)
        self.calls.append({"call_id": call.call_id, "candidate_id": candidate_id, "job": job.id})
        try:
            await self.bridge.clock.sleep(self.bridge.call_s)
            await asyncio.sleep(self.bridge.real_call_s)
        finally:
            self.bridge.live -= 1
        return Result(
            call.call_id, call.outcome,
            callback_at=self.callback_at if call.outcome == "callback" else None,
            opted_out=call.outcome == "opted_out",
        )  # fmt: skip


async def fake_report(store: Any, call_id: str, job: Job) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "overall": {"score": 4.0, "max": 5, "recommendation": "yes"},
        "competencies": [{"id": "problem_solving", "name": "Problem solving", "score": 4,
                          "max": 5, "evidence": ["traced it in the logs"]}],
    }  # fmt: skip
