"""Validation benchmark: voicebot's answer scores against the rubric labels in
tests/data/answers/, and the time to score a 15-minute interview. Prints one JSON object.

Runs the scorer the way `voicebot score --job FILE --answers FILE.jsonl` does (same code
path), so the numbers are those of the CLI.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicebot.interview.plan import load_job  # noqa: E402
from voicebot.scoring.answers import score_answers  # noqa: E402
from voicebot.scoring.score import score_interview  # noqa: E402

SETS = (
    ("backend-engineer.en.jsonl", "backend-engineer.yaml"),
    ("backend-engineer.zh.jsonl", "backend-engineer-zh.yaml"),
)


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho with average ranks for ties."""

    def ranks(x: list[float]) -> np.ndarray:
        arr = np.asarray(x, dtype=float)
        order = arr.argsort(kind="mergesort")
        r = np.empty(len(arr))
        r[order] = np.arange(len(arr), dtype=float)
        for v in np.unique(arr):
            idx = arr == v
            r[idx] = r[idx].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(rows: list[tuple[dict, dict]]) -> dict[str, float | int]:
    labels = [r["label"] for r, _ in rows]
    scores = [s["score"] for _, s in rows]
    levels = [s["level"] for _, s in rows]
    return {
        "n": len(rows),
        "spearman": round(spearman(scores, labels), 3),
        "within_one_level": round(
            float(np.mean([abs(a - b) <= 1 for a, b in zip(levels, labels, strict=True)])), 3
        ),
        "exact_level": round(
            float(np.mean([a == b for a, b in zip(levels, labels, strict=True)])), 3
        ),
    }


def fifteen_minute_interview_s(job_path: Path, rows: list[dict]) -> float:
    """Score a synthetic 15-minute interview (structured + 12 long behavioural answers)."""
    job = load_job(job_path)
    turns, t = [], 0.0
    answers = [r["answer"] for r in rows if r["lang"] == "en"]
    text = " ".join(answers)
    behavioural = [q for q in job.all_questions if q.competencies]
    structured = {
        "salary": "About 95,000 dollars a year.",
        "notice": "One month.",
        "python_years": "Seven years.",
        "work_permit": "Yes.",
    }
    for qid, said in structured.items():
        turns += [
            {
                "speaker": "bot",
                "kind": "ask",
                "text": "?",
                "question_id": qid,
                "started_at": t,
                "ended_at": t + 4,
            },
            {
                "speaker": "candidate",
                "kind": "answer",
                "text": said,
                "question_id": qid,
                "started_at": t + 5,
                "ended_at": t + 8,
            },
        ]
        t += 10
    words = text.split()
    for i in range(12):  # ~150 words a minute for 14 minutes in 12 answers
        q = behavioural[i % len(behavioural)]
        chunk = " ".join(words[(i * 175) % len(words) :][:175])
        turns += [
            {
                "speaker": "bot",
                "kind": "ask",
                "text": q.text,
                "question_id": q.id,
                "started_at": t,
                "ended_at": t + 6,
            },
            {
                "speaker": "candidate",
                "kind": "answer",
                "text": chunk,
                "question_id": q.id,
                "started_at": t + 7,
                "ended_at": t + 70,
            },
        ]
        t += 72
    start = time.perf_counter()
    runs = 5
    for _ in range(runs):
        score_interview(job, turns)
    return (time.perf_counter() - start) / runs


def main() -> None:
    data = REPO / "tests" / "data" / "answers"
    rows: list[tuple[dict, dict]] = []
    for answers, job in SETS:
        records = [json.loads(line) for line in (data / answers).read_text().splitlines() if line]
        results = score_answers(load_job(REPO / "examples" / "jobs" / job), records)
        rows += list(zip(records, results, strict=True))
    out: dict = agreement(rows)
    out["by_split"] = {
        s: agreement([r for r in rows if r[0]["split"] == s]) for s in ("dev", "test")
    }
    out["by_lang"] = {lg: agreement([r for r in rows if r[0]["lang"] == lg]) for lg in ("en", "zh")}
    all_records = [r for r, _ in rows]
    out["score_15min_interview_s"] = round(
        fifteen_minute_interview_s(
            REPO / "examples" / "jobs" / "backend-engineer.yaml", all_records
        ),
        4,
    )
    if "--details" in sys.argv:
        out["details"] = [
            {"id": r["id"], "label": r["label"], "score": s["score"], "split": r["split"]}
            for r, s in rows
        ]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
