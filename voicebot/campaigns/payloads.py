"""The `interview.completed` webhook payload: what an ATS needs to act without a second request.

An ATS files the result on its own applicant (`external_id`), routes knock-outs and human
review into its own workflow, stores the structured answers (salary, notice, experience) in its
own fields, and links a recruiter to the report with a link that opens without a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_COMPETENCY = ("id", "name", "score", "level", "max", "evidence", "explanation")


def iso(t: float | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as the API's other timestamps."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def completed_payload(
    base: Mapping[str, Any],
    call_id: str,
    report: Mapping[str, Any],
    *,
    call: Mapping[str, Any] | None = None,
    report_url: str = "",
    share: Mapping[str, Any] | None = None,
    questions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`base` holds the candidate's, job's, campaign's and attempt's ids; `call` is the stored
    call row (its times), `report_url` the API's public base, `share` a signed link to the
    report page (`{"url", "expires_at"}`) for a recruiter who has no token, `questions` the
    job's question texts by id."""
    overall = report.get("overall") or {}
    compliance = report.get("compliance") or {}
    knockouts = list(report.get("knockouts") or [])
    started = (call or {}).get("answered_at") or (call or {}).get("started_at")
    ended = (call or {}).get("ended_at")
    review_required = bool(compliance.get("human_review_required"))
    root = report_url.rstrip("/")
    competencies = report.get("competencies") or ()
    return {
        **base,
        "interview_id": call_id,
        "call_id": call_id,
        "language": report.get("locale"),
        "started_at": iso(started),
        "completed_at": iso(ended),
        "duration_s": round(ended - started, 1) if started and ended else None,
        "recommendation": overall.get("recommendation"),
        "score": overall.get("score"),
        "max": overall.get("max"),
        "pass_threshold": overall.get("pass_threshold"),
        "explanation": overall.get("explanation"),
        "level": report.get("suggested_level"),
        "salary_band": report.get("salary_band"),
        "knocked_out": bool(knockouts),
        "knockouts": knockouts,
        "human_review": {
            "required": review_required,
            "status": "pending" if review_required else "not_required",
        },
        "answers": _answers(report, questions or {}),
        "competencies": [{k: c.get(k) for k in _COMPETENCY} for c in competencies],
        "compliance_mode": compliance.get("mode"),
        "consent": compliance.get("consent"),
        "report_url": f"{root}/interviews/{call_id}/report" if root else None,
        "report_html_url": f"{root}/interviews/{call_id}/report.html" if root else None,
        "share_url": (share or {}).get("url"),
        "share_expires_at": (share or {}).get("expires_at"),
    }


def _answers(report: Mapping[str, Any], texts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The structured answers, one per question, with the question's words and what was heard."""
    out = []
    for qid, value in (report.get("structured") or {}).items():
        item = {"question_id": qid, "question_text": texts.get(qid)}
        item.update(value if isinstance(value, Mapping) else {"value": value})
        out.append(item)
    return out
