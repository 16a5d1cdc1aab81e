"""Jobs and interview plans: a job's questions, loaded from YAML and validated, and the ordered
plan one call works through.

A job file names its fields; unknown top-level keys are left for later features, but every
question entry is checked, and each error names the file and the field
(`backend-engineer.yaml: questions[2].text: required`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

QUESTION_KINDS = ("open", "salary", "notice", "years", "yes_no", "behavioral")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class JobError(ValueError):
    """A job definition a person must fix; the message names the file and the field."""

    def __init__(self, source: str, field: str, why: str) -> None:
        super().__init__(f"{source}: {field}: {why}" if field else f"{source}: {why}")
        self.source = source
        self.field = field
        self.why = why


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    kind: str = "open"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    title: str
    company: str
    locale: str
    questions: list[Question]
    summary: str = ""


@dataclass(frozen=True, slots=True)
class InterviewPlan:
    """What one call asks, in order."""

    job: Job
    questions: list[Question] = field(default_factory=list)

    @classmethod
    def from_job(cls, job: Job) -> InterviewPlan:
        return cls(job=job, questions=list(job.questions))


def load_job(path: str | Path) -> Job:
    """Read and validate one job file."""
    p = Path(path)
    source = str(p)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobError(source, "", "file does not exist") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        why = f"not valid YAML{at}" + (f": {problem}" if problem else "")
        raise JobError(source, "", why) from None
    return parse_job(data, source=source, default_id=p.stem)


def parse_job(data: Any, source: str, default_id: str = "") -> Job:
    """Validate a job already parsed from YAML or JSON; `source` names it in errors."""
    if not isinstance(data, Mapping):
        raise JobError(source, "", "expected a mapping of job fields at the top level")
    job_id = _text(data, "id", source, "id", required=not default_id) or default_id
    if not _ID.match(job_id):
        raise JobError(source, "id", f"{job_id!r} must be letters, digits, _ - or .")
    locale = _text(data, "locale", source, "locale", required=False) or "en"
    if not _LOCALE.match(locale):
        raise JobError(source, "locale", f"{locale!r} is not a locale such as 'en' or 'zh'")
    return Job(
        id=job_id,
        title=_text(data, "title", source, "title"),
        company=_text(data, "company", source, "company"),
        locale=locale,
        questions=_questions(data.get("questions"), source),
        summary=_text(data, "summary", source, "summary", required=False),
    )


def _questions(items: Any, source: str) -> list[Question]:
    if items is None:
        raise JobError(source, "questions", "required")
    if not isinstance(items, list) or not items:
        raise JobError(source, "questions", "expected a non-empty list of questions")
    known = [f.name for f in fields(Question)]
    questions: list[Question] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"questions[{i}]"
        if not isinstance(item, Mapping):
            raise JobError(source, where, "expected a mapping with id and text")
        unknown = sorted(str(k) for k in item if k not in known)
        if unknown:
            raise JobError(
                source, f"{where}.{unknown[0]}", f"unknown key; known keys: {', '.join(known)}"
            )
        qid = _text(item, "id", source, f"{where}.id")
        if not _ID.match(qid):
            raise JobError(source, f"{where}.id", f"{qid!r} must be letters, digits, _ - or .")
        if qid in seen:
            raise JobError(source, f"{where}.id", f"duplicate question id {qid!r}")
        seen.add(qid)
        kind = _text(item, "kind", source, f"{where}.kind", required=False) or "open"
        if kind not in QUESTION_KINDS:
            raise JobError(
                source, f"{where}.kind", f"{kind!r} is not one of {', '.join(QUESTION_KINDS)}"
            )
        text = _text(item, "text", source, f"{where}.text")
        questions.append(Question(id=qid, text=text, kind=kind))
    return questions


def _text(data: Mapping[str, Any], key: str, source: str, where: str, required: bool = True) -> str:
    """A string field with its whitespace folded (YAML block scalars read as one line)."""
    value = data.get(key)
    if value is None:
        if required:
            raise JobError(source, where, "required")
        return ""
    if not isinstance(value, str):
        raise JobError(source, where, f"expected text, got {value!r}")
    text = " ".join(value.split())
    if required and not text:
        raise JobError(source, where, "must not be empty")
    return text
