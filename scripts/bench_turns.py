"""End of turn on answers with thinking pauses: false cut-offs and end-of-turn delay per
question type, the predictive end of turn (speech/turn.py) against the fixed hangover.

Each answer is rendered with the candidate's piper voice (as the demo's, 8 kHz) in parts, and
the parts are joined with a labelled thinking pause of 0.5, 1, 1.5 or 2 s; 3 s of silence
follow the last part. The frames go through the session's VAD (same settings) and Whisper
tiny.en in virtual time, the way InterviewSession's listener drives them: a speculative decode
when a pause begins, its text usable only once the decode (timed here, on this machine, one
decode at a time) would have finished, and `silence_needed_ms` asked on every silent frame.
A turn that ends before the last part has been said is a false cut-off; the end-of-turn delay
is the silence from the last voiced frame of the answer to the decision.

The same answers run twice: with the decode times measured here ("measured": on a shared,
loaded 2-core host a speculative tiny.en decode takes most of a second, so its text is rarely
there before the hangover) and with every decode taking `--assume-decode-ms` (150: the issue's
target for a transcript ready when speech ends), which shows what the end-of-turn rules do once
the text is there in time.

Usage: .venv/bin/python scripts/bench_turns.py [--out var/bench/turns.json] [--pauses 0.5,1,2]
       [--assume-decode-ms 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from voicebot.config import Config, load_config
from voicebot.demo import _trim, candidate_voice
from voicebot.interview.session import PAUSE_MS
from voicebot.speech.asr import WhisperEngine
from voicebot.speech.turn import TurnTiming, silence_needed_ms
from voicebot.speech.vad import (
    SilenceBegan,
    SpeechEnded,
    SpeechResumed,
    SpeechStarted,
    VoiceActivityDetector,
)

REPO = Path(__file__).resolve().parents[1]
RATE = 8000
FRAME = RATE // 50 * 2
TAIL_S = 3.0
# (question kind, parts): a labelled thinking pause goes between each two parts
ANSWERS: list[tuple[str, list[str]]] = [
    ("consent", ["Yes, that is fine, go ahead."]),
    ("consent", ["Yes,", "that is fine, go ahead."]),
    ("consent", ["Um,", "yes, okay."]),
    ("consent", ["Sure."]),
    ("salary", ["I am hoping for around ninety thousand a year."]),
    ("salary", ["I am hoping for around", "ninety thousand a year."]),
    ("salary", ["Um, let me think.", "About ninety thousand."]),
    ("salary", ["Ninety thousand a year,", "maybe a bit more with equity."]),
    ("notice", ["My notice period is four weeks."]),
    ("notice", ["My notice period is", "four weeks."]),
    ("notice", ["Four weeks, but", "I could start sooner."]),
    ("years", ["I have six years of Python experience."]),
    ("years", ["I have", "six years of Python experience."]),
    ("years", ["Six years,", "mostly on backend services."]),
    (
        "behavioral",
        [
            "Last year our payment service went down during a release.",
            "I traced it to a bad database migration, and",
            "rolled it back and added a check to our pipeline.",
            "We were back up in twenty minutes.",
        ],
    ),
    (
        "behavioral",
        [
            "A teammate wanted to rewrite our queue worker, and I disagreed.",
            "So, um,",
            "we wrote down the trade-offs together and tried my smaller fix first.",
            "It cut failures by half.",
        ],
    ),
]
CONFIGS = {
    # what the session did before: 300 ms for a finished sentence, else a fixed 700 ms
    "fixed_hangover": TurnTiming(complete_ms=300, finished_ms=300, trailing_ms=700),
    "predictive": TurnTiming(),
}


@dataclass
class Outcome:
    kind: str
    pause_s: float
    pauses: int  # labelled pauses in the answer
    cut: bool  # the turn ended before the answer's last voiced frame
    at_pause: bool  # ... before its last part began: at a labelled thinking pause
    delay_ms: float | None  # from the last voiced frame to the end of turn (when not cut)
    decode_ms: list[float]


def _frames(pcm: bytes) -> list[bytes]:
    pcm = pcm + b"\0" * (-len(pcm) % FRAME)
    return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]


def _answer_audio(parts: list[bytes], pause_s: float) -> tuple[list[bytes], int]:
    """The frames of the answer, and the index of the first frame of its last part."""
    gap = b"\0" * (int(pause_s * RATE) * 2)
    frames: list[bytes] = _frames(b"\0" * FRAME * 25)  # 0.5 s before: the VAD warms up
    for part in parts[:-1]:
        frames += _frames(part + gap)
    last_start = len(frames)
    frames += _frames(parts[-1]) + _frames(b"\0" * int(TAIL_S * RATE) * 2)
    return frames, last_start


def _last_voiced(frames: list[bytes]) -> int:
    loud = [i for i, f in enumerate(frames) if np.abs(np.frombuffer(f, "<i2")).max() > 300]
    return loud[-1] if loud else 0


class Decodes:
    """Whisper decodes in virtual time: each result is usable `decode_ms` after it began."""

    def __init__(self, engine: WhisperEngine, cache: dict[bytes, tuple[str, float]]) -> None:
        self.engine = engine
        self.cache = cache  # the same audio decodes the same way: decode it once
        self.assume_ms: float | None = None  # every decode takes this long (None: measured)

    def decode(self, pcm: bytes) -> tuple[str, float]:
        if pcm not in self.cache:
            t = self.engine.transcribe(pcm, RATE)
            self.cache[pcm] = (t.text, t.decode_ms)
        text, ms = self.cache[pcm]
        return text, ms if self.assume_ms is None else self.assume_ms


def run_turn(
    frames: list[bytes],
    kind: str,
    timing: TurnTiming,
    cfg: Config,
    decodes: Decodes,
) -> tuple[int | None, list[float]]:
    """The frame index at which the session would end the turn (None: never), and the
    speculative decodes' times; mirrors InterviewSession._listen."""
    vad = VoiceActivityDetector(
        RATE,
        cfg.speech.vad_aggressiveness,
        cfg.speech.vad_start_ms,
        max(timing.trailing_ms, timing.hangover_ms),
        pause_ms=PAUSE_MS,
    )
    audio = bytearray()
    preroll: list[bytes] = []
    speculation: tuple[int, str, int] | None = None  # (bytes covered, text, ready at frame)
    pause_frames = speech_frames = 0
    times: list[float] = []
    for i, frame in enumerate(frames):
        event = vad.process(frame)
        if isinstance(event, SpeechStarted):
            audio = bytearray(b"".join(preroll[-10:]))
            pause_frames = speech_frames = 0
            speculation = None
        if not vad.in_speech and not isinstance(event, SpeechEnded):
            preroll.append(frame)
            continue
        if isinstance(event, SpeechEnded):
            return i, times
        speech_frames += 1
        if isinstance(event, SilenceBegan):
            text, ms = decodes.decode(bytes(audio))
            times.append(ms)
            speculation = (len(audio), text, i + math.ceil(ms / 20))
            pause_frames = 1
        elif isinstance(event, SpeechResumed):
            pause_frames = 0
            speculation = None
        if not pause_frames:
            audio += frame
            continue
        pause_frames += 1
        silent_s = PAUSE_MS / 1000 + pause_frames * 0.02
        early = speculation[1] if speculation and i >= speculation[2] else None
        needed = silence_needed_ms(kind, early, speech_frames * 0.02, timing)
        if silent_s * 1000 >= needed:
            return i, times
    return None, times


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(outcomes: list[Outcome]) -> dict[str, object]:
    by_kind: dict[str, object] = {}
    for kind in dict.fromkeys(o.kind for o in outcomes):
        mine = [o for o in outcomes if o.kind == kind]
        by_kind[kind] = {**_counts(mine), "end_of_turn_delay_ms": _delays(mine)}
    by_pause = {
        str(p): _counts([o for o in outcomes if o.pause_s == p and o.pauses])
        for p in sorted({o.pause_s for o in outcomes})
    }
    return {
        **_counts(outcomes),
        "end_of_turn_delay_ms": _delays(outcomes),
        "per_kind": by_kind,
        "per_pause_s": by_pause,
    }


def _counts(outcomes: list[Outcome]) -> dict[str, object]:
    pauses = sum(o.pauses for o in outcomes)
    at_pause = sum(o.at_pause for o in outcomes)
    return {
        "answers": len(outcomes),
        "answers_cut": sum(o.cut for o in outcomes),
        "thinking_pauses": pauses,
        "cut_at_thinking_pause": at_pause,
        "false_cutoff_rate": round(at_pause / pauses, 3) if pauses else None,
    }


def _delays(outcomes: list[Outcome]) -> dict[str, float | None]:
    delays = [o.delay_ms for o in outcomes if o.delay_ms is not None]
    return {"p50": _pct(delays, 50), "p95": _pct(delays, 95)}


def run_all(
    rendered: list[tuple[str, list[bytes]]],
    pauses: list[float],
    timing: TurnTiming,
    cfg: Config,
    decodes: Decodes,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for kind, parts in rendered:
        for pause_s in pauses if len(parts) > 1 else pauses[:1]:
            frames, last_start = _answer_audio(parts, pause_s)
            end, times = run_turn(frames, kind, timing, cfg, decodes)
            last = _last_voiced(frames)
            cut = end is not None and end < last
            at_pause = end is not None and end < last_start
            delay = None if cut or end is None else (end - last) * 20.0
            outcomes.append(Outcome(kind, pause_s, len(parts) - 1, cut, at_pause, delay, times))
    return outcomes


async def render(cfg: Config) -> list[tuple[str, list[bytes]]]:
    voice = candidate_voice(cfg, "en")
    return [(kind, [_trim(await voice.render(p)) for p in parts]) for kind, parts in ANSWERS]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="voicebot.toml (default: built-in defaults)")
    p.add_argument("--pauses", default="0.5,1,1.5,2", help="thinking pauses, seconds")
    p.add_argument("--assume-decode-ms", type=float, default=150.0)
    p.add_argument("--out", default=str(REPO / "var/bench/turns.json"))
    args = p.parse_args(argv)
    try:
        pauses = [float(x) for x in args.pauses.split(",") if x.strip()]
    except ValueError:
        print(f"bench_turns: --pauses {args.pauses!r} is not a list of seconds", file=sys.stderr)
        return 2
    cfg = load_config(args.config) if args.config else Config()
    started = time.perf_counter()
    rendered = asyncio.run(render(cfg))
    engine = WhisperEngine(cpu_threads=cfg.speech.asr_cpu_threads, workers=1)
    decodes = Decodes(engine, {})
    report: dict[str, object] = {"pauses_s": pauses, "timing": {}, "results": {}}
    results: dict[str, object] = {}
    for decode in ("measured", f"{args.assume_decode_ms:g}ms"):
        decodes.assume_ms = None if decode == "measured" else args.assume_decode_ms
        for name, base in CONFIGS.items():
            timing = replace(base, hangover_ms=cfg.speech.vad_hangover_ms)
            report["timing"][name] = asdict(timing)  # type: ignore[index]
            results[f"{name}/{decode}"] = summarise(run_all(rendered, pauses, timing, cfg, decodes))
    report["results"] = results
    all_ms = [ms for _, ms in decodes.cache.values()]
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["speculative_decode_ms"] = {"p50": _pct(all_ms, 50), "p95": _pct(all_ms, 95)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
