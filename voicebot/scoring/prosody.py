"""Prosody of one utterance from its audio: energy and pitch variability, voiced and pause
ratios — the points of the report's delivery curve.

Computed only when the job opts in (`prosody: true`) and the compliance mode is not "eu";
never part of a competency score. Plain numpy: frame energy, and pitch by autocorrelation
over 40 ms frames (60-400 Hz, the telephone band's voices).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voicebot.speech.asr import Recognizer, RecognizerEngine, Transcript
from voicebot.store import Store, TurnRecord

FRAME_S = 0.04
HOP_S = 0.02
MIN_HZ, MAX_HZ = 60.0, 400.0
SILENCE_DB = -45.0  # frames quieter than this (dBFS) are pauses
VOICED_CORR = 0.45  # normalised autocorrelation peak that counts as voiced


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    if len(x) < size:
        return np.zeros((0, size))
    count = 1 + (len(x) - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    return x[idx]


def prosody_features(pcm: bytes, sample_rate: int = 8000) -> dict[str, float]:
    """Energy (dBFS) mean and spread, pitch median (Hz) and spread (semitones), the share of
    voiced frames and of pauses. Empty or silent audio gives zeros, not an error."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").astype(np.float64) / 32768.0
    size, hop = int(FRAME_S * sample_rate), int(HOP_S * sample_rate)
    frames = _frames(x, size, hop)
    empty = {
        "energy_mean_db": 0.0,
        "energy_std_db": 0.0,
        "pitch_median_hz": 0.0,
        "pitch_std_semitones": 0.0,
        "voiced_ratio": 0.0,
        "pause_ratio": 1.0 if len(frames) else 0.0,
    }
    if not len(frames):
        return empty
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    loud = db > SILENCE_DB
    if not loud.any():
        return empty
    pitches = _pitch(frames[loud], sample_rate)
    voiced = pitches[pitches > 0]
    semis = 12 * np.log2(voiced / np.median(voiced)) if len(voiced) else np.zeros(0)
    return {
        "energy_mean_db": round(float(db[loud].mean()), 2),
        "energy_std_db": round(float(db[loud].std()), 2),
        "pitch_median_hz": round(float(np.median(voiced)), 1) if len(voiced) else 0.0,
        "pitch_std_semitones": round(float(semis.std()), 2) if len(semis) else 0.0,
        "voiced_ratio": round(float(len(voiced) / len(frames)), 3),
        "pause_ratio": round(float(1.0 - loud.mean()), 3),
    }


def _pitch(frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per frame, the fundamental in Hz by normalised autocorrelation, or 0 when unvoiced."""
    lo, hi = int(sample_rate / MAX_HZ), int(sample_rate / MIN_HZ)
    centred = frames - frames.mean(axis=1, keepdims=True)
    n = centred.shape[1]
    spec = np.fft.rfft(centred, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    energy = ac[:, :1] + 1e-12
    norm = ac / energy
    hi = min(hi, n - 1)
    window = norm[:, lo : hi + 1]
    lag = window.argmax(axis=1) + lo
    peak = window.max(axis=1)
    return np.where(peak >= VOICED_CORR, sample_rate / lag, 0.0)


# -- taking it from a live call ------------------------------------------------------------------


@dataclass
class HeardAudio:
    text: str
    features: dict[str, float]


class ProsodyTap:
    """A `RecognizerEngine` wrapper for one call: every utterance's audio goes to the real
    recognizer as before, and its prosody is kept (in order, with the transcript) so it can be
    stored against the candidate's turns after the call. The session needs no change:
    `InterviewSession(..., asr=ProsodyTap(engine))`."""

    def __init__(self, engine: RecognizerEngine) -> None:
        self.engine = engine
        self.name = engine.name
        self.heard: list[HeardAudio] = []

    def recognizer(
        self, sample_rate: int = 8000, context: str = "", language: str = ""
    ) -> Recognizer:
        return _TappedRecognizer(self.engine.recognizer(sample_rate, context, language), self)

    def close(self) -> None:  # the wrapped engine is shared; its owner closes it
        return None


class _TappedRecognizer:
    def __init__(self, inner: Recognizer, tap: ProsodyTap) -> None:
        self.inner = inner
        self.tap = tap
        self.sample_rate = inner.sample_rate
        self._audio = bytearray()

    async def feed(self, pcm: bytes) -> str | None:
        self._audio += pcm
        return await self.inner.feed(pcm)

    def speculate(self) -> None:
        self.inner.speculate()

    async def finish(self) -> Transcript:
        transcript = await self.inner.finish()
        audio, self._audio = bytes(self._audio), bytearray()
        features = await asyncio.to_thread(prosody_features, audio, self.sample_rate)
        self.tap.heard.append(HeardAudio(transcript.text, features))
        return transcript

    def reset(self) -> None:
        self._audio = bytearray()
        self.inner.reset()

    def early_result(self) -> Transcript | None:
        return self.inner.early_result()

    def speculating(self) -> bool:
        speculating = getattr(self.inner, "speculating", None)
        return bool(speculating is not None and speculating())

    def hurry(self) -> None:
        if (hurry := getattr(self.inner, "hurry", None)) is not None:
            hurry()


def match_turns(turns: Sequence[TurnRecord], heard: Sequence[HeardAudio]) -> dict[int, dict]:
    """Turn seq → prosody, pairing the candidate's answer turns with the tapped utterances in
    order by transcript (utterances the session dropped, e.g. echo, are skipped)."""
    out: dict[int, dict] = {}
    pending = list(heard)
    for t in turns:
        if t.speaker != "candidate" or t.kind != "answer":
            continue
        while pending and pending[0].text != t.text:
            pending.pop(0)
        if pending:
            out[t.seq] = pending.pop(0).features
    return out


async def save_call_prosody(
    store: Store, call_id: str, turns: Sequence[TurnRecord], tap: ProsodyTap
) -> int:
    """Store the tapped prosody against the call's turns; returns how many were stored."""
    from voicebot.store.reports import save_prosody

    matched = match_turns(turns, tap.heard)
    for seq, features in matched.items():
        await save_prosody(store, call_id, seq, features)
    return len(matched)
