"""The HR commands as HR runs them: import with per-line errors and exit codes, screen,
campaign create/start (simulated calls)/status/watch, tokens, webhooks list and replay."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def store_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)
    db = tmp_path / "voicebot.db"
    monkeypatch.setenv("VOICEBOT_STORE__PATH", str(db))
    return db


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="voicebot")


def test_import_reports_bad_lines_and_exits_1_but_keeps_good_rows(tmp_path: Path) -> None:
    assert run("jobs", "import", JOB_FILE).exit_code == 0
    csv = tmp_path / "c.csv"
    csv.write_text(
        "phone,name,timezone\n+12125550100,Ada,\n+1 555,Bob,\n+12125550101,Cy,Mars/Base\n"
        "+12125550102,Di,Europe/Paris\n"
    )
    result = run("candidates", "import", csv, "--job", JOB_ID)
    assert result.exit_code == 1
    assert f"{csv}: line 3: phone: not a valid number for its country" in result.output
    assert f"{csv}: line 4: timezone: 'Mars/Base' is not an IANA time zone" in result.output
    assert "2 imported (2 new, 0 updated), 2 rejected" in result.output
    listed = run("candidates", "list", "--job", JOB_ID)
    assert "+12125550100" not in listed.output and "***00" in listed.output  # numbers redacted


def test_example_candidates_import_cleanly() -> None:
    run("jobs", "import", JOB_FILE)
    result = run("candidates", "import", EXAMPLES / "candidates.csv", "--job", JOB_ID, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["imported"] == 4


def test_unknown_job_and_bad_settings_are_one_line_exit_2() -> None:
    result = run("candidates", "import", EXAMPLES / "candidates.csv", "--job", "nope")
    assert (result.exit_code, result.output.strip()) == (
        2, "voicebot: job 'nope' is not imported (voicebot jobs import FILE)"
    )  # fmt: skip
    run("jobs", "import", JOB_FILE)
    bad = run("campaign", "create", "--job", JOB_ID, "--set", "window_start=9am")
    assert (bad.exit_code, bad.output.strip()) == (
        2,
        "voicebot: --set window_start: '9am' is not HH:MM",
    )


def test_campaign_runs_to_done_with_simulated_calls(tmp_path: Path, store_in_tmp: Path) -> None:
    run("jobs", "import", JOB_FILE)
    run("candidates", "import", EXAMPLES / "candidates.csv", "--job", JOB_ID)
    assert run("webhooks", "add", "http://127.0.0.1:9/unreachable").exit_code == 0
    created = run(
        "campaign", "create", "--job", JOB_ID, "--set", "window_days=mon,tue,wed,thu,fri,sat,sun",
        "--set", "window_start=00:00", "--set", "window_end=23:59", "--set", "calls_per_second=100",
    )  # fmt: skip
    cid = re.search(r"campaign (camp_\w+): 4 candidates", created.output).group(1)  # type: ignore[union-attr]
    started = run("campaign", "start", cid, "--simulate", "completed=1")
    assert started.exit_code == 0, started.output
    assert f"campaign {cid}: done; dialled 4" in started.output
    assert f"{cid}  done" in run("campaign", "list").output
    status = json.loads(run("campaign", "status", cid, "--json").output)
    assert status["progress"]["by_outcome"] == {"completed": 4}
    assert f"campaign {cid}: done" in run("campaign", "watch", cid).output
    hooks = json.loads(run("webhooks", "list", "--json").output)
    assert {d["type"] for d in hooks["deliveries"]} == {
        "candidate.contacted", "call.completed", "interview.completed"
    }  # fmt: skip
    assert all(d["state"] == "pending" and d["attempts"] >= 1 for d in hooks["deliveries"])
    one = hooks["deliveries"][0]["event_id"]
    assert run("webhooks", "replay", one).output.strip() == "1 deliveries queued"
    assert "whsec_" not in json.dumps(hooks["endpoints"])  # secrets are not listed


def test_tokens_are_printed_once_and_stored_hashed(store_in_tmp: Path) -> None:
    token = run("tokens", "create", "--role", "system").output.strip()
    assert token.startswith("vb_")
    conn = sqlite3.connect(store_in_tmp)
    rows = conn.execute("SELECT role, token_hash FROM api_tokens").fetchall()
    conn.close()
    assert rows[0][0] == "system" and token not in rows[0][1]
    assert run("tokens", "create", "--role", "admin").exit_code == 2


def test_import_screens_against_must_haves_and_campaigns_skip_the_ineligible() -> None:
    assert run("jobs", "import", EXAMPLES / "jobs" / "backend-engineer.yaml").exit_code == 0
    imported = run("candidates", "import", EXAMPLES / "candidates.csv", "--job", "backend-engineer")
    assert "1 of the job's candidates do not meet its must-haves" in imported.output
    screened = run("screen", "--job", "backend-engineer", "--json")
    (no,) = [r for r in json.loads(screened.output) if not r["eligible"]]
    assert any("years of experience" in why for why in no["reasons"])
    created = run("campaign", "create", "--job", "backend-engineer")
    assert ": 3 candidates" in created.output


def test_the_api_refuses_to_start_on_a_store_it_cannot_use(store_in_tmp: Path) -> None:
    store_in_tmp.write_bytes(b"garbage, not a database" * 100)
    result = run("api", "--port", "1")
    assert result.exit_code == 2
    assert result.output.strip() == f"voicebot: store {store_in_tmp}: file is not a database"


def test_webhooks_test_backfill_and_remove_from_the_cli(store_in_tmp: Path) -> None:
    first = run("webhooks", "add", "http://127.0.0.1:9/a", "--events", "interview.completed")
    old_ep = first.output.split()[1]
    conn = sqlite3.connect(store_in_tmp)
    conn.execute(
        "INSERT INTO webhook_events VALUES ('msg_old', 'interview.completed', '{}', 1.0)"
    )  # an event from before the second endpoint existed
    conn.commit()
    conn.close()
    ep = run("webhooks", "add", "http://127.0.0.1:9/b").output.split()[1]
    tested = run("webhooks", "test", ep)
    assert tested.exit_code == 0 and re.match(r"test event msg_\w+ queued", tested.output)
    assert run("webhooks", "backfill", ep).output.strip() == f"1 deliveries queued for {ep}"
    assert run("webhooks", "backfill", ep).output.strip() == f"0 deliveries queued for {ep}"
    removed = run("webhooks", "remove", ep)
    assert removed.output.strip() == f"endpoint {ep} removed; 2 pending deliveries cancelled"
    assert ep not in run("webhooks", "list").output and old_ep in run("webhooks", "list").output
    unknown = run("webhooks", "test", "ep_nope")
    assert (unknown.exit_code, unknown.output.strip()) == (
        2, "voicebot: webhook endpoint 'ep_nope' does not exist"
    )  # fmt: skip
