"""A PBX that cannot be reached: `campaign start` says so in one line naming the address (not a
bridge traceback), the campaign is not left `running`, and the API answers 503 with the
reason and leaves the campaign paused. Loopback ports with nothing listening; waits of 1 s."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot import serve
from voicebot.campaigns.service import CallingUnavailable, open_pbx
from voicebot.cli import app
from voicebot.config import load_config
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_jobs
from voicebot.store import Store
from voicebot.store import hr as db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def quick_bridge_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge waits 15 s for the PBX in production; 1 s here."""
    monkeypatch.setattr(serve, "open_bridge", functools.partial(serve.open_bridge, wait_s=1.0))
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)


def config(tmp_path: Path, bridge: str) -> Path:
    port = closed_port()
    sections = {
        "sip": f'[sip]\nlisten_host = "127.0.0.1"\nlisten_port = {free_udp_port()}\n'
        f'registrar = "127.0.0.1:{port}"\n',
        "ari": f'[ari]\nurl = "http://127.0.0.1:{port}"\n',
        "agi": f"[agi]\nami_port = {port}\n",
    }
    path = tmp_path / f"{bridge}.toml"
    path.write_text(
        f'bridge = "{bridge}"\n[store]\npath = "{tmp_path / "v.db"}"\n' + sections[bridge]
    )
    return path


@pytest.mark.parametrize("bridge", ["sip", "ari", "agi"])
async def test_an_unreachable_pbx_is_one_error_naming_its_address(
    tmp_path: Path, bridge: str
) -> None:
    cfg = load_config(config(tmp_path, bridge))
    with pytest.raises(CallingUnavailable) as caught:
        async with open_pbx(cfg, wait_s=1.0):
            pass
    message = str(caught.value)
    assert "\n" not in message and message.startswith("cannot reach the PBX")
    port = {"sip": cfg.sip.registrar.rpartition(":")[2], "ari": cfg.ari.url.rpartition(":")[2],
            "agi": str(cfg.agi.ami_port)}[bridge]  # fmt: skip
    assert f"127.0.0.1:{port}" in message and f"[{bridge}]" in message


def test_a_sip_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        path = tmp_path / "busy.toml"
        path.write_text(f'[sip]\nlisten_host = "127.0.0.1"\nlisten_port = {port}\n'
                        'registrar = "127.0.0.1:9"\n')  # fmt: skip

        async def main() -> None:
            async with open_pbx(load_config(path), wait_s=1.0):
                pass

        with pytest.raises(CallingUnavailable, match=f"127.0.0.1:{port}"):
            asyncio.run(main())


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="voicebot")


def test_campaign_start_without_a_pbx_is_one_line_and_the_campaign_not_running(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path, "sip")
    assert run("jobs", "import", JOB_FILE, "-c", cfg).exit_code == 0
    run("candidates", "import", EXAMPLES / "candidates.csv", "--job", JOB_ID, "-c", cfg)
    created = run("campaign", "create", "--job", JOB_ID, "-c", cfg).output
    cid = re.search(r"campaign (camp_\w+)", created).group(1)  # type: ignore[union-attr]
    started = run("campaign", "start", cid, "-c", cfg)
    assert started.exit_code == 2
    (line,) = [ln for ln in started.stderr.splitlines() if ln.startswith("voicebot:")]
    assert "Traceback" not in started.output + started.stderr
    registrar = load_config(cfg).sip.registrar
    assert line.startswith("voicebot: cannot reach the PBX at SIP registrar " + registrar)
    assert f"{cid}  draft" in run("campaign", "list", "-c", cfg).output


async def test_api_start_answers_503_naming_the_pbx_and_leaves_the_campaign_paused(
    tmp_path: Path,
) -> None:
    cfg = load_config(config(tmp_path, "ari"))

    async def launch(campaign_id: str) -> None:  # what `voicebot api` does on a first start
        async with open_pbx(cfg, wait_s=1.0):
            pass

    async with await Store.open(cfg.store.path) as store:
        await import_jobs(store, JOB_FILE)
        token = await db.create_token(store, "hr", "hr")
        app_ = create_app(store, cfg, launcher=launch)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_), base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:  # fmt: skip
            cid = (await client.post("/campaigns", json={"job_id": JOB_ID})).json()["id"]
            resp = await client.post(f"/campaigns/{cid}/start")
            assert resp.status_code == 503
            assert resp.json()["detail"].startswith("cannot reach the PBX: ARI at " + cfg.ari.url)
            assert resp.headers["retry-after"]
            assert (await client.get(f"/campaigns/{cid}")).json()["state"] == "paused"
            spec = (await client.get("/openapi.json")).json()
            assert "503" in spec["paths"]["/campaigns/{campaign_id}/start"]["post"]["responses"]
