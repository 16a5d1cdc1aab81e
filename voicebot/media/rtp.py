"""RTP packets (RFC 3550): parsing, building and the sending side's sequence/timestamp clock.

Owns the wire format only; which codec a payload type means is negotiated elsewhere (SDP).
Parse errors carry a short machine ``reason`` so bridges can count and log them per kind.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Literal

from voicebot.media.frames import FRAME_SAMPLES

RTP_VERSION = 2
HEADER_SIZE = 12
_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")

RtpErrorReason = Literal["short_header", "bad_version", "bad_csrc", "bad_extension", "bad_padding"]


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet."""

    def __init__(self, reason: RtpErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: RtpErrorReason = reason


def seq_diff(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers across wraparound, in [-32768, 32767].

    Positive when ``a`` is newer than ``b``: ``seq_diff(0, 65535) == 1``.
    """
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; ``extension`` is ``(profile, data)`` with ``len(data) % 4 == 0``."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None

    def build(self, padding: int = 0) -> bytes:
        """Serialise; ``padding`` appends that many octets (the last one holds the count)."""
        self._check()
        if not 0 <= padding <= 255:
            raise ValueError(f"padding must be 0..255 octets, got {padding}")
        first = (
            (RTP_VERSION << 6)
            | (0x20 if padding else 0)
            | (0x10 if self.extension is not None else 0)
            | len(self.csrcs)
        )
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence, self.timestamp, self.ssrc)]
        parts.extend(struct.pack("!I", csrc) for csrc in self.csrcs)
        if self.extension is not None:
            profile, data = self.extension
            parts.append(_EXTENSION_HEADER.pack(profile, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if padding:
            parts.append(bytes(padding - 1) + bytes([padding]))
        return b"".join(parts)

    def _check(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload_type must be 0..127, got {self.payload_type}")
        if not 0 <= self.sequence <= 0xFFFF:
            raise ValueError(f"sequence must be 0..65535, got {self.sequence}")
        for name, value in (("timestamp", self.timestamp), ("ssrc", self.ssrc)):
            if not 0 <= value <= 0xFFFFFFFF:
                raise ValueError(f"{name} must fit 32 bits, got {value}")
        if len(self.csrcs) > 15 or any(not 0 <= c <= 0xFFFFFFFF for c in self.csrcs):
            raise ValueError(f"at most 15 32-bit CSRCs allowed, got {self.csrcs!r}")
        if self.extension is not None:
            profile, data = self.extension
            if not 0 <= profile <= 0xFFFF or len(data) % 4 or len(data) > 4 * 0xFFFF:
                raise ValueError("extension needs a 16-bit profile and data in 32-bit words")


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP datagram; padding is stripped from the payload."""
    if len(data) < HEADER_SIZE:
        raise RtpError("short_header", f"{len(data)} bytes")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError("bad_version", f"version {first >> 6}")
    end = len(data)
    if first & 0x20:
        pad = data[-1]
        if pad == 0 or HEADER_SIZE + pad > end:
            raise RtpError("bad_padding", f"count {pad} in {end} bytes")
        end -= pad
    offset = HEADER_SIZE
    csrc_count = first & 0x0F
    if offset + 4 * csrc_count > end:
        raise RtpError("bad_csrc", f"{csrc_count} CSRCs in {end} bytes")
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
    offset += 4 * csrc_count
    extension = None
    if first & 0x10:
        if offset + 4 > end:
            raise RtpError("bad_extension", "truncated extension header")
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        offset += 4
        if offset + 4 * words > end:
            raise RtpError("bad_extension", f"{words} words in {end - offset} bytes")
        extension = (profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=csrcs,
        extension=extension,
    )


class RtpSender:
    """The sending side of one RTP stream: SSRC, next sequence number and media clock.

    Random initial values (RFC 3550 §5.1). ``packet(..., samples=0)`` keeps the timestamp,
    which is how the packets of one RFC 4733 event share their start timestamp; call
    ``advance()`` afterwards so the media clock accounts for the time the event took.
    """

    def __init__(
        self, ssrc: int | None = None, sequence: int | None = None, timestamp: int | None = None
    ) -> None:
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp

    def packet(
        self,
        payload: bytes,
        payload_type: int,
        marker: bool = False,
        samples: int = FRAME_SAMPLES,
    ) -> bytes:
        """Build the next packet, then advance sequence by one and timestamp by ``samples``."""
        data = RtpPacket(
            payload_type=payload_type,
            sequence=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        ).build()
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.advance(samples)
        return data

    def advance(self, samples: int) -> None:
        """Move the media clock without sending (silence suppression, after an event)."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
