"""Several bots behind one Asterisk (issue 18): with `[agi] bots`, the snippet's dialplan
spreads calls to 7000 over the bots' FastAGI servers, round-robin, and skips a bot that does
not answer. On the real Asterisk 22 with SIPp phones: 6 calls reach 2 bots 3 each; once one
bot stops, every following call reaches the other, with audio both ways, and none is lost."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from tests.asterisk.pbx import Pbx, available, free_port
from tests.asterisk.sipp import start_sipp
from tests.asterisk.test_agi_real import BOT_HZ, Bot, Setup, _caller, _until
from voicebot.serve import asterisk_snippet
from voicebot.telephony.agi import AgiBridge

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not available(), reason="no real Asterisk (../shared/asterisk)"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("asterisk-spread")
    pbx = Pbx(root)
    ports = [free_port(), free_port()]
    cfg = pbx.voicebot_config(
        "agi", agi={"agi_port": ports[0], "bots": [f"127.0.0.1:{p}" for p in ports]}
    )
    try:
        pbx.start(cfg)
        yield Setup(pbx, cfg, root)
    finally:
        pbx.cleanup()


@pytest.fixture
async def bots(asterisk: Setup) -> AsyncIterator[list[tuple[AgiBridge, Bot]]]:
    out = []
    for bot_address in asterisk.cfg.agi.bots:
        port = int(bot_address.rpartition(":")[2])
        agi = replace(asterisk.cfg.agi, agi_port=port, audiosocket_port=free_port())
        bot = Bot()
        bridge = AgiBridge(agi, bot)  # type: ignore[arg-type]
        await bridge.start()
        await asyncio.wait_for(bridge.logged_in.wait(), 10)
        out.append((bridge, bot))
    try:
        yield out
    finally:
        for bridge, _ in out:
            await bridge.stop()
        left = asterisk.pbx.wait_clean()
        if left:
            asterisk.pbx.hangup_all()
        assert not left, f"left on Asterisk: {left}"


async def _call_7000(setup: Setup) -> int:
    """One phone call to 7000, 2 s of talk; 1 if the phone saw it through."""
    scenario, args = _caller(setup, 1, talk_ms=2000)
    sipp = await start_sipp(setup.workdir, "spread", scenario, *args)
    try:
        return (await sipp.wait()).successful
    finally:
        await sipp.stop()


def test_the_snippet_spreads_7000_over_every_bot(asterisk: Setup) -> None:
    text = asterisk_snippet(asterisk.cfg)
    assert "exten => 7000,1,Goto(voicebot-spread,s,1)" in text
    for bot in asterisk.cfg.agi.bots:
        assert f"agi://{bot}/interview" in text


async def test_calls_spread_over_two_bots_and_skip_one_that_stopped(
    asterisk: Setup, bots: list[tuple[AgiBridge, Bot]]
) -> None:
    (_, one), (second, two) = bots
    phoned = [await _call_7000(asterisk) for _ in range(6)]
    await _until(lambda: len(one.calls) + len(two.calls) == 6)
    assert phoned == [1] * 6
    assert (len(one.calls), len(two.calls)) == (3, 3)  # round-robin, one call at a time

    await second.stop()  # the bot goes away: its FastAGI port refuses
    phoned = [await _call_7000(asterisk) for _ in range(4)]
    await _until(lambda: len(one.calls) == 7)
    assert phoned == [1] * 4  # no caller lost: the dialplan went on to the next bot
    assert (len(one.calls), len(two.calls)) == (7, 3)
    heard = one.calls + two.calls
    assert all(abs(h.hz - BOT_HZ) < 20 for h in heard), heard  # audio both ways, every call
