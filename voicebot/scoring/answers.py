"""Free-standing answers (`voicebot score --job FILE --answers FILE.jsonl`): one JSON object a
line in (`id`, `competency`, `question`, `answer`, optional `lang`), one a line out (`id`,
`score` 1-5, `level`, `evidence`, `explanation`, `checklist`). A bad line is reported with its
line number; good lines still go through."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from voicebot.interview.plan import Job
from voicebot.scoring.score import score_answer


class AnswerLineError(ValueError):
    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why


def score_record(job: Job, record: Mapping[str, Any]) -> dict[str, Any]:
    s = score_answer(job, str(record["competency"]), str(record["answer"]), record.get("lang"))
    return {
        "id": record.get("id"),
        "competency": s.competency,
        "score": s.score,
        "level": s.level,
        "evidence": s.evidence,
        "explanation": s.explanation,
        "checklist": s.checklist,
    }


def score_answers(job: Job, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [score_record(job, r) for r in records]


def score_lines(job: Job, lines: Iterable[str]) -> Iterator[dict[str, Any] | AnswerLineError]:
    """Each non-blank line's result, or the error that names the line."""
    known = {c.id for c in job.competencies}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            yield AnswerLineError(n, f"not valid JSON: {e.msg}")
            continue
        if not isinstance(record, dict):
            yield AnswerLineError(n, "expected a JSON object")
            continue
        missing = [k for k in ("id", "competency", "answer") if k not in record]
        if missing:
            yield AnswerLineError(n, f"missing {', '.join(missing)}")
            continue
        if not isinstance(record["answer"], str):
            yield AnswerLineError(n, "answer: expected text")
            continue
        if record["competency"] not in known:
            yield AnswerLineError(
                n,
                f"competency {record['competency']!r} is not in job {job.id} "
                f"(known: {', '.join(sorted(known))})",
            )
            continue
        yield score_record(job, record)
