"""The validation answers are well formed, and the scorer agrees with their rubric labels at
least as well as the issue's targets (spearman >= 0.75, within one level >= 85 %)."""

import json

import numpy as np
from scoring_data import JOBS, REPO

from voicebot.interview.plan import load_job
from voicebot.scoring.answers import score_answers

DATA = REPO / "tests" / "data" / "answers"
SETS = {
    "backend-engineer.en.jsonl": "backend-engineer.yaml",
    "backend-engineer.zh.jsonl": "backend-engineer-zh.yaml",
}


def load() -> list[tuple[dict, dict]]:
    out = []
    for name, job_file in SETS.items():
        job = load_job(JOBS / job_file)
        records = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]
        for r in records:
            assert set(r) == {"id", "competency", "question", "answer", "lang", "label", "split"}
            assert job.competency(r["competency"]) is not None, r["id"]
            assert r["label"] in (1, 2, 3, 4, 5) and r["split"] in ("dev", "test")
        out += list(zip(records, score_answers(job, records), strict=True))
    return out


def ranks(x: list[float]) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    return np.array([(arr < v).sum() + ((arr == v).sum() - 1) / 2 for v in arr])


def test_the_set_covers_competencies_levels_and_languages() -> None:
    rows = load()
    assert len(rows) >= 60
    assert len({r["id"] for r, _ in rows}) == len(rows)
    assert {r["label"] for r, _ in rows} == {1, 2, 3, 4, 5}
    assert {r["lang"] for r, _ in rows} == {"en", "zh"}
    assert len({r["competency"] for r, _ in rows}) >= 3


def test_scores_agree_with_the_rubric_labels() -> None:
    rows = load()
    labels = [r["label"] for r, _ in rows]
    scores = [s["score"] for _, s in rows]
    spearman = float(np.corrcoef(ranks(scores), ranks(labels))[0, 1])
    within = float(np.mean([abs(s["level"] - r["label"]) <= 1 for r, s in rows]))
    assert spearman >= 0.75, spearman
    assert within >= 0.85, within
