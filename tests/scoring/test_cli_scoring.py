"""`voicebot score` and `voicebot report` as an operator runs them."""

import asyncio
import json
from pathlib import Path

from scoring_data import JOBS, REPO, STRONG, stored_call

from tests.cli_helpers import clean_environment, run  # noqa: F401  (autouse fixture)
from voicebot.interview.plan import load_job
from voicebot.store import Store

ANSWERS = REPO / "tests" / "data" / "answers" / "backend-engineer.en.jsonl"


def test_score_prints_one_json_object_per_answer() -> None:
    result = run("score", "--job", JOBS / "backend-engineer.yaml", "--answers", ANSWERS)

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    ids = [json.loads(line)["id"] for line in ANSWERS.read_text().splitlines()]
    assert [x["id"] for x in lines] == ids
    for x in lines:
        assert set(x) == {"id", "score", "level", "evidence", "explanation"}
        assert 1 <= x["score"] <= 5 and x["evidence"]
        assert x["level"] == round(x["score"]) and f"→ {x['level']}" in x["explanation"]


def test_score_details_add_the_checklist_behind_each_level() -> None:
    result = run(
        "score", "--job", JOBS / "backend-engineer.yaml", "--answers", ANSWERS, "--details"
    )
    assert result.exit_code == 0, result.output
    for x in map(json.loads, result.stdout.splitlines()):
        checklist = x["checklist"]
        assert isinstance(checklist["specific_situation"], bool)
        assert {"id", "text", "quote"} <= set(checklist["level5_features"][0])


def test_bad_lines_are_named_and_good_lines_still_scored(tmp_path: Path) -> None:
    answers = tmp_path / "a.jsonl"
    answers.write_text(
        '{"id": "a", "competency": "ownership", "answer": "I owned the outage and fixed it."}\n'
        "not json\n"
        '{"id": "b", "competency": "leadership", "answer": "I led."}\n'
        '{"id": "c", "answer": "no competency"}\n'
        '{"id": "d", "competency": "collaboration", "answer": "We agreed.", "lang": "en"}\n'
    )
    result = run("score", "--job", JOBS / "backend-engineer.yaml", "--answers", answers)

    assert result.exit_code == 2
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a", "d"]
    assert f"{answers}:2: not valid JSON" in result.stderr
    assert f"{answers}:3: competency 'leadership' is not in job backend-engineer" in result.stderr
    assert f"{answers}:4: missing competency" in result.stderr


def test_score_with_a_broken_job_names_the_line(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        (JOBS / "backend-engineer.yaml").read_text().replace("weight: 0.2", "weight: 0.1")
    )
    result = run("score", "--job", job, "--answers", ANSWERS)
    assert result.exit_code == 2
    assert "weights sum to 0.5 + 0.3 + 0.1 = 0.9" in result.stderr
    assert f"{job}:" in result.stderr


def test_report_scores_a_stored_call_and_writes_html_and_json(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    config = tmp_path / "voicebot.toml"
    config.write_text(f'[store]\npath = "{db}"\n[compliance]\nmode = "pipl"\n')
    job = load_job(JOBS / "backend-engineer.yaml")

    async def setup() -> None:
        store = await Store.open(db)
        try:
            await stored_call(store, job, STRONG, "call-9")
        finally:
            await store.close()

    asyncio.run(setup())
    no_job = run("report", "call-9", "-c", config)
    assert no_job.exit_code == 2 and "pass --job FILE" in no_job.stderr

    html, out = tmp_path / "r.html", tmp_path / "r.json"
    result = run(
        "report",
        "call-9",
        "--job",
        JOBS / "backend-engineer.yaml",
        "--html",
        html,
        "--json",
        out,
        "-c",
        config,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["call_id"] == "call-9" and data["compliance"]["mode"] == "pipl"
    assert "<svg" in html.read_text()
    # stored now: no --job needed the second time, same report
    again = run("report", "call-9", "--json", "-", "-c", config)
    assert again.exit_code == 0 and json.loads(again.stdout) == data

    missing = run("report", "nope", "-c", config)
    assert missing.exit_code == 2 and "no call 'nope'" in missing.stderr
