"""Outbound calls that fail report why (busy, no answer), through a real kamailio."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.peers.baresip import Baresip
from voicebot.config import SipConfig
from voicebot.telephony.base import HangupCause
from voicebot.telephony.registrar import LocalRegistrar
from voicebot.telephony.sip import CallFailed, SipEndpoint

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio not installed"),
    pytest.mark.timeout(60),
]

USERS = {"bot": "bot-secret", "dave": "dave-secret", "erin": "erin-secret"}


@pytest.fixture
async def registrar(tmp_path: Path) -> AsyncIterator[LocalRegistrar]:
    async with LocalRegistrar(USERS, workdir=tmp_path / "kamailio") as reg:
        yield reg


def _cfg(reg: LocalRegistrar, user: str, rtp_base: int) -> SipConfig:
    return SipConfig(
        listen_port=0,
        username=user,
        password=USERS[user],
        registrar=f"{reg.host}:{reg.port}",
        rtp_port_min=rtp_base,
        rtp_port_max=rtp_base + 99,
    )


async def test_calling_a_phone_that_is_not_registered_fails_as_no_answer(
    registrar: LocalRegistrar,
) -> None:
    async with SipEndpoint(_cfg(registrar, "bot", 41000)) as bot:
        await asyncio.wait_for(bot.registered.wait(), 5)
        with pytest.raises(CallFailed) as failed:
            await bot.call(f"sip:erin@{registrar.host}:{registrar.port}", ring_timeout=5)
    assert failed.value.cause == HangupCause.NO_ANSWER
    assert failed.value.status == 480
    assert bot.active_calls == 0


async def test_a_busy_phone_fails_as_busy_and_the_bot_can_call_again(
    registrar: LocalRegistrar,
) -> None:
    async with (
        SipEndpoint(_cfg(registrar, "bot", 41100)) as bot,
        SipEndpoint(_cfg(registrar, "dave", 41200)) as dave,  # no handler: answers 486
    ):
        await asyncio.wait_for(asyncio.gather(bot.registered.wait(), dave.registered.wait()), 5)
        for _ in range(2):
            with pytest.raises(CallFailed) as failed:
                await bot.call(f"sip:dave@{registrar.host}:{registrar.port}", ring_timeout=5)
            assert failed.value.cause == HangupCause.BUSY
            assert failed.value.status == 486
        assert bot.active_calls == 0


@pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip not installed")
async def test_a_phone_that_rings_out_ends_with_its_487_and_the_bot_acks_it(
    registrar: LocalRegistrar, tmp_path: Path
) -> None:
    """The bot CANCELs at its ring timeout; the CANCEL shares the INVITE's branch, and the
    INVITE's 487 used to land in the CANCEL's transaction and be lost: the call failed as
    a 408 five seconds later, and the phone retransmitted its unacknowledged 487."""
    phone = Baresip("erin", USERS["erin"], registrar, workdir=tmp_path / "erin", sip_trace=True)
    async with SipEndpoint(_cfg(registrar, "bot", 41300)) as bot:
        await phone.start()
        try:
            await asyncio.wait_for(bot.registered.wait(), 5)
            await phone.wait_registered(timeout=5)
            with pytest.raises(CallFailed) as failed:
                await bot.call(f"sip:erin@{registrar.host}:{registrar.port}", ring_timeout=2)
            await phone.wait_closed()
        finally:
            await phone.stop()
    assert (failed.value.cause, failed.value.status) == (HangupCause.NO_ANSWER, 487)
    assert bot.active_calls == 0
