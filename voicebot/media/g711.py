"""G.711 μ-law (PCMU) and A-law (PCMA) companding with numpy lookup tables.

Owns the conversion between PCM16LE frames and the 8-bit payloads on the wire, replacing
``audioop`` (removed in Python 3.13). Tables are built once at import from the classic
Sun/CCITT ``g711.c`` algorithm, so every frame is a single table lookup, bit-identical
to ``audioop.lin2ulaw`` / ``lin2alaw`` and their inverses.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from voicebot.media.frames import SAMPLE_RATE

_T = TypeVar("_T", bound=np.generic)

PcmInput = bytes | bytearray | memoryview | npt.NDArray[np.int16]

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias is added
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


class Codec(IntEnum):
    """The two G.711 laws, valued by their static RTP payload type (RFC 3551)."""

    PCMU = 0
    PCMA = 8

    @property
    def encoding_name(self) -> str:
        return self.name

    @property
    def clock_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def silence_byte(self) -> int:
        """The code for PCM 0; a payload of 0x00 bytes is near full scale, not silence."""
        return 0xFF if self is Codec.PCMU else 0xD5


def _all_int16() -> npt.NDArray[np.int32]:
    """Every int16 value, ordered by its uint16 bit pattern (the encode-table index)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    x = _all_int16() >> 2
    negative = x < 0
    mask = np.where(negative, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, magnitude)
    code = (seg << 4) | ((magnitude >> (seg + 1)) & 0xF)
    return np.where(seg >= 8, 0x7F ^ mask, code ^ mask).astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    x = _all_int16() >> 3
    negative = x < 0
    mask = np.where(negative, 0x55, 0xD5)
    magnitude = np.where(negative, -x - 1, x)
    seg = np.searchsorted(_ALAW_SEG_END, magnitude)
    mantissa = np.where(seg < 2, magnitude >> 1, magnitude >> seg) & 0xF
    code = (seg << 4) | mantissa
    return np.where(seg >= 8, 0x7F ^ mask, code ^ mask).astype(np.uint8)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0xF) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0xF) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _frozen(table: npt.NDArray[_T]) -> npt.NDArray[_T]:
    table.flags.writeable = False
    return table


_ULAW_ENCODE = _frozen(_build_ulaw_encode())
_ALAW_ENCODE = _frozen(_build_alaw_encode())
_ULAW_DECODE = _frozen(_build_ulaw_decode())
_ALAW_DECODE = _frozen(_build_alaw_decode())


def _table_index(pcm: PcmInput) -> npt.NDArray[np.uint16]:
    """The samples as native uint16, i.e. the int16 bit patterns that index encode tables."""
    if isinstance(pcm, np.ndarray):
        if pcm.dtype.kind != "i" or pcm.dtype.itemsize != 2:
            raise TypeError(f"PCM array must be int16, got {pcm.dtype}")
        return pcm.reshape(-1).astype(np.int16, copy=False).view(np.uint16)
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data must have an even length, got {len(pcm)} bytes")
    return np.frombuffer(pcm, dtype="<u2").astype(np.uint16, copy=False)


def ulaw_encode(pcm: PcmInput) -> bytes:
    """PCM16LE bytes (or an int16 array) to μ-law, one byte per sample."""
    return _ULAW_ENCODE[_table_index(pcm)].tobytes()


def alaw_encode(pcm: PcmInput) -> bytes:
    """PCM16LE bytes (or an int16 array) to A-law, one byte per sample."""
    return _ALAW_ENCODE[_table_index(pcm)].tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """μ-law bytes to int16 samples."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """A-law bytes to int16 samples."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def encode(codec: Codec | int, pcm: PcmInput) -> bytes:
    """PCM16LE to the RTP payload of ``codec``."""
    return ulaw_encode(pcm) if Codec(codec) is Codec.PCMU else alaw_encode(pcm)


def decode(codec: Codec | int, payload: bytes | bytearray | memoryview) -> bytes:
    """The RTP payload of ``codec`` to PCM16LE bytes."""
    samples = ulaw_decode(payload) if Codec(codec) is Codec.PCMU else alaw_decode(payload)
    return samples.astype("<i2", copy=False).tobytes()
