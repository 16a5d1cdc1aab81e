"""The `Call` protocol every bridge implements, and the events a call emits.

Nothing above telephony/ knows which bridge carries a call: it reads 20 ms PCM16 frames from
`frames()`, queues frames with `send()`, drops queued audio with `clear_output()` (barge-in),
and watches `events()` for answer, DTMF and hang-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

FRAME_MS = 20


def frame_bytes(sample_rate: int) -> int:
    """Bytes in one 20 ms frame of mono 16-bit PCM at `sample_rate`."""
    return sample_rate * FRAME_MS // 1000 * 2


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HangupCause(StrEnum):
    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Ringing:
    pass


@dataclass(frozen=True, slots=True)
class Answered:
    machine: bool = False  # an answering machine picked up (the bridge's AMD said so)


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class HungUp:
    cause: HangupCause = HangupCause.NORMAL
    by_remote: bool = True
    detail: str = ""


CallEvent = Ringing | Answered | Dtmf | HungUp


@dataclass(slots=True)
class CallStats:
    """Counters a bridge keeps per call; bad input is counted, never fatal."""

    packets_in: int = 0
    packets_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    concealed: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


@runtime_checkable
class Call(Protocol):
    """One live call, whatever carries it."""

    call_id: str
    direction: Direction
    remote: str
    sample_rate: int
    stats: CallStats

    def frames(self) -> AsyncIterator[bytes]:
        """Inbound audio: one 20 ms PCM16LE mono frame per item, ending when the call ends."""
        ...

    async def send(self, frame: bytes) -> None:
        """Queue one 20 ms frame for paced playout; waits while the queue is full."""
        ...

    def clear_output(self) -> int:
        """Drop queued outbound audio at once (barge-in); returns frames dropped."""
        ...

    async def send_dtmf(self, digits: str) -> None: ...

    async def hangup(self) -> None: ...

    def events(self) -> AsyncIterator[CallEvent]:
        """Call events in order; ends after `HungUp`."""
        ...

    @property
    def ended(self) -> bool: ...


class CallFailed(Exception):
    """A call that was never answered: busy, no answer, rejected or failed, with the cause."""

    def __init__(self, cause: HangupCause, status: int | None = 0, reason: str = "") -> None:
        super().__init__(f"call failed: {cause} ({status} {reason})".strip())
        self.cause, self.status, self.reason = cause, status, reason


IncomingHandler = Callable[[Call], Awaitable[None]]


@runtime_checkable
class Bridge(Protocol):
    """How calls reach a PBX: direct SIP, Asterisk ARI, AMI + AudioSocket, or FreeSWITCH ESL.

    Inbound calls go to the `on_incoming` handler given at construction; `dial` returns an
    answered `Call` or raises `CallFailed`.
    """

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> Call: ...


# Q.850 hang-up causes as Asterisk and FreeSWITCH report them
Q850_CAUSES: dict[int, HangupCause] = {
    16: HangupCause.NORMAL,
    17: HangupCause.BUSY,
    18: HangupCause.NO_ANSWER,
    19: HangupCause.NO_ANSWER,
    21: HangupCause.REJECTED,
    31: HangupCause.NORMAL,
}


def cause_from_q850(code: int) -> HangupCause:
    """Map a Q.850 cause code to the protocol's `HangupCause` (unknown codes are failures)."""
    return Q850_CAUSES.get(code, HangupCause.FAILED)
