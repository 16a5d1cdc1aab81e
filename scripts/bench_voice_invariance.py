"""Voice invariance: the same answers spoken by the piper voice and by several espeak-ng
voices, sent through the phone band (300-3400 Hz, 8 kHz, G.711 mu-law), transcribed by the
bot's ASR and scored. Prints one JSON object: per answer the score for each voice and the
spread (max - min) as a share of the 1-5 scale. Target: <= 5 %.

Usage: .venv/bin/python scripts/bench_voice_invariance.py [--answers N] [--voices a,b,c]
           [--whisper-model tiny.en|base|DIR] [--context]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicebot.interview.plan import load_job  # noqa: E402
from voicebot.media.g711 import ulaw_decode, ulaw_encode  # noqa: E402
from voicebot.media.resample import resample  # noqa: E402
from voicebot.scoring.score import score_answer  # noqa: E402
from voicebot.speech.asr import load_recognizer_engine  # noqa: E402
from voicebot.speech.metrics import word_error_rate  # noqa: E402
from voicebot.speech.tts import PiperSynthesizer  # noqa: E402

ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland")
SCALE = 4.0  # 1..5
CLEAN_WER = 0.15  # "the words arrived": voices transcribed at or below this word error rate


def phone_band(pcm8k: np.ndarray) -> np.ndarray:
    """300-3400 Hz band-pass, then G.711 mu-law out and back: what a PSTN line leaves."""
    x = pcm8k.astype(np.float64)
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    spec[(freqs < 300) | (freqs > 3400)] = 0
    y = np.clip(np.fft.irfft(spec, len(x)), -32768, 32767).astype(np.int16)
    return ulaw_decode(ulaw_encode(y))


def espeak(text: str, voice: str, rate: int = 165) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-w", f.name, text]
        subprocess.run(cmd, check=True)
        with wave.open(f.name) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return np.asarray(resample(pcm, rate, 8000), dtype=np.int16)


async def transcribe(engine, pcm: np.ndarray, context: str) -> str:
    rec = engine.recognizer(8000, context)
    data = pcm.astype("<i2").tobytes()
    for i in range(0, len(data), 320):
        await rec.feed(data[i : i + 320])
    return (await rec.finish()).text


def pick(records: list[dict], n: int) -> list[dict]:
    """`n` answers spread over competencies and labels (deterministic)."""
    by_key: dict[tuple[str, int], list[dict]] = {}
    for r in records:
        by_key.setdefault((r["competency"], r["label"]), []).append(r)
    out: list[dict] = []
    while len(out) < n and any(by_key.values()):
        for key in sorted(by_key):
            if by_key[key] and len(out) < n:
                out.append(by_key[key].pop(0))
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=12)
    ap.add_argument("--voices", default=",".join(ESPEAK_VOICES))
    ap.add_argument(
        "--transcripts",
        type=Path,
        default=REPO / "var" / "bench" / "voice_invariance_transcripts.json",
        help="what the recognizer heard, kept so the scorer can be re-run without the ASR",
    )
    ap.add_argument(
        "--context",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="give the recognizer the question as context (speech.asr_context = true)",
    )
    ap.add_argument("--reuse", action="store_true", help="reuse --transcripts if present")
    ap.add_argument("--rate", type=int, default=165, help="espeak-ng words per minute")
    ap.add_argument(
        "--whisper-model",
        default="",
        help="a CTranslate2 Whisper model directory or name (default: the bot's configured one)",
    )
    args = ap.parse_args()
    job = load_job(REPO / "examples" / "jobs" / "backend-engineer.yaml")
    path = REPO / "tests" / "data" / "answers" / "backend-engineer.en.jsonl"
    records = pick([json.loads(x) for x in path.read_text().splitlines() if x], args.answers)
    engine = load_recognizer_engine("whisper", args.whisper_model or None)
    piper = PiperSynthesizer(None, 8000)
    voices = ["piper", *args.voices.split(",")]
    rows, wers = [], {v: [] for v in voices}
    cache: dict[str, str] = {}
    if args.reuse and args.transcripts.exists():
        cache = json.loads(args.transcripts.read_text())
    started = time.perf_counter()
    for r in records:
        text_score = score_answer(job, r["competency"], r["answer"]).score
        scores, answer_wer = {}, {}
        for voice in voices:
            key = f"{r['id']}/{voice}"
            if key not in cache:
                if voice == "piper":
                    pcm = np.frombuffer(await piper.render(r["answer"]), "<i2")
                else:
                    pcm = await asyncio.to_thread(espeak, r["answer"], voice, args.rate)
                context = r["question"] if args.context else ""
                cache[key] = await transcribe(engine, phone_band(pcm), context)
            heard = cache[key]
            answer_wer[voice] = round(word_error_rate(r["answer"], heard), 3)
            wers[voice].append(answer_wer[voice])
            scores[voice] = score_answer(job, r["competency"], heard).score
        values = list(scores.values())
        spread = max(values) - min(values)
        clean = [s for v, s in scores.items() if answer_wer[v] <= CLEAN_WER]
        rows.append(
            {
                "id": r["id"],
                "label": r["label"],
                "text_score": text_score,
                "scores": scores,
                "spread": round(spread, 2),
                "spread_pct": round(100 * spread / SCALE, 1),
                "wer": answer_wer,
                "clean_voices": len(clean),
                "clean_spread_pct": round(100 * (max(clean) - min(clean)) / SCALE, 1)
                if len(clean) >= 2
                else None,
            }
        )
    args.transcripts.parent.mkdir(parents=True, exist_ok=True)
    args.transcripts.write_text(json.dumps(cache, indent=1, ensure_ascii=False))
    spreads = np.array([x["spread_pct"] for x in rows])
    clean = np.array([x["clean_spread_pct"] for x in rows if x["clean_spread_pct"] is not None])
    # how much of the score change goes with recognition errors
    deltas = [(x["wer"][v], abs(s - x["text_score"])) for x in rows for v, s in x["scores"].items()]
    w, d = np.array(deltas).T
    print(
        json.dumps(
            {
                "n_answers": len(rows),
                "voices": voices,
                "whisper_model": args.whisper_model or "tiny.en",
                "context": args.context,
                "espeak_rate_wpm": args.rate,
                "spread_pct_mean": round(float(spreads.mean()), 2),
                "spread_pct_median": round(float(np.median(spreads)), 2),
                "spread_pct_max": round(float(spreads.max()), 2),
                "share_within_5pct": round(float((spreads <= 5.0).mean()), 3),
                "wer_by_voice": {v: round(float(np.mean(w)), 3) for v, w in wers.items()},
                "clean_wer_max": CLEAN_WER,
                "clean_answers": len(clean),
                "clean_spread_pct_mean": round(float(clean.mean()), 2) if len(clean) else None,
                "clean_spread_pct_max": round(float(clean.max()), 2) if len(clean) else None,
                "clean_share_within_5pct": round(float((clean <= 5.0).mean()), 3)
                if len(clean)
                else None,
                "corr_wer_vs_score_change": round(float(np.corrcoef(w, d)[0, 1]), 3),
                "seconds": round(time.perf_counter() - started, 1),
                "answers": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
