"""The demo's interview ends with a report (JSON + HTML) whose every competency score quotes
at least one sentence of what the candidate said — over real SIP, piper and whisper."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from scoring_data import REPO

from voicebot.config import Config
from voicebot.demo import run_demo

pytestmark = [
    pytest.mark.sip,
    pytest.mark.models,
    pytest.mark.skipif(shutil.which("kamailio") is None, reason="needs Debian's kamailio"),
]


async def test_demo_ends_with_a_report_that_quotes_the_candidate(tmp_path: Path) -> None:
    base = Config()
    cfg = replace(
        base,
        speech=replace(base.speech, cache_dir=str(REPO / "var" / "tts-cache")),
        sip=replace(base.sip, rtp_port_min=32000, rtp_port_max=32499),
    ).validate()

    demo = await run_demo(cfg, store_path=str(tmp_path / "v.db"), reports_dir=tmp_path)

    turns = "\n".join(t["text"] for t in demo.turns if t["speaker"] == "candidate")
    transcript = "\n".join(f"{t['speaker']}: {t['text']}" for t in demo.turns)
    assert demo.outcome == "completed", transcript
    json_file, html_file = (Path(f) for f in demo.report_files)
    report = json.loads(json_file.read_text())
    assert report == demo.report and report["call_id"] == demo.call_id
    assert report["overall"]["not_assessed"] == []
    for c in report["competencies"]:
        assert c["score"] is not None and 1 <= c["score"] <= 5, c
        assert c["evidence"], c
        assert all(sentence in turns for sentence in c["evidence"]), (c["evidence"], turns)
    html = html_file.read_text()
    assert "<svg" in html and "<mark>" in html and "<script" not in html
    assert report["structured"]["salary"]["amount"] == 90000
