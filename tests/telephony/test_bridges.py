"""What every PBX bridge promises the dialer: a failed dial carries its cause and leaves
nothing behind, and wrong credentials are one clear log line followed by quiet retries."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.peers.agi_peer import AgiPeer
from tests.peers.ami_peer import AmiPeer
from tests.peers.ari_server import AriServer
from tests.peers.esl_peer import EslPeer
from tests.telephony import test_agi, test_ari, test_freeswitch
from tests.telephony.test_ari import until
from voicebot import cli
from voicebot.config import Config, ConfigError, StoreConfig, load_config
from voicebot.interview.plan import Job, load_job
from voicebot.interview.runner import Interviewer
from voicebot.serve import (
    BRIDGES,
    BridgeNotReady,
    asterisk_snippet,
    make_bridge,
    open_bridge,
    serve,
)
from voicebot.telephony.agi import AgiBridge
from voicebot.telephony.ari import AriBridge
from voicebot.telephony.base import Bridge, CallFailed, HangupCause
from voicebot.telephony.freeswitch import FreeswitchBridge

NUMBER = "+15550001111"
BACKEND_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"


@dataclass
class Pbx:
    """One scripted PBX and how to reach it with good or bad credentials."""

    peer: Any
    make: Callable[[str], Any]  # password -> bridge
    script: Callable[[str], None]  # script the next dial to NUMBER
    attempts: Callable[[], int]  # logins the PBX has refused or accepted
    connected: Callable[[Any], asyncio.Event]
    fix: Callable[[str], None]  # make the PBX accept this password
    needle: str  # the clear line names the setting to fix


async def _ari(stack: AsyncExitStack) -> Pbx:
    peer = AriServer(password="secret")
    await peer.start()
    stack.push_async_callback(peer.stop)
    return Pbx(
        peer,
        lambda pw: AriBridge(replace(test_ari.CFG, url=peer.url, password=pw)),
        lambda s: peer.scripts.__setitem__(f"PJSIP/{NUMBER}@trunk", s),
        lambda: sum(status == 401 for status, _ in peer.rejected) + int(peer.connected.is_set()),
        lambda b: b.connected,
        lambda pw: setattr(peer, "password", pw),
        "ari.password",
    )


async def _agi(stack: AsyncExitStack) -> Pbx:
    peer = AmiPeer()
    await peer.start()
    stack.push_async_callback(peer.stop)
    return Pbx(
        peer,
        lambda pw: AgiBridge(replace(test_agi.CFG, ami_port=peer.port, ami_password=pw)),
        lambda s: peer.scripts.__setitem__(f"PJSIP/{NUMBER}@trunk", s),
        lambda: len(peer.logins),
        lambda b: b.logged_in,
        lambda pw: setattr(peer, "secret", pw),
        "agi.ami_password",
    )


async def _freeswitch(stack: AsyncExitStack) -> Pbx:
    peer = EslPeer(password="secret")
    await peer.start()
    stack.push_async_callback(peer.stop)
    return Pbx(
        peer,
        lambda pw: FreeswitchBridge(
            replace(test_freeswitch.CFG, port=peer.port, password=pw), test_freeswitch.BOT_SIP
        ),
        lambda s: peer.scripts.__setitem__(NUMBER, s),
        lambda: len(peer.auth_attempts),
        lambda b: b.connected,
        lambda pw: setattr(peer, "password", pw),
        "freeswitch.password",
    )


@pytest.fixture(params=[_ari, _agi, _freeswitch], ids=["ari", "agi", "freeswitch"])
async def pbx(request: pytest.FixtureRequest) -> AsyncIterator[Pbx]:
    async with AsyncExitStack() as stack:
        yield await request.param(stack)


@pytest.mark.parametrize(
    ("script", "cause"),
    [("busy", HangupCause.BUSY), ("no_answer", HangupCause.NO_ANSWER)],
)
async def test_failed_dial_carries_the_cause(pbx: Pbx, script: str, cause: HangupCause) -> None:
    pbx.script(script)
    async with pbx.make("secret") as bridge:
        await asyncio.wait_for(pbx.connected(bridge).wait(), 5)
        with pytest.raises(CallFailed) as failed:
            await bridge.dial(NUMBER, ring_timeout=5)
    assert failed.value.cause == cause


async def test_wrong_password_is_one_clear_line_then_quiet_retries(
    pbx: Pbx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "voicebot.telephony")
    async with pbx.make("wrong") as bridge:
        await until(lambda: pbx.attempts() >= 3, 15)
        assert not pbx.connected(bridge).is_set()
        pbx.fix("wrong")  # the operator fixes the PBX side: the next retry gets in
        await asyncio.wait_for(pbx.connected(bridge).wait(), 15)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and pbx.needle in lines[0], lines


# -- `voicebot serve` / `voicebot asterisk snippet` ------------------------------------------


class FakeInterviewer:
    """Stands in for the speech models: records which calls `serve` hands over, and how."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[Any, str, str | None]] = asyncio.Queue()

    async def warm_prompts(self, job: Job) -> None:
        pass

    async def interview(
        self, call: Any, job: Job, *, bridge: str, candidate_id: str | None
    ) -> None:
        self.calls.put_nowait((call, bridge, candidate_id))
        await call.hangup()


@pytest.fixture
def fake_interviewer(monkeypatch: pytest.MonkeyPatch) -> FakeInterviewer:
    fake = FakeInterviewer()

    async def create(cls: type, cfg: Config, *, store: object) -> FakeInterviewer:
        return fake

    monkeypatch.setattr(Interviewer, "create", classmethod(create))
    return fake


@pytest.mark.parametrize("name", BRIDGES)
def test_every_bridge_is_a_bridge(name: str) -> None:
    bridge = make_bridge(Config(), None, name)
    assert isinstance(bridge, Bridge) and bridge.name == name


async def test_serve_over_ari_hands_calls_to_the_interviewer(
    fake_interviewer: FakeInterviewer, tmp_path: Path
) -> None:
    asterisk = AriServer(password="secret")
    await asterisk.start()
    cfg = replace(
        Config(),
        bridge="ari",
        store=StoreConfig(path=str(tmp_path / "v.db")),
        ari=replace(test_ari.CFG, url=asterisk.url),
    )
    stop = asyncio.Event()
    lines: list[str] = []
    server = asyncio.create_task(
        serve(cfg, load_job(BACKEND_JOB), announce=lines.append, stop=stop)
    )
    try:
        await until(lambda: asterisk.connected.is_set(), 10)
        ch = await asterisk.ring_in()
        call, bridge, _ = await asyncio.wait_for(fake_interviewer.calls.get(), 5)
        assert bridge == "ari" and call.call_id == ch.id
        assert lines == [f"taking calls as ARI app 'voicebot' at {asterisk.url}"]
    finally:
        stop.set()
        await server
        await asterisk.stop()


async def test_serve_over_agi_passes_the_candidate_id(
    fake_interviewer: FakeInterviewer, tmp_path: Path
) -> None:
    cfg = replace(
        Config(),
        bridge="agi",
        store=StoreConfig(path=str(tmp_path / "v.db")),
        agi=replace(test_agi.CFG, ami_port=9),  # no AMI: inbound still works, AMI retries
    )
    stop = asyncio.Event()
    lines: list[str] = []
    server = asyncio.create_task(
        serve(cfg, load_job(BACKEND_JOB), announce=lines.append, stop=stop)
    )
    try:
        await until(lambda: bool(lines), 10)
        port = int(lines[0].split("FastAGI on 127.0.0.1:")[1].split(",")[0])
        asterisk = AgiPeer(port, variables={"CANDIDATE_ID": "cand-1"})
        session = asyncio.create_task(asterisk.run())
        _, bridge, candidate = await asyncio.wait_for(fake_interviewer.calls.get(), 5)
        assert (bridge, candidate) == ("agi", "cand-1")
        await asyncio.wait_for(session, 5)
    finally:
        stop.set()
        await server


def test_asterisk_snippet_is_filled_from_config() -> None:
    cfg = replace(Config(), ari=replace(Config().ari, app="screening", amd_context="bot-amd"))
    text = asterisk_snippet(cfg)
    assert "exten => 7000,1,Stasis(screening)" in text
    assert "[bot-amd]\nexten => s,1,AMD()\n same => n,Stasis(screening,amd,${AMDSTATUS})" in text
    assert "${EXTEN}" in text and "${VOICEBOT_UUID}" in text  # dialplan variables survive
    assert not re.findall(r"\{[a-z_]+\}", text), "unfilled placeholder"


def test_cli_rejects_an_unknown_bridge() -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--job", str(BACKEND_JOB), "--bridge", "skype"])
    assert result.exit_code == 2
    assert "--bridge: 'skype' is not one of sip, ari, agi, freeswitch" in result.output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VOICEBOT_ARI__ENDPOINT": "PJSIP/trunk"}, "ari.endpoint: must contain {number}"),
        ({"VOICEBOT_ARI__URL": "pbx:8088"}, "ari.url: 'pbx:8088' is not an http(s) URL"),
        ({"VOICEBOT_BRIDGE": "skype"}, "bridge: 'skype' is not one of"),
        ({"VOICEBOT_AGI__AMI_PORT": "70000"}, "agi.ami_port: 70000 is not a port"),
    ],
)
def test_bad_bridge_settings_name_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_config(None, env=env)
    assert message in str(bad.value)


async def test_open_bridge_says_why_the_pbx_is_not_ready() -> None:
    cfg = replace(Config(), bridge="ari", ari=replace(test_ari.CFG, url="http://127.0.0.1:9"))
    with pytest.raises(BridgeNotReady) as not_ready:
        async with open_bridge(cfg, wait_s=1.5):
            pass
    assert "ari bridge not ready after 2 s: ARI at http://127.0.0.1:9 unreachable" in str(
        not_ready.value
    )


async def test_open_bridge_dials_once_connected() -> None:
    asterisk = AriServer(password="secret")
    await asterisk.start()
    try:
        cfg = replace(Config(), ari=replace(test_ari.CFG, url=asterisk.url))
        async with open_bridge(cfg, "ari") as bridge:
            call = await bridge.dial("+15550001212")
            assert asterisk.channels[call.call_id].state == "Up"
            await call.hangup()
    finally:
        await asterisk.stop()
