"""`voicebot doctor --bridge agi` and `voicebot asterisk snippet` as an operator runs them,
against the AMI peer (which answers as Asterisk 22 does; tests/asterisk/ runs them against
the real one)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.peers.ami_peer import AmiPeer
from voicebot.cli import app


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)


class PeerThread:
    """The AMI peer on its own event loop, so the CLI can run its own `asyncio.run`."""

    def __init__(self, peer: AmiPeer) -> None:
        self.peer = peer
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> AmiPeer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.peer.start(), self.loop).result(5)
        return self.peer

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.peer.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def ami() -> Iterator[AmiPeer]:
    with PeerThread(AmiPeer(secret="ami-secret")) as peer:
        yield peer


def pbx_verdicts(result: Result) -> dict[str, tuple[str, str]]:
    """name -> (verdict, detail) of the PBX lines (the rest is the plain doctor's)."""
    out = {}
    for line in result.stdout.splitlines():
        name, detail = line[5:27].strip(), line[27:].strip()
        if name.startswith(("ami ", "ari ", "dialplan")):
            out[name] = (line[:4].strip(), detail)
    return out


def doctor(tmp_path: Path, port: int, *extra: str, secret: str = "ami-secret") -> Result:
    config = tmp_path / "v.toml"
    config.write_text(
        f'bridge = "agi"\n[agi]\nami_port = {port}\nami_password = "{secret}"\n'
        + "".join(f"{line}\n" for line in extra),
        encoding="utf-8",
    )
    return CliRunner().invoke(app, ["doctor", "--config", str(config)], prog_name="voicebot")


def test_doctor_logs_in_to_ami_and_finds_the_audiosocket_context(
    tmp_path: Path, ami: AmiPeer
) -> None:
    ami.contexts["from-candidates"] = ["AGI"]
    verdicts = pbx_verdicts(doctor(tmp_path, ami.port))
    assert verdicts["ami login"] == (
        "ok",
        f"logged in as 'voicebot' at 127.0.0.1:{ami.port} (from 127.0.0.1)",
    )
    verdict, detail = verdicts["dialplan contexts"]
    assert verdict == "ok" and detail.startswith("voicebot-audiosocket present"), detail


@pytest.mark.parametrize("refusal", ["secret", "acl"])
def test_doctor_names_both_causes_of_a_refused_login(
    tmp_path: Path, ami: AmiPeer, refusal: str
) -> None:
    """Asterisk answers a bad secret and a refused permit alike; the verdict names both."""
    if refusal == "acl":
        ami.permitted = False
    result = doctor(tmp_path, ami.port, secret="ami-secret" if refusal == "acl" else "wrong")
    assert result.exit_code == 1
    verdicts = pbx_verdicts(result)
    verdict, detail = verdicts["ami login"]
    assert verdict == "FAIL"
    assert "agi.ami_username/agi.ami_password" in detail
    assert "permit= does not cover 127.0.0.1" in detail
    assert verdicts["dialplan contexts"][0] == "skip"


def test_doctor_fails_a_missing_context_and_a_missing_reporting_right(
    tmp_path: Path, ami: AmiPeer
) -> None:
    verdict, detail = pbx_verdicts(doctor(tmp_path, ami.port, 'context = "bot-out"'))[
        "dialplan contexts"
    ]
    assert verdict == "FAIL" and detail.startswith("missing: bot-out;"), detail
    ami.write = ("originate", "call")
    verdict, detail = pbx_verdicts(doctor(tmp_path, ami.port))["dialplan contexts"]
    assert verdict == "FAIL" and "add `reporting` to the AMI user's write=" in detail


def test_doctor_says_where_ami_is_not_listening(tmp_path: Path) -> None:
    verdict, detail = pbx_verdicts(doctor(tmp_path, 9))["ami login"]
    assert verdict == "FAIL" and "127.0.0.1:9 unreachable" in detail and "bindaddr" in detail


def snippet(tmp_path: Path, toml: str) -> str:
    config = tmp_path / "v.toml"
    config.write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(app, ["asterisk", "snippet", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.stdout


def section(text: str, name: str) -> str:
    """The body of one `;---- name.conf` section of the snippet."""
    match = re.search(
        rf"^;-+ {re.escape(name)}\b.*?\n(.*?)(?=^;-{{20,}}|^;;;; )", text, re.S | re.M
    )
    assert match, name
    return match[1]


def test_snippet_permits_where_voicebot_connects_from_not_its_public_sip_address(
    tmp_path: Path,
) -> None:
    """The example config's sip.public_host is a LAN address; voicebot reaches AMI on
    loopback, so manager.conf must permit 127.0.0.1 (else: "Authentication failed")."""
    text = snippet(tmp_path, '[sip]\npublic_host = "192.0.2.10"\n[agi]\nami_password = "pw"\n')
    manager = section(text, "manager.conf")
    assert "permit = 127.0.0.1/255.255.255.255" in manager
    assert "192.0.2.10" not in manager
    assert "bindaddr = 127.0.0.1" in manager
    assert "bindaddr = 127.0.0.1" in section(text, "http.conf")
    assert "0.0.0.0/0.0.0.0" in manager  # deny everything else
    assert "bindaddr = 0.0.0.0" not in text
    assert "reporting" in manager  # ShowDialPlan, for the doctor


def test_snippet_gives_amd_conf_and_makes_the_bridges_line_live(tmp_path: Path) -> None:
    text = snippet(tmp_path, 'bridge = "agi"\n[ari]\namd_context = "voicebot-amd"\n')
    amd = section(text, "amd.conf")
    assert "[general]" in amd and "total_analysis_time = 5000" in amd
    live = [line for line in text.splitlines() if line.startswith("exten => 7000,")]
    assert live == [
        "exten => 7000,1,AGI(agi://127.0.0.1:4573/interview)     ; agi (FastAGI → AudioSocket)"
    ]
    text = snippet(tmp_path, 'bridge = "ari"\n')
    live = [line for line in text.splitlines() if line.startswith("exten => 7000,")]
    assert live == ["exten => 7000,1,Stasis(voicebot)                              ; ari"]
