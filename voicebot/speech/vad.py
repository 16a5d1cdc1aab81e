"""Voice activity on the caller's 20 ms frames: when a turn starts, pauses, resumes and ends.

webrtcvad classifies each frame; an energy gate keeps quiet line echo of the bot's own voice
from counting as speech, so `SpeechStarted` while the bot talks can be taken as barge-in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

FRAME_MS = 20
SUPPORTED_RATES = (8000, 16000, 32000, 48000)
WARMUP_FRAMES = 5  # webrtcvad calls its first four frames speech whatever they hold


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """`start_ms` of voiced frames seen; speech began at frame `at_frame`."""

    at_frame: int


@dataclass(frozen=True, slots=True)
class SilenceBegan:
    """`pause_ms` of silence inside speech, from frame `at_frame`: maybe the end of the turn."""

    at_frame: int


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """The caller spoke again, from frame `at_frame`, before the hangover ran out."""

    at_frame: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """`hangover_ms` of silence: the turn ended at frame `at_frame` (its first silent frame).

    `speech_ms` spans start to end including short pauses; `voiced_ms` counts voiced frames.
    """

    at_frame: int
    speech_ms: int
    voiced_ms: int


VadEvent = SpeechStarted | SilenceBegan | SpeechResumed | SpeechEnded


def level_dbfs(frame: bytes) -> float:
    """RMS level of a PCM16 frame in dB relative to full scale (-inf for digital silence)."""
    x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    rms = np.sqrt(np.mean(x * x)) if len(x) else 0.0
    return 20 * np.log10(rms / 32768) if rms > 0 else float("-inf")


class VoiceActivityDetector:
    """Turns a stream of 20 ms frames into speech start / pause / resume / end events.

    Within a turn the events come in this order: `SpeechStarted`, then any number of
    `SilenceBegan` each followed by `SpeechResumed`, then `SilenceBegan` and `SpeechEnded`.
    `pause_ms` keeps the gaps between words (one or two unvoiced frames) from raising
    `SilenceBegan`; pauses shorter than that raise nothing. `pause_ms=20` reports every gap.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        aggressiveness: int = 2,
        start_ms: int = 60,
        hangover_ms: int = 700,
        min_energy_dbfs: float = -50.0,
        pause_ms: int = 200,
    ) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise ValueError(f"VAD sample rate {sample_rate} Hz not in {SUPPORTED_RATES}")
        if not 0 <= aggressiveness <= 3:
            raise ValueError(f"VAD aggressiveness {aggressiveness} not in 0..3")
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self.min_energy_dbfs = min_energy_dbfs
        self._vad = webrtcvad.Vad(aggressiveness)
        self._start_frames = max(1, -(-start_ms // FRAME_MS))
        self._hangover_frames = max(2, -(-hangover_ms // FRAME_MS))
        self._pause_frames = max(1, min(self._hangover_frames - 1, -(-pause_ms // FRAME_MS)))
        self._frame = 0
        self.reset()

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def frame_index(self) -> int:
        """Index of the next frame to be processed."""
        return self._frame

    @property
    def last_level_dbfs(self) -> float:
        return self._last_level

    @property
    def last_voiced(self) -> bool:
        return self._last_voiced

    def reset(self) -> None:
        """Forget any speech in progress (frame numbering continues)."""
        self._in_speech = False
        self._run = 0  # consecutive voiced frames
        self._gap = 0  # frames since the current pause began; 0 = not in a pause
        self._pause_reported = False
        self._speech_start = 0
        self._gap_start = 0
        self._voiced = 0
        self._last_level = float("-inf")
        self._last_voiced = False

    def is_voiced(self, frame: bytes) -> bool:
        """webrtcvad says speech and the frame is louder than the energy gate."""
        if len(frame) != self.frame_bytes:
            raise ValueError(
                f"VAD frame is {len(frame)} bytes; 20 ms at {self.sample_rate} Hz is "
                f"{self.frame_bytes}"
            )
        self._last_level = level_dbfs(frame)
        if self._last_level < self.min_energy_dbfs:
            return False
        return self._vad.is_speech(frame, self.sample_rate)

    def process(self, frame: bytes) -> VadEvent | None:
        voiced = self.is_voiced(frame) and self._frame >= WARMUP_FRAMES
        self._last_voiced = voiced
        index = self._frame
        self._frame += 1
        self._run = self._run + 1 if voiced else 0
        if not self._in_speech:
            return self._idle(index)
        if voiced:
            self._voiced += 1
        return self._speaking(index, voiced)

    def _idle(self, index: int) -> VadEvent | None:
        if self._run < self._start_frames:
            return None
        self._in_speech = True
        self._speech_start = index - self._run + 1
        self._voiced = self._run
        self._gap = 0
        return SpeechStarted(self._speech_start)

    def _speaking(self, index: int, voiced: bool) -> VadEvent | None:
        if self._gap == 0:
            if voiced:
                return None
            self._gap, self._gap_start, self._pause_reported = 0, index, False
        if self._run >= self._start_frames:
            reported, self._gap = self._pause_reported, 0
            return SpeechResumed(index - self._run + 1) if reported else None
        self._gap += 1
        if self._gap == self._pause_frames:
            self._pause_reported = True
            return SilenceBegan(self._gap_start)
        if self._gap < self._hangover_frames:
            return None
        ended = SpeechEnded(
            at_frame=self._gap_start,
            speech_ms=(self._gap_start - self._speech_start) * FRAME_MS,
            voiced_ms=self._voiced * FRAME_MS,
        )
        self.reset()
        return ended
