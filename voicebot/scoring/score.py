"""Scores an interview: per answer from its features, per competency (1-5) with the sentences
that earned it, overall (weighted), the recommendation on the five-level scale HR systems use,
the suggested level and salary band, typed structured answers and knock-out flags.

Pure and deterministic: the same job and turns always give the same report. Each answer's
level comes from the rating rules (`rubric.py`), with the checklist that set it. Delivery
(pace, fillers, latency) and prosody are reported but never move a competency score; prosody
is computed at all only when the job opts in and the compliance mode allows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicebot.interview.plan import (
    Competency,
    Job,
    Knockout,
    Level,
    Question,
    Resume,
    meets_education,
)
from voicebot.scoring import features as ft
from voicebot.scoring import rubric
from voicebot.scoring.feedback import candidate_feedback
from voicebot.scoring.values import PERIOD_FACTOR, parse_value
from voicebot.values import yearly as yearly_amount

RECOMMENDATIONS = ("strong_yes", "yes", "no_decision", "no", "definitely_not")
COMPLIANCE_MODES = ("none", "eu", "pipl", "us")
MAX_SCORE = 5
EVIDENCE_PER_COMPETENCY = 3
REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class AnswerScore:
    """One answer rated on one competency by the rules in `rubric.py`."""

    competency: str
    score: float  # 1.0-5.0
    level: int
    evidence: list[str]
    explanation: str  # which rule set the level, and the checklist behind it
    checklist: dict[str, Any]


class Rater(Protocol):
    """Another rater of the same checklist (`llm.LlmRater`); None from it = rate built-in."""

    def rate(self, text: str, competency: Competency, lang: str) -> dict[str, Any] | None: ...


def score_answer(
    job: Job,
    competency_id: str,
    text: str,
    lang: str | None = None,
    rater: Rater | None = None,
) -> AnswerScore:
    """One free-standing answer against one competency of the job."""
    competency = job.competency(competency_id)
    if competency is None:
        known = ", ".join(c.id for c in job.competencies) or "none"
        raise KeyError(f"{competency_id!r} is not a competency of job {job.id} (known: {known})")
    lang = lang or job.locale
    other = rater.rate(text, competency, lang) if rater is not None and text.strip() else None
    if other is not None:
        quotes = [f["quote"] for f in other["level5_features"] if f["quote"]]
        evidence = list(dict.fromkeys(quotes + other["own_actions"]))[:EVIDENCE_PER_COMPETENCY]
        explanation = f"{other['explanation']} → {other['level']} ({other['rule']}; LLM rater)"
        checklist = {**other, "rater": "llm"}
        return AnswerScore(
            competency_id, float(other["level"]), other["level"], evidence, explanation, checklist
        )
    r = rubric.rate(text, competency, lang)
    return AnswerScore(competency_id, r.score, r.level, r.evidence, r.explanation, r.checklist)


# -- the interview -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """The fields of a stored turn the scorer reads (a `TurnRecord` or a mapping fits)."""

    speaker: str
    kind: str
    text: str
    started_at: float = 0.0
    ended_at: float = 0.0
    question_id: str | None = None

    @classmethod
    def of(cls, t: Any) -> Turn:
        get = t.get if isinstance(t, Mapping) else lambda k, d=None: getattr(t, k, d)
        return cls(
            speaker=str(get("speaker")),
            kind=str(get("kind", "")),
            text=str(get("text", "")),
            started_at=float(get("started_at", 0.0) or 0.0),
            ended_at=float(get("ended_at", 0.0) or 0.0),
            question_id=get("question_id"),
        )


@dataclass
class Report:
    """The scored interview; `to_dict()` is the documented JSON (see README)."""

    call_id: str | None
    job_id: str
    candidate_id: str | None
    locale: str
    overall: dict[str, Any]
    competencies: list[dict[str, Any]]
    knockouts: list[dict[str, Any]]
    suggested_level: dict[str, Any] | None
    salary_band: dict[str, Any] | None
    structured: dict[str, Any]
    transcript: list[dict[str, Any]]
    delivery: dict[str, Any]
    keywords: list[dict[str, Any]]
    feedback: dict[str, Any]
    compliance: dict[str, Any]
    version: int = REPORT_VERSION
    answers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "call_id": self.call_id,
            "job_id": self.job_id,
            "candidate_id": self.candidate_id,
            "locale": self.locale,
            "overall": self.overall,
            "competencies": self.competencies,
            "knockouts": self.knockouts,
            "suggested_level": self.suggested_level,
            "salary_band": self.salary_band,
            "structured": self.structured,
            "answers": self.answers,
            "delivery": self.delivery,
            "keywords": self.keywords,
            "feedback": self.feedback,
            "compliance": self.compliance,
            "transcript": self.transcript,
        }


def score_interview(
    job: Job,
    turns: Iterable[Any],
    *,
    call_id: str | None = None,
    candidate_id: str | None = None,
    resume: Resume | None = None,
    compliance: str = "none",
    consent: bool | None = None,
    prosody: Mapping[int, Mapping[str, float]] | None = None,
    feedback_scores: bool = False,
    rater: Rater | None = None,
) -> Report:
    """Score one interview from its turns (in order). `prosody` maps a turn's index in `turns`
    to its prosody features; used only if the job opts in and the mode is not "eu"."""
    if compliance not in COMPLIANCE_MODES:
        raise ValueError(f"compliance mode {compliance!r} is not one of {COMPLIANCE_MODES}")
    turns = [Turn.of(t) for t in turns]
    answers, answer_turns = _answers(job, turns)
    chinese = job.locale.startswith("zh")

    structured = {
        q.id: parse_value(q.expects, " ".join(answers[q.id]), q.choices, locale=job.locale)
        for q in job.all_questions
        if q.expects and q.id in answers
    }
    scored = {
        (q.id, cid): score_answer(job, cid, " ".join(answers[q.id]), job.locale, rater)
        for q in job.all_questions
        if q.id in answers
        for cid in q.competencies
    }
    competencies = [_competency(c, scored, compliance) for c in job.competencies]
    assessed = [c for c in competencies if c["score"] is not None]
    weight = sum(c["weight"] for c in assessed)
    overall = round(sum(c["score"] * c["weight"] for c in assessed) / weight, 2) if weight else None
    years = _years(job, structured, resume)
    level = _suggest_level(job, years, overall)
    flags = _knockouts(job, structured, level, years, resume)
    recommendation, why = _recommend(job, overall, flags)
    use_prosody = job.prosody and compliance != "eu" and bool(prosody)
    return Report(
        call_id=call_id,
        job_id=job.id,
        candidate_id=candidate_id,
        locale=job.locale,
        overall={
            "score": overall,
            "max": MAX_SCORE,
            "pass_threshold": job.pass_threshold,
            "recommendation": recommendation,
            "explanation": why,
            "assessed": [c["id"] for c in assessed],
            "not_assessed": [c["id"] for c in competencies if c["score"] is None],
        },
        competencies=competencies,
        knockouts=flags,
        suggested_level=_level_dict(level),
        salary_band=_band_dict(level),
        structured=structured,
        answers=[
            {
                "question_id": qid,
                "question_text": _question_text(job, qid),
                "competency": cid,
                "competency_name": _competency_name(job, cid),
                "score": s.score,
                "level": s.level,
                "evidence": s.evidence,
                "explanation": s.explanation,
                "checklist": s.checklist,
            }
            for (qid, cid), s in scored.items()
        ],
        transcript=_transcript(turns, scored),
        delivery=_delivery(turns, answer_turns, chinese, prosody if use_prosody else None),
        keywords=_keywords(job, answers, chinese),
        feedback=candidate_feedback(job, competencies, compliance, feedback_scores),
        compliance={
            "mode": compliance,
            "human_review_required": compliance == "eu" or bool(flags),
            "prosody_used": use_prosody,
            "explanations": True,
            "ai_disclosure": "spoken first" if compliance == "eu" else "spoken",
            "consent": consent,
            "consent_logged": consent is not None,
            "candidate_may_request_review": compliance in ("pipl", "eu"),
        },
    )


def _question_text(job: Job, qid: str) -> str:
    q = job.question(qid)
    return " ".join(q.text.split()) if q else qid


def _competency_name(job: Job, cid: str) -> str:
    c = job.competency(cid)
    return c.name if c else cid


def _answers(job: Job, turns: Sequence[Turn]) -> tuple[dict[str, list[str]], list[int]]:
    answers: dict[str, list[str]] = {}
    indexes = []
    for i, t in enumerate(turns):
        if t.speaker == "candidate" and t.kind == "answer" and t.question_id and t.text.strip():
            if job.question(t.question_id) is not None:
                answers.setdefault(t.question_id, []).append(t.text.strip())
                indexes.append(i)
    return answers, indexes


def _competency(
    c: Competency, scored: Mapping[tuple[str, str], AnswerScore], compliance: str
) -> dict[str, Any]:
    mine = [(qid, s) for (qid, cid), s in scored.items() if cid == c.id]
    base: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "weight": round(c.weight, 4),
        "max": MAX_SCORE,
    }
    if not mine:
        return {
            **base,
            "score": None,
            "level": None,
            "evidence": [],
            "questions": [],
            "explanation": "not assessed: no question on this competency was answered",
        }
    score = round(sum(s.score for _, s in mine) / len(mine), 1)
    evidence: list[str] = []
    for _, s in mine:
        evidence += [e for e in s.evidence if e not in evidence]
    explanation = " | ".join(f"{qid}: {s.score:.1f} ({s.explanation})" for qid, s in mine)
    return {
        **base,
        "score": score,
        "level": int(min(5, max(1, round(score + 1e-9)))),
        "evidence": evidence[: EVIDENCE_PER_COMPETENCY + 1],
        "questions": [qid for qid, _ in mine],
        "explanation": explanation,
    }


def _years(job: Job, structured: Mapping[str, Any], resume: Resume | None) -> float | None:
    for q in job.all_questions:
        value = structured.get(q.id)
        if q.expects == "years" and value and value.get("years") is not None:
            return float(value["years"])
    return resume.years_experience if resume else None


def _suggest_level(job: Job, years: float | None, overall: float | None) -> Level | None:
    fitting = [
        lv
        for lv in job.levels
        if (years is None or years >= lv.min_years)
        and (lv.min_score is None or (overall is not None and overall >= lv.min_score))
    ]
    if years is None:
        fitting = fitting[:1]
    return fitting[-1] if fitting else (job.levels[0] if job.levels else None)


def _level_dict(level: Level | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {"id": level.id, "name": level.name, "min_years": level.min_years}


def _band_dict(level: Level | None) -> dict[str, Any] | None:
    if level is None or level.salary is None:
        return None
    s = level.salary
    return {
        "level": level.id,
        "min": s.min,
        "max": s.max,
        "currency": s.currency,
        "period": s.period,
    }


def _knockouts(
    job: Job,
    structured: Mapping[str, Any],
    level: Level | None,
    years: float | None,
    resume: Resume | None,
) -> list[dict[str, Any]]:
    flags = []
    for q in job.all_questions:
        if q.knockout is None or q.id not in structured:
            continue
        flag = _check(q, q.knockout, structured[q.id], level, job)
        if flag is not None:
            flags.append(flag)
    mh = job.must_haves
    if (
        mh.min_years_experience is not None
        and years is not None
        and years < mh.min_years_experience
    ):
        flags.append(
            {
                "question_id": None,
                "rule": f"must_haves.min_years_experience >= {mh.min_years_experience:g}",
                "value": years,
                "status": "flagged",
                "reason": f"{years:g} years of experience, the role asks for "
                f"{mh.min_years_experience:g}",
            }
        )
    if resume is not None:
        listed = {s.lower() for s in resume.skills}
        missing = [s for s in mh.skills if s.lower() not in listed]
        if missing:
            flags.append(
                {
                    "question_id": None,
                    "rule": "must_haves.skills",
                    "value": missing,
                    "status": "flagged",
                    "reason": f"résumé does not list {', '.join(missing)}",
                }
            )
        if mh.education and not meets_education(resume.education, mh.education):
            flags.append(
                {
                    "question_id": None,
                    "rule": "must_haves.education",
                    "value": resume.education,
                    "status": "flagged",
                    "reason": f"education is not one of {', '.join(mh.education)}",
                }
            )
    return flags


def _check(
    q: Question, rule: Knockout, value: Mapping[str, Any], level: Level | None, job: Job
) -> dict[str, Any] | None:
    """A knock-out flag for HR, or None. An answer the parser did not understand is flagged
    as unclear: a person should listen to it, not the rule silently pass it."""
    base = {"question_id": q.id, "rule": f"{rule.op} {rule.value}", "reason": rule.reason}
    kind = value["type"]
    if kind == "money":
        if value.get("amount") is None:
            return {**base, "value": None, "status": "unclear", "reason": "amount not understood"}
        band = (level.salary if level and level.salary else None) or next(
            (lv.salary for lv in reversed(job.levels) if lv.salary), None
        )
        period = value.get("period") or (band.period if band else "year")
        yearly = yearly_amount(value, period)  # monthly × months paid (14薪), else by period
        currency = value.get("currency")
        if band is not None and currency and currency != band.currency:
            return {
                **base,
                "value": value["amount"],
                "status": "unclear",
                "reason": f"answer in {currency}, band in {band.currency}",
            }
        if rule.value == "band_max":
            limit = band.max * PERIOD_FACTOR[band.period] if band else None
        else:
            limit = float(rule.value)
        if limit is None:
            return None
        hit = yearly > limit if rule.op == "above" else yearly < limit
        measured = round(yearly, 2)
    elif kind == "duration":
        if value.get("days") is None:
            return {**base, "value": None, "status": "unclear", "reason": "not understood"}
        measured, limit = value["days"], float(rule.value)
        hit = measured > limit if rule.op == "above" else measured < limit
    elif kind == "years":
        if value.get("years") is None:
            return {**base, "value": None, "status": "unclear", "reason": "not understood"}
        measured, limit = value["years"], float(rule.value)
        hit = measured > limit if rule.op == "above" else measured < limit
    else:
        if value.get("value") is None:
            return {**base, "value": None, "status": "unclear", "reason": "not understood"}
        measured, hit = value["value"], value["value"] == rule.value
    return {**base, "value": measured, "status": "flagged"} if hit else None


def _recommend(job: Job, overall: float | None, flags: list[dict[str, Any]]) -> tuple[str, str]:
    t = job.pass_threshold
    if overall is None:
        return "no_decision", "no competency was assessed"
    if overall >= t + 1.0:
        rec = "strong_yes"
    elif overall >= t:
        rec = "yes"
    elif overall >= t - 0.5:
        rec = "no_decision"
    elif overall >= t - 1.5:
        rec = "no"
    else:
        rec = "definitely_not"
    why = f"overall {overall:.2f} against the pass threshold {t:g}"
    if flags and RECOMMENDATIONS.index(rec) < RECOMMENDATIONS.index("no_decision"):
        rec = "no_decision"
        why += f"; {len(flags)} knock-out flag(s) need a person's decision"
    return rec, why


def _transcript(
    turns: Sequence[Turn], scored: Mapping[tuple[str, str], AnswerScore]
) -> list[dict[str, Any]]:
    evidence: dict[str, set[str]] = {}
    for (qid, _), s in scored.items():
        evidence.setdefault(qid, set()).update(s.evidence)
    t0 = turns[0].started_at if turns else 0.0
    return [
        {
            "speaker": t.speaker,
            "kind": t.kind,
            "question_id": t.question_id,
            "text": t.text,
            "start": round(t.started_at - t0, 2),
            "end": round(t.ended_at - t0, 2),
            "evidence": sorted(
                (e for e in evidence.get(t.question_id or "", ()) if e in t.text),
                key=t.text.index,
            )
            if t.speaker == "candidate"
            else [],
        }
        for t in turns
    ]


def _delivery(
    turns: Sequence[Turn],
    answer_turns: list[int],
    chinese: bool,
    prosody: Mapping[int, Mapping[str, float]] | None,
) -> dict[str, Any]:
    t0 = turns[0].started_at if turns else 0.0
    curve = []
    for i in answer_turns:
        t = turns[i]
        asked = next((p for p in reversed(turns[:i]) if p.speaker == "bot"), None)
        d = ft.delivery(
            t.text, t.started_at, t.ended_at, asked.ended_at if asked else None, chinese
        )
        point: dict[str, Any] = {
            "question_id": t.question_id,
            "t": round(t.started_at - t0, 2),
            "words_per_minute": d.words_per_minute,
            "fillers": d.fillers,
            "latency_s": d.latency_s,
        }
        if prosody is not None and i in prosody:
            point.update({k: round(float(v), 3) for k, v in prosody[i].items()})
        curve.append(point)
    rates = [p["words_per_minute"] for p in curve if p["words_per_minute"] is not None]
    lat = [p["latency_s"] for p in curve if p["latency_s"] is not None]
    return {
        "curve": curve,
        "words_per_minute": round(sum(rates) / len(rates), 1) if rates else None,
        "fillers": sum(p["fillers"] for p in curve),
        "latency_s": round(sum(lat) / len(lat), 2) if lat else None,
        "prosody": prosody is not None,
        "unit": "characters per minute" if chinese else "words per minute",
    }


def _keywords(job: Job, answers: Mapping[str, list[str]], chinese: bool) -> list[dict[str, Any]]:
    texts = [" ".join(v) for v in answers.values()]
    phrases = [kp for c in job.competencies for kp in c.key_phrases]
    counts = ft.keyword_counts(texts, phrases, chinese)
    return [
        {"text": k, "count": n, "key_phrase": True}
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
