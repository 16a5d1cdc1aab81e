"""Text to line audio: PCM16 at the call's rate, streamed a sentence at a time.

`PiperSynthesizer` is the bot's English voice; the Mandarin voices are in `tts_zh`. Each caches
what it renders (memory and disk, `CachedSynthesizer`), so fixed prompts are synthesized once.
`EspeakSynthesizer` is a plain robotic alternative used by tests and by the demo's simulated
candidates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from voicebot.media.resample import resample
from voicebot.speech.models import piper_voice_file


class Synthesizer(Protocol):
    sample_rate: int

    def stream(self, text: str) -> AsyncIterator[bytes]:
        """PCM16 mono chunks at `sample_rate`, one or more per sentence."""
        ...

    async def render(self, text: str) -> bytes:
        """All of `text` as one PCM16 buffer."""
        ...


class SynthesisError(RuntimeError):
    """The TTS engine failed on a piece of text."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


def _clean(text: str) -> str:
    return " ".join(text.split())


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+", _clean(text)) if s]


# --- piper ------------------------------------------------------------------------------------

_log = logging.getLogger(__name__)
_VOICES: dict[Path, Any] = {}
_VOICES_LOCK = threading.Lock()
_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def load_piper_voice(path: Path) -> Any:
    """The process-wide PiperVoice for `path`, loaded on first use."""
    with _VOICES_LOCK:
        if path not in _VOICES:
            from piper import PiperVoice

            _VOICES[path] = PiperVoice.load(path)
        return _VOICES[path]


def _shared_executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(2, thread_name_prefix="tts")
        return _EXECUTOR


class _Lru:
    """Rendered audio by cache key, bounded by total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        pcm = self._items.get(key)
        if pcm is not None:
            self._items.move_to_end(key)
        return pcm

    def put(self, key: str, pcm: bytes) -> None:
        if len(pcm) > self.max_bytes or key in self._items:
            return
        self._items[key] = pcm
        self._bytes += len(pcm)
        while self._bytes > self.max_bytes:
            self._bytes -= len(self._items.popitem(last=False)[1])


class CachedSynthesizer:
    """What every model voice shares: renders off the event loop, a clause or sentence at a
    time, and caches whole texts in memory and on disk, keyed by voice, settings and text.

    A subclass names its voice (`voice_id`), the settings that change the sound
    (`_settings`), and renders: `_load()` once, `_start(text)` per text, `_next_chunk(...)`
    per piece until None."""

    voice_id: str
    sample_rate: int

    def __init__(
        self,
        sample_rate: int,
        cache_dir: Path | None,
        *,
        memory_cache_bytes: int = 16_000_000,
        executor: Executor | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory = _Lru(memory_cache_bytes)
        self._executor = executor
        self._stats = CacheStats()

    @property
    def cache_stats(self) -> CacheStats:
        return self._stats

    def _settings(self) -> list[Any]:
        return []

    def cache_key(self, text: str) -> str:
        fields = [self.voice_id, self.sample_rate, *self._settings(), _clean(text)]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()

    def cache_path(self, text: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = self.cache_key(text)
        return self.cache_dir / key[:2] / f"{key}.pcm"

    async def warm(self, texts: Iterable[str] = ()) -> None:
        """Load the voice now rather than on the first call, and pre-render `texts`."""
        await self._run(self._load)
        for text in texts:
            await self.render(text)

    async def render(self, text: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(text)])

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        text = _clean(text)
        if not text:
            return
        key, path = self.cache_key(text), self.cache_path(text)
        cached = self._memory.get(key)
        if cached is not None:
            self._count(memory_hits=1)
            yield cached
            return
        if path is not None and (cached := await asyncio.to_thread(_read, path)) is not None:
            self._count(disk_hits=1)
            self._memory.put(key, cached)
            yield cached
            return
        self._count(misses=1)
        parts = []
        pieces = await self._run(self._start, text)
        while (chunk := await self._run(self._next_chunk, pieces)) is not None:
            parts.append(chunk)
            yield chunk
        pcm = b"".join(parts)
        self._memory.put(key, pcm)
        if path is not None:
            await asyncio.to_thread(_write, path, pcm)

    def _load(self) -> Any:
        raise NotImplementedError

    def _start(self, text: str) -> Iterator[Any]:
        raise NotImplementedError

    def _next_chunk(self, pieces: Iterator[Any]) -> bytes | None:
        raise NotImplementedError

    async def _run(self, fn: Any, *args: Any) -> Any:
        executor = self._executor or _shared_executor()
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def _count(self, **increments: int) -> None:
        self._stats = replace(
            self._stats, **{k: getattr(self._stats, k) + v for k, v in increments.items()}
        )


class PiperSynthesizer(CachedSynthesizer):
    """Piper voice rendered at its own rate (22050 Hz) and resampled to the line rate."""

    def __init__(
        self,
        voice_path: str | Path | None = None,
        sample_rate: int = 8000,
        cache_dir: Path | None = None,
        length_scale: float = 1.0,
        *,
        volume: float = 0.8,
        memory_cache_bytes: int = 16_000_000,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(
            sample_rate, cache_dir, memory_cache_bytes=memory_cache_bytes, executor=executor
        )
        self.voice_path = piper_voice_file(voice_path)
        self.voice_id = f"{self.voice_path.name}:{self.voice_path.stat().st_size}"
        self.length_scale = length_scale
        self.volume = volume

    def _settings(self) -> list[Any]:
        return [self.length_scale, self.volume]

    def _load(self) -> Any:
        return load_piper_voice(self.voice_path)

    def _start(self, text: str) -> Iterator[Any]:
        from piper import SynthesisConfig

        voice = load_piper_voice(self.voice_path)
        config = SynthesisConfig(length_scale=self.length_scale, volume=self.volume)
        return iter(voice.synthesize(text, syn_config=config))

    def _next_chunk(self, pieces: Iterator[Any]) -> bytes | None:
        try:
            chunk = next(pieces)
        except StopIteration:
            return None
        except Exception as error:
            raise SynthesisError(f"piper failed on {self.voice_path.name}: {error}") from error
        pcm = resample(chunk.audio_int16_array, chunk.sample_rate, self.sample_rate)
        return pcm.tobytes()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, pcm: bytes) -> None:
    """Store atomically; a failed write costs a re-render later, never the call."""
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(pcm)
        os.replace(tmp, path)
    except OSError as error:
        _log.warning("TTS cache: cannot write %s: %s", path, error)
        tmp.unlink(missing_ok=True)


# --- espeak-ng --------------------------------------------------------------------------------


def _wav_pcm(wav: bytes) -> tuple[bytes, int]:
    """PCM16 mono data and rate of espeak-ng's WAV (whose header sizes are unreliable)."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise SynthesisError("espeak-ng did not return WAV audio")
    rate = int.from_bytes(wav[24:28], "little")
    data = wav.find(b"data", 12)
    if data < 0:
        raise SynthesisError("espeak-ng WAV has no data chunk")
    pcm = wav[data + 8 :]
    return pcm[: len(pcm) - len(pcm) % 2], rate


class EspeakSynthesizer:
    """espeak-ng in a subprocess; `voice` is any `espeak-ng --voices` name (en-us, ko, ...)."""

    def __init__(
        self,
        voice: str = "en-us",
        sample_rate: int = 8000,
        *,
        words_per_minute: int = 160,
        pitch: int = 50,
        executable: str = "espeak-ng",
    ) -> None:
        self.voice = voice
        self.sample_rate = sample_rate
        self.words_per_minute = words_per_minute
        self.pitch = pitch
        self.executable = executable

    async def render(self, text: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(text)])

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        for sentence in _sentences(text):
            yield await self._speak(sentence)

    async def _speak(self, sentence: str) -> bytes:
        args = ["--stdout", "-v", self.voice, "-s", str(self.words_per_minute)]
        try:
            process = await asyncio.create_subprocess_exec(
                self.executable,
                *args,
                "-p",
                str(self.pitch),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as error:
            raise SynthesisError(f"{self.executable} is not installed") from error
        wav, err = await process.communicate(sentence.encode())
        if process.returncode != 0:
            raise SynthesisError(f"espeak-ng voice {self.voice!r}: {err.decode().strip()}")
        pcm, rate = _wav_pcm(wav)
        return (await asyncio.to_thread(resample, pcm, rate, self.sample_rate)).tobytes()
