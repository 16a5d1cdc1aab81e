"""What the CLI tests share: `run` invokes `voicebot …` in-process, and `clean_environment`
(autouse where imported) drops the developer's VOICEBOT_* overrides so a test reads only the
config it writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from voicebot.cli import app


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="voicebot")
