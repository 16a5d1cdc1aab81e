"""Simulated calls for campaign benchmarks and crash tests: a bridge whose calls end in drawn
outcomes, and an interviewer that records them in the store like a real interview.

Selected with `voicebot campaign start ID --simulate "completed=0.6,busy=0.2,no_answer=0.2"`;
nothing here touches a network or a speech model.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.interview.plan import Job, Resume
from voicebot.store import Store, TurnRecord
from voicebot.telephony.base import CallEvent, CallFailed, CallStats, Direction, HangupCause

# outcomes the bridge itself produces (the call is never answered)
_DIAL_FAILURES = {
    "busy": HangupCause.BUSY,
    "no_answer": HangupCause.NO_ANSWER,
    "failed": HangupCause.FAILED,
}
OUTCOMES = (*_DIAL_FAILURES, "completed", "voicemail", "no_consent", "opted_out", "callback")


def parse_mix(spec: str) -> dict[str, float]:
    """`"completed=0.6,busy=0.4"` -> weights; raises ValueError naming the bad part."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition("=")
        if name not in OUTCOMES:
            raise ValueError(f"--simulate: {name!r} is not one of {', '.join(OUTCOMES)}")
        try:
            mix[name] = float(weight or 1)
        except ValueError:
            raise ValueError(f"--simulate: {part!r}: weight is not a number") from None
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("--simulate: give at least one outcome with a positive weight")
    return mix


@dataclass(slots=True)
class SimulatedCall:
    call_id: str
    remote: str
    outcome: str
    direction: Direction = Direction.OUTBOUND
    sample_rate: int = 8000
    stats: CallStats = field(default_factory=CallStats)

    async def frames(self) -> AsyncIterator[bytes]:
        return
        yield b""

    async def send(self, frame: bytes) -> None:
        return None

    def clear_output(self) -> int:
        return 0

    async def send_dtmf(self, digits: str) -> None:
        return None

    async def hangup(self) -> None:
        return None

    async def events(self) -> AsyncIterator[CallEvent]:
        return
        yield

    @property
    def ended(self) -> bool:
        return True


class SimulatedBridge:
    """Draws each call's outcome from `mix`; appends every dial to `dial_log` (one JSON line,
    flushed to disk before the call "rings") so tests can count real dials across crashes."""

    name = "simulated"

    def __init__(
        self, mix: Mapping[str, float], *, seed: int = 0, dial_log: str | Path | None = None
    ) -> None:
        self.mix = dict(mix)
        self.rng = random.Random(seed)
        self.dial_log = Path(dial_log) if dial_log else None
        self.dials = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> SimulatedCall:
        self.dials += 1
        if self.dial_log is not None:
            _log(self.dial_log, {"number": number, "at": time.time(), "pid": os.getpid(),
                                 **variables})  # fmt: skip
        outcome = self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
        if outcome in _DIAL_FAILURES:
            raise CallFailed(_DIAL_FAILURES[outcome], 0, "simulated")
        return SimulatedCall(f"sim-{uuid.uuid4().hex[:16]}", number, outcome)


@dataclass(slots=True)
class SimulatedResult:
    call_id: str
    outcome: str
    consent: bool | None
    callback_at: str | None = None
    opted_out: bool = False
    transferred: bool = False


class SimulatedInterviewer:
    """Records the call and two turns in the store, waits `call_s`, returns the drawn outcome."""

    def __init__(
        self, store: Store, *, call_s: float = 0.0, clock: Any = None,
        dial_log: str | Path | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.call_s = call_s
        self.clock = clock
        self.dial_log = Path(dial_log) if dial_log else None  # the phone's side: hang-ups

    async def warm_prompts(self, job: Job) -> None:
        """No voice to load: simulated calls say nothing."""

    async def interview(
        self,
        call: SimulatedCall,
        job: Job,
        *,
        bridge: str = "simulated",
        candidate_id: str | None = None,
        candidate_name: str | None = None,
        timezone: str | None = None,
        resume: Resume | None = None,
    ) -> SimulatedResult:
        now = time.time()
        await self.store.call_started(
            call.call_id, direction="outbound", bridge=bridge, remote=call.remote,
            started_at=now, job_id=job.id, candidate_id=candidate_id,
        )  # fmt: skip
        await self.store.call_answered(call.call_id, now)
        if self.call_s > 0:
            await (self.clock.sleep if self.clock is not None else asyncio.sleep)(self.call_s)
        if self.dial_log is not None:
            _log(self.dial_log, {"number": call.remote, "ended": time.time(), "pid": os.getpid()})
        q = job.questions[0]
        for seq, (speaker, kind, text) in enumerate(
            [("bot", "ask", q.text), ("candidate", "answer", "simulated answer")]
        ):
            await self.store.add_turn(
                TurnRecord(call.call_id, seq, speaker, kind, text, now, now, question_id=q.id)
            )
        await self.store.call_ended(call.call_id, at=time.time(), outcome=call.outcome)
        callback = None
        if call.outcome == "callback":
            callback = time.strftime("%Y-%m-%dT10:00:00", time.localtime(time.time() + 86400))
        return SimulatedResult(
            call.call_id, call.outcome, consent=call.outcome != "no_consent",
            callback_at=callback, opted_out=call.outcome == "opted_out",
        )  # fmt: skip


async def simulated_scorer(store: Store, call_id: str, job: Job) -> dict[str, Any]:
    """A fixed report in the shape of contract 3, so `interview.completed` can be exercised."""
    return {
        "call_id": call_id,
        "job_id": job.id,
        "overall": {"score": 3.5, "max": 5, "recommendation": "yes"},
        "competencies": [
            {
                "id": "simulated",
                "name": "Simulated",
                "score": 4,
                "max": 5,
                "evidence": ["simulated answer"],
                "explanation": "simulated",
            },
        ],
    }


def _log(path: Path, line: Mapping[str, Any]) -> None:
    """One JSON line, on disk before the call goes on (a kill -9 right after keeps it)."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(dict(line)) + "\n")
        f.flush()
        os.fsync(f.fileno())
