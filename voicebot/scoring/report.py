"""The HR report page: one self-contained HTML file (jinja2, en or zh through Babel catalogs)
rendered from the report JSON and the store's facts about the call (`ReportContext`): who,
which role, when and how long; each competency's level with the rubric checklist in plain
words and the question asked; charts on the 1-5 scale with axes; only key phrases the
candidate said; the timed transcript with the evidence marked; the recording when consented.
No JavaScript, nothing fetched; print keeps tables and ratings whole."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from jinja2 import Environment, PackageLoader, select_autoescape

from voicebot.scoring import charts
from voicebot.scoring.context import ReportContext
from voicebot.scoring.i18n import language, translations

radar = charts.radar  # kept importable from here: the page's charts


def N_(message: str) -> str:
    """Marks a message for the catalog that the template translates later (`_(value)`)."""
    return message


RECOMMENDATION = {
    "strong_yes": N_("strong yes"),
    "yes": N_("yes"),
    "no_decision": N_("no decision"),
    "no": N_("no"),
    "definitely_not": N_("definitely not"),
}
FLAG_STATUS = {"flagged": N_("flagged"), "unclear": N_("unclear")}
PERIOD = {"year": N_("year"), "month": N_("month"), "week": N_("week"), "day": N_("day"),
          "hour": N_("hour")}  # fmt: skip
UNIT = {"words per minute": N_("words per minute"),
        "characters per minute": N_("characters per minute")}  # fmt: skip
CURVES = {  # delivery key -> (title, unit)
    "words_per_minute": (N_("Pace"), None),
    "latency_s": (N_("Response latency"), N_("seconds")),
    "energy_std_db": (N_("Loudness variation"), N_("dB")),
    "pitch_std_semitones": (N_("Pitch variation"), N_("semitones")),
}
RULES = (  # the rubric's rules in words (rubric.rate), translated where the page shows them
    N_("no answer"),
    N_("counter-evidence without insight"),
    N_("a real story told only as 'we': no own part visible"),
    N_("a general approach, not one specific situation"),
    N_("claims, slogans or keywords, no situation"),
    N_("mostly about something else; part of it is evidence"),
    N_("about something else than the competency asked"),
    N_("a story only loosely about the competency asked"),
    N_("a story loosely about the competency that shows none of its evidence"),
    N_("weak behaviour: escalated, or someone else's fix"),
    N_("specific situation, own actions, every level-5 feature"),
    N_("specific situation, own actions, two or more level-5 features"),
    N_("specific situation with own actions"),
)
REASONS = (  # the scorer's own knock-out reasons; a job's reasons are in the job's language
    (re.compile(r"amount not understood"), N_("amount not understood")),
    (re.compile(r"not understood"), N_("not understood")),
    (re.compile(r"answer in (?P<said>\S+), band in (?P<band>\S+)"),
     N_("answer in %(said)s, band in %(band)s")),
    (re.compile(r"(?P<years>[\d.]+) years of experience, the role asks for (?P<asks>[\d.]+)"),
     N_("%(years)s years of experience, the role asks for %(asks)s")),
    (re.compile(r"résumé does not list (?P<skills>.+)"), N_("résumé does not list %(skills)s")),
    (re.compile(r"education is not one of (?P<levels>.+)"),
     N_("education is not one of %(levels)s")),
)  # fmt: skip
BABEL_LOCALE = {"en": "en_GB", "zh": "zh_Hans_CN"}


@functools.cache
def _env(lang: str) -> Environment:
    env = Environment(
        loader=PackageLoader("voicebot.scoring", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["mmss"] = mmss
    env.filters["tr"] = translations(lang).gettext  # a value's label, no %-formatting
    return env


def mmss(seconds: float | None) -> str:
    """Time from the call's start as mm:ss, as a clock reads it (9.6 s is 00:09); minutes go
    past 59 rather than add hours."""
    if seconds is None:
        return "–"
    total = max(0, int(seconds))
    return f"{total // 60:02d}:{total % 60:02d}"


def highlight(text: str, evidence: Sequence[str]) -> list[tuple[str, bool]]:
    """`text` as (segment, is_evidence) pieces, so the template can mark quotes safely."""
    spans = []
    for e in evidence:
        start = text.find(e)
        if start >= 0:
            spans.append((start, start + len(e)))
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def said_keywords(
    keywords: Sequence[Mapping[str, Any]], transcript: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The key phrases found word for word in what the candidate said, with how often; a
    phrase the scorer matched only through another form is not shown as said."""
    said = "\n".join(t["text"] for t in transcript if t.get("speaker") == "candidate")
    out = []
    for k in keywords:
        phrase = str(k.get("text", "")).strip()
        if not phrase:
            continue
        edge = r"\b" if re.match(r"\w", phrase) and phrase.isascii() else ""
        n = len(re.findall(edge + re.escape(phrase) + edge, said, re.IGNORECASE))
        if n:
            out.append({"text": phrase, "count": n})
    top = max((k["count"] for k in out), default=1)
    return [{**k, "size": round(0.9 + 1.3 * k["count"] / top, 2)} for k in out]


def rule_of(answer: Mapping[str, Any]) -> str:
    """The rule that set an answer's level, in words (from the rating, else its explanation)."""
    rule = answer.get("rule") or (answer.get("checklist") or {}).get("rule")
    if rule:
        return str(rule)
    m = re.search(r"→ \d \((.+)\)\s*$", str(answer.get("explanation", "")))
    return m.group(1).removesuffix("; LLM rater") if m else ""


def checklist(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rubric checklist of one rated answer as plain items: what it asks, met or not, and
    the candidate's words that meet it."""
    k = answer.get("checklist") or {}
    own = list(k.get("own_actions") or [])
    missing = set(k.get("missing") or [])
    items: list[dict[str, Any]] = [
        {"what": "situation", "ok": bool(k.get("specific_situation"))},
        {"what": "own_actions", "ok": bool(own), "quotes": own[:2]},
        {"what": "on_topic", "ok": bool(k.get("about_competency"))},
    ]
    for f in k.get("level5_features") or []:
        shown = bool(f.get("quote")) and f.get("id") not in missing
        items.append(
            {"what": "feature", "ok": shown, "text": f.get("text", ""),
             "quotes": [f["quote"]] if shown else []}
        )  # fmt: skip
    if k.get("counter_evidence"):
        items.append({"what": "counter", "ok": False, "warn": True,
                      "quotes": list(k["counter_evidence"])[:2]})  # fmt: skip
    if k.get("weak_behaviour"):
        items.append({"what": "weak", "ok": False, "warn": True,
                      "quotes": list(k["weak_behaviour"])[:2]})  # fmt: skip
    return items


def _question_texts(report: Mapping[str, Any]) -> dict[str, str]:
    """Question id -> the question as asked (job text from the ratings, else the bot's turn)."""
    texts: dict[str, str] = {}
    for t in report.get("transcript", []):
        qid = t.get("question_id")
        if qid and t.get("speaker") == "bot" and qid not in texts:
            texts[qid] = " ".join(str(t["text"]).split())
    for a in report.get("answers", []):
        if a.get("question_text") and a.get("question_text") != a.get("question_id"):
            texts[a["question_id"]] = a["question_text"]
    return texts


def _reason(text: str | None, gettext: Any) -> str:
    for pattern, message in REASONS:
        m = pattern.fullmatch(text or "")
        if m:
            return str(gettext(message) % m.groupdict())
    return text or ""


def _when(ctx: ReportContext, lang: str) -> dict[str, str] | None:
    if ctx.started_at is None:
        return None
    at = dt.datetime.fromtimestamp(ctx.started_at, dt.UTC)
    try:
        zone = ZoneInfo(ctx.timezone) if ctx.timezone else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return {
        "iso": at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "local": format_datetime(at, "medium", tzinfo=zone, locale=BABEL_LOCALE[lang]),
        "zone": ctx.timezone or "UTC",
    }


def render_html(
    report: Mapping[str, Any], context: ReportContext | None = None, lang: str | None = None
) -> str:
    """The report page for HR, from the report JSON (`Report.to_dict()` or the stored copy),
    in the job's language unless `lang` is given."""
    ctx = context or ReportContext()
    lang = lang or language(report.get("locale"))
    gettext = translations(lang).gettext
    questions = _question_texts(report)
    competencies = list(report.get("competencies", []))
    answers = [
        {**a, "question": questions.get(a["question_id"], a["question_id"]),
         "rule": rule_of(a), "items": checklist(a)}
        for a in report.get("answers", [])
    ]  # fmt: skip
    by_competency = {
        c["id"]: [a for a in answers if a.get("competency") == c["id"]] for c in competencies
    }
    points = (report.get("delivery") or {}).get("curve", [])
    curves = []
    for key, (title, unit) in CURVES.items():
        c = charts.curve(points, key)
        if c is not None:
            curves.append({**c, "key": key, "title": title, "unit": unit})
    transcript = [
        {**t, "segments": highlight(t["text"], t.get("evidence", []))}
        for t in report.get("transcript", [])
    ]
    consent = (report.get("compliance") or {}).get("consent")
    knockouts = [
        {**f, "question": questions.get(f.get("question_id") or "", f.get("question_id")),
         "reason_text": _reason(f.get("reason") or f.get("rule"), gettext)}
        for f in report.get("knockouts", [])
    ]  # fmt: skip
    return (
        _env(lang)
        .get_template("report.html.j2")
        .render(
            r=report,
            lang=lang,
            ctx=ctx,
            when=_when(ctx, lang),
            recording_url=ctx.recording_url if consent is not False else None,
            radar=charts.radar(competencies),
            bars=charts.bars(competencies),
            competencies=[{**c, "answers": by_competency[c["id"]]} for c in competencies],
            answers=answers,
            questions=questions,
            knockouts=knockouts,
            curves=curves,
            cloud=said_keywords(report.get("keywords", []), report.get("transcript", [])),
            transcript=transcript,
            recommendation=RECOMMENDATION,
            flag_status=FLAG_STATUS,
            period=PERIOD,
            unit=UNIT,
        )
    )
