"""Real synthesized speech for speech tests: espeak-ng voices converted by sox (not by us)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import cache

import numpy as np

from voicebot.speech.metrics import normalize_words, word_error_rate  # noqa: F401


@cache
def espeak_pcm(text: str, rate: int = 8000, voice: str = "en-us", wpm: int = 150) -> bytes:
    """`text` spoken by espeak-ng, as mono PCM16 at `rate` (resampled by sox, not by us)."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(wpm), text],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-V0",
            "-t",
            "wav",
            "-",
            "-r",
            str(rate),
            "-b",
            "16",
            "-c",
            "1",
            "-e",
            "signed-integer",
            "-t",
            "raw",
            "-",
        ],
        input=wav,
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    return trim(raw)


def trim(pcm: bytes, threshold: int = 64) -> bytes:
    """Drop the leading and trailing near-silence espeak-ng pads its speech with."""
    x = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold)
    return x[loud[0] : loud[-1] + 1].tobytes() if len(loud) else b""


def silence(ms: int, rate: int = 8000) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def noise(ms: int, dbfs: float, rate: int = 8000, seed: int = 0) -> bytes:
    """White noise at an RMS level of `dbfs`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(rate * ms // 1000) * 32768 * 10 ** (dbfs / 20)
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def scale(pcm: bytes, gain_db: float) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * 10 ** (gain_db / 20)
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def mix(a: bytes, b: bytes) -> bytes:
    n = min(len(a), len(b)) // 2
    x = np.frombuffer(a, "<i2")[:n].astype(np.int32) + np.frombuffer(b, "<i2")[:n]
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def frames(pcm: bytes, rate: int = 8000) -> Iterator[bytes]:
    """20 ms frames; the last partial frame is zero-padded."""
    size = rate // 50 * 2
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size].ljust(size, b"\0")
