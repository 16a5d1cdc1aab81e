"""Issue 17 part 2: the report page as a recruiter reads it: who, which role, when and how long;
each competency's level with the checklist in plain words; charts with a scale and axes; only
key phrases the candidate said; a timed transcript; the recording only with consent; Chinese
headings for a zh job. Each test reads the rendered HTML as a person would (report_html)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from report_html import read
from scoring_data import STRONG, candidate_call, interview_turns

from voicebot.interview.plan import Job
from voicebot.scoring.context import ReportContext, report_context
from voicebot.scoring.pipeline import report_page
from voicebot.scoring.report import render_html
from voicebot.scoring.score import score_interview
from voicebot.store import Store

ZH_ANSWERS = {
    "salary": "我希望月薪两万五。",
    "notice": "我需要一个月交接。",
    "production_fix": (
        "去年双十一，订单接口报错率突然升到百分之五。我先对比了上线记录和错误日志，发现是新版本的"
        "依赖有问题。我考虑过直接扩容，但那样治标不治本，所以决定回滚，错误率降到千分之一以下。"
        "之后我加了依赖升级的测试，再也没出现过。"
    ),
    "teamwork": "上个季度我和测试同事对接口有分歧，我先听了她的顾虑，然后我们一起定了验收标准。",
}
CONTEXT = ReportContext(
    candidate_name="Ann Lee",
    job_title="Backend Engineer",
    started_at=1_700_000_000.0,
    duration_s=754.0,
    timezone="Asia/Shanghai",
)


@pytest.fixture(scope="module")
def report(backend_job: Job) -> dict[str, Any]:
    turns = interview_turns(backend_job, STRONG)
    return score_interview(backend_job, turns, call_id="call-1", consent=True).to_dict()


@pytest.fixture(scope="module")
def zh_report(zh_job: Job) -> dict[str, Any]:
    return score_interview(zh_job, interview_turns(zh_job, ZH_ANSWERS), call_id="c-zh").to_dict()


def test_header_names_candidate_role_date_and_duration(report: dict[str, Any]) -> None:
    page = read(render_html(report, CONTEXT))

    assert page.field("candidate") == "Ann Lee"
    assert page.field("role") == "Backend Engineer"  # the title, not the id backend-engineer
    date = page.field("date")
    assert "2023-11-14T22:13:20Z" in date  # ISO, UTC
    assert "15 Nov 2023, 06:13:20" in date and "Asia/Shanghai" in date  # the candidate's clock
    assert page.field("duration").startswith("12:34")
    assert page.headings("h1") == ["Interview report: Backend Engineer"]


def test_each_answer_shows_its_level_and_checklist_in_plain_words(
    report: dict[str, Any], backend_job: Job
) -> None:
    page = read(render_html(report, CONTEXT))
    text = page.visible

    for machine in ("clause(s)", "level-5 features shown", "key ideas", "→", "missing: options"):
        assert machine not in text
    fix = backend_job.question("production_fix")
    assert fix is not None
    asked = " ".join(fix.text.split())
    assert asked in page.headings("h3")  # the question as asked, not its id
    assert "production_fix" not in text and "python_years" not in text
    rated = next(a for a in report["answers"] if a["competency"] == "problem_solving")
    assert f"level {rated['level']}: specific situation" in text
    assert "Described a specific situation: yes" in text and "Own actions: yes" in text
    for f in rated["checklist"]["level5_features"]:
        if f["quote"] and f["id"] not in rated["checklist"]["missing"]:
            assert f"Showed: {f['text']} “{f['quote']}”" in text
        else:
            assert f"Missing: {f['text']}" in text
    # the competency table says which question and which rule set each level
    table = " ".join(e.text for e in page.all("table", class_="competencies"))
    assert asked in " ".join(table.split()) and "specific situation" in table


def test_competency_chart_radar_from_three_on_1_to_5_else_bars(report: dict[str, Any]) -> None:
    assessed = [c for c in report["competencies"] if c["score"] is not None]
    assert len(assessed) == 2
    page = read(render_html(report))
    assert page.all("svg", class_="bars") and not page.all("svg", class_="radar")
    ticks = [e.text for e in page.all("text", class_="tick")]
    assert ticks == ["1", "2", "3", "4", "5"]  # the scale starts at 1: there is no level 0

    three = copy.deepcopy(report)
    extra = dict(assessed[0], id="communication", name="Communication", score=2.0)
    three["competencies"] = [*assessed, extra]
    page = read(render_html(three))
    assert len(page.all("svg", class_="radar")) == 1
    assert not page.all("svg", class_="bars")
    axes = [" ".join(e.text.split()) for e in page.all("text", class_="axis")]
    assert axes == [f"{c['name']} {c['score']:.1f}" for c in three["competencies"]]  # no phantom
    assert [e.text for e in page.all("text", class_="scale")] == ["1", "2", "3", "4", "5"]


def test_delivery_curves_have_axes_ticks_and_units(report: dict[str, Any]) -> None:
    html = render_html(report)
    page = read(html)
    curves = page.all("svg", class_="curve")
    assert {c.attrs["data-curve"] for c in curves} == {"words_per_minute", "latency_s"}
    pace = next(c for c in curves if c.attrs["data-curve"] == "words_per_minute")
    assert pace.text.strip().startswith("Pace (words per minute)")
    assert "time in the call (mm:ss)" in pace.text
    svg = re.search(r'<svg[^>]*data-curve="words_per_minute".*?</svg>', html, re.S)
    assert svg is not None
    assert 'class="x-axis"' in svg.group(0) and 'class="y-axis"' in svg.group(0)
    y_ticks = re.findall(r'class="y-tick">([^<]+)<', svg.group(0))
    assert y_ticks[0] == "0" and len(y_ticks) == 3
    x_ticks = re.findall(r'class="x-tick">([^<]+)<', svg.group(0))
    answers = [t for t in report["transcript"] if t["kind"] == "answer"]
    assert len(x_ticks) == len(answers) and all(re.fullmatch(r"\d\d:\d\d", t) for t in x_ticks)


def test_key_phrases_shown_are_only_those_the_candidate_said(report: dict[str, Any]) -> None:
    said = " ".join(t["text"] for t in report["transcript"] if t["speaker"] == "candidate")
    rigged = copy.deepcopy(report)
    rigged["keywords"] = [
        {"text": "root cause", "count": 1, "key_phrase": True},
        {"text": "postmortem", "count": 3, "key_phrase": True},  # matched by a synonym, say
    ]
    assert "root cause" in said and "postmortem" not in said.lower()
    page = read(render_html(rigged))
    (cloud,) = page.all("p", class_="cloud")
    assert cloud.text.split() == ["root", "cause"]


def test_transcript_is_timed_with_evidence_marked(report: dict[str, Any]) -> None:
    page = read(render_html(report))
    times = [e.text for e in page.all("time") if not e.attrs.get("datetime")]
    assert times == [f"{int(t['start']) // 60:02d}:{int(t['start']) % 60:02d}"
                     for t in report["transcript"]]  # fmt: skip
    assert times[0] == "00:00" and times[-1] != "00:00"
    marked = {e.text for e in page.all("mark")}
    evidence = {e for t in report["transcript"] for e in t["evidence"]}
    assert evidence and evidence <= marked


def test_recording_player_only_with_consent_and_a_recording(report: dict[str, Any]) -> None:
    with_url = ReportContext(recording_url="recording")
    (audio,) = read(render_html(report, with_url)).all("audio")
    assert "controls" in audio.attrs and audio.attrs["src"] == "recording"
    assert not read(render_html(report)).all("audio")  # no recording
    refused = copy.deepcopy(report)
    refused["compliance"]["consent"] = False
    assert not read(render_html(refused, with_url)).all("audio")


async def test_store_gives_the_header_and_the_consented_recording(
    backend_job: Job, tmp_path
) -> None:
    from voicebot.scoring.pipeline import score_call

    store = await Store.open(tmp_path / "v.db")
    try:
        await candidate_call(store, backend_job, STRONG, "call-r")
        await candidate_call(
            store, backend_job, STRONG, "call-n", phone="+15557654321", consent_recording=False
        )
        recordings = tmp_path / "recordings"
        recordings.mkdir()
        for call_id in ("call-r", "call-n"):
            await score_call(store, call_id, backend_job)
            (recordings / f"{call_id}.wav").write_bytes(b"RIFF")
        ctx = await report_context(store, "call-r", recordings_dir=recordings)
        assert (ctx.candidate_name, ctx.job_title) == ("Ann Lee", "Backend Engineer")
        assert ctx.started_at == 1000.0 and ctx.duration_s == 754.0  # answered to hang-up
        assert ctx.timezone == "Asia/Shanghai" and ctx.recording_url == "recording"
        assert (ctx.version, ctx.versions) == (1, 1)
        html = await report_page(store, "call-r", recordings_dir=recordings)
        assert html is not None
        page = read(html)
        assert page.field("candidate") == "Ann Lee" and page.all("audio")
        # refused recording, or no file: no player
        refused = await report_context(store, "call-n", recordings_dir=recordings)
        assert refused.recording_url is None and refused.candidate_name == "Ann Lee"
        (recordings / "call-r.wav").unlink()
        gone = await report_context(store, "call-r", recordings_dir=recordings)
        assert gone.recording_url is None
        assert await report_page(store, "nope") is None
    finally:
        await store.close()


def test_zh_job_report_has_chinese_headings_and_cjk_fonts(zh_report: dict[str, Any]) -> None:
    html = render_html(zh_report, CONTEXT)
    page = read(html)

    assert '<html lang="zh-Hans">' in html
    headings = page.headings("h2") + page.headings("h1")
    assert "通话记录" in headings and "能力项" in headings
    assert not [
        h for h in headings if re.search(r"[A-Za-z]{3,}", h.replace(CONTEXT.job_title or "", ""))
    ]
    assert "描述了具体情境：是" in page.visible
    assert page.field("date").startswith("2023年11月15日")
    assert "Noto Sans CJK SC" in page.style and "WenQuanYi Micro Hei" in page.style
    english = read(render_html(zh_report, CONTEXT, lang="en"))
    assert "Transcript" in english.headings()


def test_print_css_keeps_tables_and_ratings_whole(report: dict[str, Any]) -> None:
    style = read(render_html(report)).style
    printing = style[style.index("@media print") :]
    rule = re.search(r"([^{}]+)\{[^}]*break-inside:\s*avoid", printing)
    assert rule is not None
    selectors = {s.strip() for s in rule.group(1).split(",")}
    assert {"table", "tr", ".rating", ".turn"} <= selectors
