import numpy as np
import pytest
from speech_samples import frames, word_error_rate

from voicebot.speech.asr import WhisperEngine
from voicebot.speech.models import ModelNotFoundError
from voicebot.speech.tts import EspeakSynthesizer, PiperSynthesizer, SynthesisError
from voicebot.speech.vad import level_dbfs

QUESTION = "Could you tell me about a project you are proud of?"
ROUND_TRIP = [
    "How many years of experience do you have with Python?",
    "Tell me about a time you disagreed with a colleague.",
]
GREETING = "Hello, this is the hiring team. Thanks for taking my call. Is now a good time?"


def seconds(pcm: bytes, rate: int = 8000) -> float:
    return len(pcm) / 2 / rate


def assert_speech_like(pcm: bytes, words: int, rate: int = 8000) -> None:
    assert len(pcm) % 2 == 0
    assert 0.15 * words < seconds(pcm, rate) < 0.7 * words
    assert level_dbfs(pcm) > -30
    assert np.abs(np.frombuffer(pcm, "<i2")).max() < 32767  # not clipped


@pytest.mark.models
async def test_piper_renders_line_rate_speech(tmp_path) -> None:
    tts = PiperSynthesizer(cache_dir=tmp_path)
    assert tts.sample_rate == 8000
    assert_speech_like(await tts.render(QUESTION), len(QUESTION.split()))


@pytest.mark.models
async def test_piper_streams_a_chunk_per_sentence(tmp_path) -> None:
    chunks = [chunk async for chunk in PiperSynthesizer(cache_dir=tmp_path).stream(GREETING)]
    assert len(chunks) == 3
    assert all(len(chunk) > 1600 for chunk in chunks)


@pytest.mark.models
async def test_second_render_comes_from_the_disk_cache(tmp_path) -> None:
    first = PiperSynthesizer(cache_dir=tmp_path)
    rendered = await first.render(GREETING)
    assert first.cache_path(GREETING).is_file()

    second = PiperSynthesizer(cache_dir=tmp_path)  # a fresh process would see the same
    cached = await second.render(GREETING)

    assert cached == rendered  # not synthesised again: read back (speed is for benchmarks)
    assert second.cache_stats.disk_hits == 1 and second.cache_stats.misses == 0
    assert await second.render(f"  {GREETING} ") == rendered
    assert second.cache_stats.memory_hits == 1


@pytest.mark.models
async def test_cache_key_covers_rate_and_length_scale(tmp_path) -> None:
    normal = PiperSynthesizer(cache_dir=tmp_path)
    slow = PiperSynthesizer(cache_dir=tmp_path, length_scale=1.4)
    wide = PiperSynthesizer(cache_dir=tmp_path, sample_rate=16000)
    paths = {tts.cache_path(QUESTION) for tts in (normal, slow, wide)}
    assert len(paths) == 3
    assert seconds(await slow.render(QUESTION)) > 1.1 * seconds(await normal.render(QUESTION))
    assert_speech_like(await wide.render(QUESTION), len(QUESTION.split()), rate=16000)


@pytest.mark.models
async def test_whisper_understands_piper_on_the_phone_line(whisper: WhisperEngine) -> None:
    tts, recognizer = PiperSynthesizer(), whisper.recognizer(8000)
    for text in ROUND_TRIP:
        for frame in frames(await tts.render(text)):
            await recognizer.feed(frame)
        transcript = await recognizer.finish()
        assert word_error_rate(text, transcript.text) <= 0.2, transcript.text


def test_missing_piper_voice(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"voice\.onnx"):
        PiperSynthesizer(tmp_path / "voice.onnx")


async def test_espeak_renders_at_the_line_rate() -> None:
    for rate in (8000, 16000):
        tts = EspeakSynthesizer(sample_rate=rate)
        chunks = [chunk async for chunk in tts.stream(GREETING)]
        assert len(chunks) == 3
        assert_speech_like(b"".join(chunks), len(GREETING.split()), rate)


async def test_espeak_unknown_voice() -> None:
    with pytest.raises(SynthesisError, match="xx-nope"):
        await EspeakSynthesizer("xx-nope").render("hello")
