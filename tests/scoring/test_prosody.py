"""Prosody from audio: flat vs varied voices, silence, and the tap that takes it from a live
call's recognizer without changing the session."""

import numpy as np

from voicebot.scoring.prosody import ProsodyTap, match_turns, prosody_features
from voicebot.speech.asr import Transcript
from voicebot.store import TurnRecord

SR = 8000


def tone(seconds: float, hz: np.ndarray | float, gaps: bool = False) -> bytes:
    t = np.arange(int(SR * seconds)) / SR
    f0 = np.broadcast_to(np.asarray(hz, dtype=float), t.shape)
    wave = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / SR)
    if gaps:
        wave = wave * ((t % 1.0) < 0.6)
    return (wave * 32767).astype("<i2").tobytes()


def test_monotone_and_lively_voices_differ() -> None:
    t = np.arange(SR * 2) / SR
    flat = prosody_features(tone(2, 150.0))
    lively = prosody_features(tone(2, 150 * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)), gaps=True))

    assert abs(flat["pitch_median_hz"] - 150) < 5
    assert flat["pitch_std_semitones"] < 0.2 and flat["pause_ratio"] == 0
    assert lively["pitch_std_semitones"] > 1.5
    assert 0.3 < lively["pause_ratio"] < 0.5


def test_silence_and_nothing_are_zeros_not_errors() -> None:
    assert prosody_features(bytes(SR * 2))["pause_ratio"] == 1.0
    assert prosody_features(b"")["voiced_ratio"] == 0.0


class FakeRecognizer:
    sample_rate = SR

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    async def feed(self, pcm: bytes) -> str | None:
        return None

    def speculate(self) -> None: ...

    async def finish(self) -> Transcript:
        return Transcript(self.texts.pop(0), [], 0.9)

    def reset(self) -> None: ...

    def early_result(self) -> Transcript | None:
        return None


class FakeEngine:
    name = "fake"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def recognizer(
        self, sample_rate: int = SR, context: str = "", language: str = ""
    ) -> FakeRecognizer:
        return FakeRecognizer(self.texts)

    def close(self) -> None: ...


async def test_tap_keeps_each_utterances_prosody_and_matches_turns() -> None:
    tap = ProsodyTap(FakeEngine(["", "Four weeks.", "Six years."]))
    rec = tap.recognizer(SR)
    for text_audio in (bytes(1600), tone(1, 120.0), tone(1, 220.0)):
        for i in range(0, len(text_audio), 320):
            await rec.feed(text_audio[i : i + 320])
        await rec.finish()
    turns = [
        TurnRecord("c", 1, "bot", "ask", "Notice?", 0, 1),
        TurnRecord("c", 2, "candidate", "answer", "Four weeks.", 1, 2),
        TurnRecord("c", 3, "bot", "ask", "Years?", 2, 3),
        TurnRecord("c", 4, "candidate", "answer", "Six years.", 3, 4),
    ]
    matched = match_turns(turns, tap.heard)
    assert sorted(matched) == [2, 4]  # the empty (echo) utterance is skipped
    assert abs(matched[2]["pitch_median_hz"] - 120) < 5
    assert abs(matched[4]["pitch_median_hz"] - 220) < 8
