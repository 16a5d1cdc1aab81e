"""`interview.completed` carries what an ATS files without asking again: times, knock-outs,
human review, the structured answers with their questions, levels and the links."""

from __future__ import annotations

from typing import Any

from voicebot.campaigns.payloads import completed_payload

BASE = {"candidate_id": "cand_1", "external_id": "ATS-7", "job_id": "be", "campaign_id": "cmp_1",
        "attempt_id": "att_1"}  # fmt: skip
REPORT: dict[str, Any] = {
    "locale": "en",
    "overall": {"score": 2.4, "max": 5, "pass_threshold": 3.0, "recommendation": "no",
                "explanation": "below the pass threshold"},
    "competencies": [{"id": "ps", "name": "Problem solving", "score": 2.4, "level": 2, "max": 5,
                      "evidence": ["I restarted it"], "explanation": "q1: 2.4 (...)",
                      "weight": 1.0, "questions": ["q1"]}],
    "knockouts": [{"question_id": "notice", "rule": "notice <= P1M", "value": "P3M"}],
    "suggested_level": {"id": "mid", "name": "Mid", "min_years": 3},
    "salary_band": {"level": "mid", "min": 80000, "max": 110000, "currency": "USD",
                    "period": "year"},
    "structured": {"salary": {"type": "money", "amount": 95000, "currency": "USD",
                              "period": "year", "text": "about 95k a year"},
                   "notice": {"type": "duration", "iso": "P3M", "text": "three months"}},
    "compliance": {"mode": "eu", "human_review_required": True, "consent": True},
}  # fmt: skip


def test_the_payload_carries_times_flags_review_and_answers() -> None:
    call = {"started_at": 1_780_000_000.0, "answered_at": 1_780_000_012.0,
            "ended_at": 1_780_000_612.5}  # fmt: skip
    share = {"url": "https://hr.example.com/share/t/report.html", "expires_at": "2026-12-18Z"}
    got = completed_payload(
        BASE, "call-1", REPORT, call=call, report_url="https://hr.example.com/", share=share,
        questions={"salary": "What salary do you expect?", "notice": "Your notice period?"},
    )  # fmt: skip
    assert {k: got[k] for k in BASE} == BASE
    assert got["started_at"] == "2026-05-28T20:26:52Z"  # from the answer, not the first ring
    assert got["completed_at"] == "2026-05-28T20:36:52Z" and got["duration_s"] == 600.5
    assert got["knocked_out"] is True and got["knockouts"] == REPORT["knockouts"]
    assert got["human_review"] == {"required": True, "status": "pending"}
    assert got["level"]["id"] == "mid" and got["salary_band"]["max"] == 110000
    salary, notice = got["answers"]
    assert salary["question_text"] == "What salary do you expect?" and salary["amount"] == 95000
    assert notice["iso"] == "P3M" and notice["text"] == "three months"
    assert got["competencies"][0]["level"] == 2 and "weight" not in got["competencies"][0]
    assert got["report_url"] == "https://hr.example.com/interviews/call-1/report"
    assert got["report_html_url"].endswith("/interviews/call-1/report.html")
    assert got["share_url"] == share["url"] and got["compliance_mode"] == "eu"


def test_a_bare_report_still_makes_a_payload_without_guesses() -> None:
    got = completed_payload(BASE, "call-2", {"overall": {"score": 4.0}})
    assert got["score"] == 4.0 and got["knocked_out"] is False and got["answers"] == []
    assert got["started_at"] is None and got["duration_s"] is None
    assert got["report_url"] is None and got["share_url"] is None
    assert got["human_review"]["status"] == "not_required"
