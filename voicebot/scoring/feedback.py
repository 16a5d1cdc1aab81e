"""Feedback the candidate receives, in their locale: strengths and areas to develop, never raw
scores unless the operator turns them on, and how to ask for a human review where the law
gives that right."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voicebot.interview.plan import Job

STRENGTH_AT = 3.5
DEVELOP_BELOW = 3.0

TEXT = {
    "en": {
        "thanks": "Thank you for speaking with us about the {title} role.",
        "strength": "You showed strong {name}: {description}",
        "develop": "An area to develop is {name}: {description}",
        "none": "We did not hear enough to give detailed feedback.",
        "score": "{name}: {score} of 5",
        "review_eu": "A person reviews every assessment before any decision is made.",
        "review": "You may ask for a person to review this assessment.",
    },
    "zh": {
        "thanks": "感谢您参加{title}职位的面试。",
        "strength": "您在{name}方面表现突出：{description}",
        "develop": "建议加强{name}：{description}",
        "none": "本次面试内容不足以给出详细反馈。",
        "score": "{name}：{score} / 5",
        "review_eu": "在做出任何决定之前，每份评估都会经过人工审核。",
        "review": "您可以申请由工作人员人工复核本次评估。",
    },
}


def candidate_feedback(
    job: Job, competencies: Sequence[dict[str, Any]], compliance: str, show_scores: bool
) -> dict[str, Any]:
    lang = "zh" if job.locale.startswith("zh") else "en"
    t = TEXT[lang]
    by_id = {c.id: c for c in job.competencies}

    def fmt(key: str, c: dict[str, Any]) -> str:
        name, desc = c["name"], by_id[c["id"]].description
        if lang == "en":  # "strong problem solving: finds the real cause ..."
            name, desc = name.lower(), desc[:1].lower() + desc[1:]
        return t[key].format(name=name, description=desc)

    assessed = [c for c in competencies if c["score"] is not None]
    strengths = [
        fmt("strength", c)
        for c in sorted(assessed, key=lambda c: -c["score"])
        if c["score"] >= STRENGTH_AT
    ]
    develop = [
        fmt("develop", c)
        for c in sorted(assessed, key=lambda c: c["score"])
        if c["score"] < DEVELOP_BELOW
    ]
    lines = [t["thanks"].format(title=job.title), *strengths, *develop]
    if not strengths and not develop:
        lines.append(t["none"])
    scores = (
        [t["score"].format(name=c["name"], score=c["score"]) for c in assessed]
        if show_scores
        else []
    )
    if compliance == "eu":
        lines.append(t["review_eu"])
    elif compliance == "pipl":
        lines.append(t["review"])
    sep = "" if lang == "zh" else " "
    return {
        "locale": lang,
        "strengths": strengths,
        "areas_to_develop": develop,
        "scores": scores,
        "text": sep.join([*lines, *scores]),
    }
