"""What every PBX bridge promises the dialer: a failed dial carries its cause and leaves
nothing behind, and wrong credentials are one clear log line followed by quiet retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.peers.ami_peer import AmiPeer
from tests.peers.ari_server import AriServer
from tests.peers.esl_peer import EslPeer
from tests.telephony import test_agi, test_ari, test_freeswitch
from tests.telephony.test_ari import until
from voicebot.telephony.agi import AgiBridge
from voicebot.telephony.ari import AriBridge
from voicebot.telephony.base import CallFailed, HangupCause
from voicebot.telephony.freeswitch import FreeswitchBridge

NUMBER = "+15550001111"


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
