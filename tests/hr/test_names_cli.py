"""HR reads names, not ids: `candidates list`, `screen` and `campaign status` show each
candidate's name (decrypted from the store) and the campaign its job's title."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = ["Dana Whitfield", "Luis Ortega", "Priya Raman", "Jonas Becker"]


@pytest.fixture(autouse=True)
def store_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("VOICEBOT_STORE__PATH", str(tmp_path / "voicebot.db"))


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="voicebot")


def test_lists_screen_and_campaign_status_name_the_candidates() -> None:
    run("jobs", "import", JOB_FILE)
    run("candidates", "import", EXAMPLES / "candidates.csv", "--job", JOB_ID)
    listed = run("candidates", "list", "--job", JOB_ID).stdout
    assert sorted(re.findall("|".join(NAMES), listed)) == sorted(NAMES)
    assert "+1 415" not in listed and "4155550132" not in listed  # numbers stay redacted
    screened = run("screen", "--job", JOB_ID).stdout.splitlines()[:-1]  # the last: a count
    assert sorted(re.search("|".join(NAMES), line)[0] for line in screened) == sorted(NAMES)  # type: ignore[index]
    created = run("campaign", "create", "--job", JOB_ID, "--name", "spring").stdout
    cid = re.search(r"campaign (camp_\w+)", created).group(1)  # type: ignore[union-attr]
    status = run("campaign", "status", cid).stdout
    assert status.startswith(f"campaign {cid} (spring, Backend Engineer): draft")
    targets = [line for line in status.splitlines() if "tries 0" in line]
    assert sorted(re.search("|".join(NAMES), line)[0] for line in targets) == sorted(NAMES)  # type: ignore[index]
    assert f"{cid}  draft    Backend Engineer" in run("campaign", "list").stdout
