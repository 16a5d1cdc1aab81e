"""Issue 13, item 6: `voicebot call` rings `campaigns.ring_timeout_s`, not a fixed 45 s.
The ARI peer's originate records the timeout Asterisk is asked to ring for."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.peers.ari_server import AriServer
from tests.telephony.conftest import started
from voicebot.cli import app

JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"


async def test_voicebot_call_rings_the_configured_ring_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)

    class NoModels:  # the call is never answered: no speech models needed
        @classmethod
        async def create(cls, *args: Any, **kwargs: Any) -> NoModels:
            return cls()

        async def warm_prompts(self, job: Any) -> None:
            """`voicebot call` loads the job's voice before dialling; none here."""

    monkeypatch.setattr("voicebot.interview.runner.Interviewer", NoModels)
    async with started(AriServer(password="secret")) as asterisk:
        asterisk.scripts["PJSIP/7001@trunk"] = "no_answer"
        toml = tmp_path / "v.toml"
        toml.write_text(
            f'bridge = "ari"\n[ari]\nurl = "{asterisk.url}"\npassword = "secret"\n'
            f'[store]\npath = "{tmp_path / "v.db"}"\n[campaigns]\nring_timeout_s = 7\n'
        )
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["call", "7001", "--job", str(JOB), "-c", str(toml)]
        )
    originates = [q for op, _, q in asterisk.requests if op == "originate"]
    assert [q["timeout"] for q in originates] == ["7"], result.output
    assert result.exit_code != 0 and "not answered" in result.output
