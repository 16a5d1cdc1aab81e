"""DTMF as RFC 4733 telephone-events: payload format, digit mapping, receiving and sending.

Owns turning the redundant event packets of a key press (a start packet, updates, three
end packets, all with the event's start timestamp) into exactly one digit, and back.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from voicebot.media.frames import FRAME_MS, SAMPLE_RATE

DIGITS = "0123456789*#ABCD"
PAYLOAD_SIZE = 4
END_REPEATS = 3
_PAYLOAD = struct.Struct("!BBH")


class DtmfError(ValueError):
    """A malformed telephone-event payload, or something that is not a DTMF digit."""


def digit_to_event(digit: str) -> int:
    """'0'-'9', '*', '#', 'A'-'D' (any case) to the RFC 4733 event code 0-15."""
    index = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise DtmfError(f"not a DTMF digit: {digit!r}")
    return index


def event_to_digit(event: int) -> str:
    """RFC 4733 event code 0-15 to its digit; other events (flash, tones) are not digits."""
    if not 0 <= event < len(DIGITS):
        raise DtmfError(f"telephone-event {event} is not a DTMF digit")
    return DIGITS[event]


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """One telephone-event payload; ``duration`` is in RTP clock units since the start."""

    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None

    def build(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise DtmfError(f"event must be 0..255, got {self.event}")
        if not 0 <= self.volume <= 63:
            raise DtmfError(f"volume must be 0..63 (-dBm0), got {self.volume}")
        if not 0 <= self.duration <= 0xFFFF:
            raise DtmfError(f"duration must be 0..65535, got {self.duration}")
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def parse_dtmf(payload: bytes) -> DtmfEvent:
    """Parse the first event of a telephone-event payload; any event code is accepted."""
    if len(payload) < PAYLOAD_SIZE:
        raise DtmfError(f"telephone-event payload needs 4 bytes, got {len(payload)}")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return DtmfEvent(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)


class DtmfReceiver:
    """Reports each key press once, identified by the RTP timestamp of its packets.

    A digit is reported on its first end packet; if a new event starts before any end
    packet of the previous one arrived, the previous digit is reported then. Should that
    new event's first packet already be an end packet, it is reported on its next repeat.
    Packets of events already reported (late repeats, reordering) are ignored.
    """

    def __init__(self) -> None:
        self._timestamp: int | None = None
        self._digit: str | None = None
        self._reported = False
        self._finished: deque[int] = deque(maxlen=8)

    def feed(self, timestamp: int, event: DtmfEvent) -> str | None:
        digit = event.digit
        if digit is None or timestamp in self._finished:
            return None
        if timestamp == self._timestamp:
            return self._finish() if event.end else None
        previous = self.flush()
        self._timestamp, self._digit, self._reported = timestamp, digit, False
        if previous is None and event.end:
            return self._finish()
        return previous

    def flush(self) -> str | None:
        """The digit of an event that started but never ended (call it at hang-up)."""
        return None if self._reported or self._digit is None else self._finish()

    def _finish(self) -> str | None:
        if self._reported or self._timestamp is None:
            return None
        self._reported = True
        self._finished.append(self._timestamp)
        return self._digit


def dtmf_payloads(
    digit: str,
    duration_ms: int = 160,
    volume: int = 10,
    clock_rate: int = SAMPLE_RATE,
    packet_ms: int = FRAME_MS,
) -> list[tuple[bytes, bool]]:
    """The (payload, marker) sequence for one key press, one entry per packet interval.

    All of them belong under a single RTP timestamp (the start of the event): send them
    ``packet_ms`` apart with ``RtpSender.packet(..., samples=0)``, then advance the sender's
    clock by the event's duration.
    """
    event = digit_to_event(digit)
    step = clock_rate * packet_ms // 1000
    total = clock_rate * duration_ms // 1000
    if step <= 0 or total <= 0:
        raise DtmfError("duration_ms and packet_ms must be positive")
    if total > 0xFFFF:
        raise DtmfError(f"{duration_ms} ms does not fit the 16-bit duration field")
    durations = list(range(step, total, step)) or [total]
    packets = [
        (DtmfEvent(event, False, volume, duration).build(), index == 0)
        for index, duration in enumerate(durations)
    ]
    end = DtmfEvent(event, True, volume, total).build()
    packets.extend((end, False) for _ in range(END_REPEATS))
    return packets
