"""The HR report page: self-contained, no JavaScript, charts as inline SVG, evidence marked in
the transcript, flags shown, candidate text escaped, printable."""

import re
import xml.etree.ElementTree as ET

from scoring_data import STRONG, interview_turns

from voicebot.interview.plan import Job
from voicebot.scoring.charts import bars
from voicebot.scoring.report import highlight, radar, render_html
from voicebot.scoring.score import score_interview


def page(job: Job, answers: dict[str, str], **kw: object) -> tuple[dict, str]:
    report = score_interview(job, interview_turns(job, answers), call_id="call-1", **kw).to_dict()
    return report, render_html(report)


def test_page_has_charts_and_no_javascript(backend_job: Job) -> None:
    report, html = page(backend_job, STRONG)

    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert "http://" not in html and "https://" not in html  # nothing fetched
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) >= 2  # the competency chart + at least the pace curve
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    # two assessed competencies: bars, not a radar with a phantom third axis
    assert 'class="bars"' in html and 'class="radar"' not in html
    assert "@media print" in html
    for c in report["competencies"]:
        assert c["name"] in html


def test_evidence_is_highlighted_and_flags_shown(backend_job: Job) -> None:
    answers = dict(STRONG, salary="I want 150,000 dollars a year.")
    report, html = page(backend_job, answers)

    marked = re.findall(r"<mark>(.*?)</mark>", html, re.S)
    evidence = {e for c in report["competencies"] for e in c["evidence"]}
    assert evidence and evidence <= set(marked)
    assert "expects more than the band allows" in html
    assert "no decision" in html  # the recommendation a flag leads to


def test_candidate_text_is_escaped(backend_job: Job) -> None:
    _, html = page(backend_job, dict(STRONG, notice="<b>two</b> weeks & <script>x</script>"))
    assert "<b>two</b>" not in html and "&lt;b&gt;two&lt;/b&gt;" in html
    assert "<script>" not in html


def test_eu_page_says_human_review(backend_job: Job) -> None:
    _, html = page(backend_job, STRONG, compliance="eu")
    assert "Human review required" in html and "no prosody or emotion inference" in html


def test_radar_is_on_the_1_to_5_scale_and_only_from_three_competencies() -> None:
    r = radar(
        [{"name": "A", "score": 5.0}, {"name": "B", "score": 1.0}, {"name": "C", "score": 3.0}]
    )
    assert r is not None
    first = r["points"].split()[0]
    assert first == "160.0,50.0"  # score 5 at the full radius, straight up
    assert r["points"].split()[1] == "160.0,160.0"  # level 1, the lowest, at the centre
    assert [ring["level"] for ring in r["rings"]] == [1, 2, 3, 4, 5]
    two = [{"name": "A", "score": 4.0}, {"name": "B", "score": 2.0}]
    assert radar(two) is None
    b = bars(two)
    assert b is not None and [t["level"] for t in b["ticks"]] == [1, 2, 3, 4, 5]
    assert b["rows"][0]["w"] == 3 * b["rows"][1]["w"]  # 4 is three steps from 1, 2 is one


def test_highlight_splits_text() -> None:
    assert highlight("One. Two. Three.", ["Two."]) == [
        ("One. ", False),
        ("Two.", True),
        (" Three.", False),
    ]


def test_each_answers_checklist_is_shown_with_its_quotes(backend_job: Job) -> None:
    report, html = page(backend_job, STRONG)

    assert "How each answer was rated" in html
    for a in report["answers"]:
        assert f"level {a['level']}" in html
        assert a["explanation"].split(" → ")[0] not in html  # machine text stays in the JSON
        for f in a["checklist"]["level5_features"]:
            assert f["text"] in html.replace("&#39;", "'")
    shown = [f for a in report["answers"] for f in a["checklist"]["level5_features"] if f["quote"]]
    assert shown and all(f"“{f['quote']}”" in html for f in shown)
    assert html.count('class="met"') >= len(shown)
