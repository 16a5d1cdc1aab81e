"""G.711 tables against the classic Sun/CCITT g711.c, the ITU-T G.191 STL, and audioop."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from voicebot.media import g711
from voicebot.media.g711 import Codec

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32)
ALL_PCM = ALL_SAMPLES.astype("<i2").tobytes()
ALL_CODES = bytes(range(256))


def _search(value: int, table: tuple[int, ...]) -> int:
    for index, end in enumerate(table):
        if value <= end:
            return index
    return len(table)


# --- The Sun Microsystems g711.c reference (as used by audioop, sox, pjsip), bit by bit.

SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def sun_linear2ulaw(pcm_val: int) -> int:
    pcm_val >>= 2
    if pcm_val < 0:
        pcm_val = -pcm_val
        mask = 0x7F
    else:
        mask = 0xFF
    pcm_val = min(pcm_val, 8159) + (0x84 >> 2)
    seg = _search(pcm_val, SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm_val >> (seg + 1)) & 0xF)) ^ mask


def sun_ulaw2linear(u_val: int) -> int:
    u_val = ~u_val & 0xFF
    t = ((u_val & 0x0F) << 3) + 0x84
    t <<= (u_val & 0x70) >> 4
    return 0x84 - t if u_val & 0x80 else t - 0x84


def sun_linear2alaw(pcm_val: int) -> int:
    pcm_val >>= 3
    if pcm_val >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm_val = -pcm_val - 1
    seg = _search(pcm_val, SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm_val >> 1) & 0x0F if seg < 2 else (pcm_val >> seg) & 0x0F
    return aval ^ mask


def sun_alaw2linear(a_val: int) -> int:
    a_val ^= 0x55
    t = (a_val & 0x0F) << 4
    seg = (a_val & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a_val & 0x80 else -t


# --- The ITU-T G.191 Software Tool Library g711.c (alaw_compress, ulaw_compress, ...).


def stl_alaw_compress(lin: int) -> int:
    ix = (~lin) >> 4 if lin < 0 else lin >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if lin >= 0:
        ix |= 0x80
    return ix ^ 0x55


def stl_ulaw_compress(lin: int) -> int:
    absno = ((~lin) >> 2) + 33 if lin < 0 else (lin >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i:
        segno += 1
        i >>= 1
    code = ((8 - segno) << 4) | (0x0F - ((absno >> segno) & 0x0F))
    return code | 0x80 if lin >= 0 else code


def stl_ulaw_expand(log: int) -> int:
    sign = -1 if log < 0x80 else 1
    mantissa = ~log
    exponent = (mantissa >> 4) & 0x07
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * (mantissa & 0x0F) + step // 2 - 4 * 33)


def stl_alaw_expand(log: int) -> int:
    ix = (log ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 8
    if iexp > 1:
        mant <<= iexp - 1
    return mant if log > 127 else -mant


def _codes(encoded: bytes) -> list[int]:
    return list(encoded)


def test_ulaw_encode_matches_sun_reference_for_every_sample() -> None:
    expected = [sun_linear2ulaw(int(x)) for x in ALL_SAMPLES]
    assert _codes(g711.ulaw_encode(ALL_PCM)) == expected


def test_alaw_encode_matches_sun_reference_for_every_sample() -> None:
    expected = [sun_linear2alaw(int(x)) for x in ALL_SAMPLES]
    assert _codes(g711.alaw_encode(ALL_PCM)) == expected


def test_decode_matches_sun_reference_for_every_code() -> None:
    assert g711.ulaw_decode(ALL_CODES).tolist() == [sun_ulaw2linear(c) for c in range(256)]
    assert g711.alaw_decode(ALL_CODES).tolist() == [sun_alaw2linear(c) for c in range(256)]


def test_decode_and_alaw_encode_match_itu_g191_stl() -> None:
    assert g711.ulaw_decode(ALL_CODES).tolist() == [stl_ulaw_expand(c) for c in range(256)]
    assert g711.alaw_decode(ALL_CODES).tolist() == [stl_alaw_expand(c) for c in range(256)]
    expected = [stl_alaw_compress(int(x)) for x in ALL_SAMPLES]
    assert _codes(g711.alaw_encode(ALL_PCM)) == expected


def test_ulaw_encode_differs_from_g191_only_below_zero_by_one_step() -> None:
    """The STL takes the one's complement of negative samples, Sun (and audioop) negate."""
    ours = np.frombuffer(g711.ulaw_encode(ALL_PCM), dtype=np.uint8).astype(int)
    stl = np.array([stl_ulaw_compress(int(x)) for x in ALL_SAMPLES])
    differs = ours != stl
    assert not differs[ALL_SAMPLES >= 0].any()
    assert (np.abs(ours - stl)[differs] == 1).all()
    assert differs.sum() < 1024  # only at the quantiser thresholds


def test_known_values() -> None:
    assert g711.ulaw_decode(b"\xff\x7f").tolist() == [0, 0]
    assert g711.alaw_decode(b"\xd5\x55").tolist() == [8, -8]
    assert g711.ulaw_decode(b"\x00\x80").tolist() == [-32124, 32124]
    assert g711.alaw_decode(b"\x2a\xaa").tolist() == [-32256, 32256]
    assert g711.ulaw_encode(bytes(2)) == b"\xff"
    assert g711.alaw_encode(bytes(2)) == b"\xd5"
    extremes = np.array([32767, -32768], dtype=np.int16)
    assert g711.ulaw_encode(extremes) == b"\x80\x00"
    assert g711.alaw_encode(extremes) == b"\xaa\x2a"


@pytest.mark.parametrize("codec", list(Codec))
def test_round_trip_error_is_within_one_step(codec: Codec) -> None:
    decoded = np.frombuffer(g711.decode(codec, g711.encode(codec, ALL_PCM)), dtype="<i2")
    error = np.abs(decoded.astype(np.int32) - ALL_SAMPLES)
    # A 4-bit mantissa makes a step at most 1/16 of the magnitude (16 LSB at the bottom);
    # decoding to mid-step leaves about half a step, plus the low bits each law truncates.
    bound = np.maximum(np.abs(ALL_SAMPLES) / 16, 8) + 4
    unclipped = np.abs(ALL_SAMPLES) < 32000
    assert (error[unclipped] <= bound[unclipped]).all()
    assert error[np.abs(ALL_SAMPLES) < 32].max() <= 8


def test_decode_of_encode_is_idempotent() -> None:
    for codec in Codec:
        once = g711.decode(codec, g711.encode(codec, ALL_PCM))
        assert g711.decode(codec, g711.encode(codec, once)) == once


def test_codec_enum() -> None:
    assert Codec.PCMU == 0 and Codec.PCMA == 8
    assert Codec.PCMU.encoding_name == "PCMU" and Codec.PCMA.encoding_name == "PCMA"
    assert Codec.PCMU.clock_rate == Codec.PCMA.clock_rate == 8000
    for codec in Codec:
        assert g711.encode(codec, bytes(320)) == bytes([codec.silence_byte]) * 160


def test_encode_decode_frame_shapes_and_types() -> None:
    frame = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    for codec in Codec:
        payload = g711.encode(codec, frame.astype("<i2").tobytes())
        assert len(payload) == 160
        assert g711.encode(codec, frame) == payload
        pcm = g711.decode(codec, payload)
        assert isinstance(pcm, bytes) and len(pcm) == 320
    assert g711.ulaw_decode(b"\x12" * 160).dtype == np.int16
    assert g711.encode(0, bytes(4)) == b"\xff\xff"  # plain payload-type ints work too


def test_big_endian_and_strided_arrays() -> None:
    samples = np.array([1000, -1000, 20000, -32768], dtype=np.int16)
    expected = g711.ulaw_encode(samples)
    assert g711.ulaw_encode(samples.astype(">i2")) == expected
    assert g711.ulaw_encode(np.repeat(samples, 2)[::2]) == expected


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="even length"):
        g711.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(TypeError, match="int16"):
        g711.alaw_encode(np.zeros(4, dtype=np.float32))


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ImportError:
            return None


@pytest.mark.skipif(_audioop() is None, reason="audioop is gone (Python >= 3.13)")
def test_matches_audioop() -> None:
    audioop = _audioop()
    assert g711.ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert g711.alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert g711.decode(Codec.PCMU, ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.decode(Codec.PCMA, ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)
