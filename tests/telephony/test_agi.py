"""AMI originate, FastAGI hand-over and AudioSocket audio, against peers speaking Asterisk's
wire formats (AMI, AGI, AudioSocket)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.peers.agi_peer import AgiPeer
from tests.peers.ami_peer import AmiPeer
from tests.telephony.conftest import started
from tests.telephony.test_ari import until
from tests.telephony.test_audiosocket import dominant_hz, read_pcm, tone
from voicebot.config import AgiConfig
from voicebot.telephony.agi import AgiBridge
from voicebot.telephony.audiosocket import AudioSocketCall
from voicebot.telephony.base import CallFailed, HangupCause, HungUp

CFG = AgiConfig(
    ami_port=0,
    ami_password="secret",
    agi_port=0,
    audiosocket_port=0,
    channel="PJSIP/{number}@trunk",
)


@pytest.fixture
async def ami() -> AsyncIterator[AmiPeer]:
    async with started(AmiPeer()) as peer:
        yield peer


@pytest.fixture
async def taken() -> asyncio.Queue[AudioSocketCall]:
    return asyncio.Queue()


@pytest.fixture
async def bridge(ami: AmiPeer, taken: asyncio.Queue[AudioSocketCall]) -> AsyncIterator[AgiBridge]:
    async def on_call(call: AudioSocketCall) -> None:
        taken.put_nowait(call)
        await call.finished.wait()

    b = AgiBridge(replace(CFG, ami_port=ami.port), on_call)  # type: ignore[arg-type]
    async with started(b, lambda b: b.logged_in):
        yield b


async def test_fastagi_call_is_handed_to_audiosocket_with_its_variables(
    bridge: AgiBridge, taken: asyncio.Queue[AudioSocketCall]
) -> None:
    asterisk = AgiPeer(bridge.agi_port, variables={"CANDIDATE_ID": "c-7"})
    session = asyncio.create_task(asterisk.run())
    call = await asyncio.wait_for(taken.get(), 5)
    assert call.remote == "+15551230001"
    assert call.variables["CANDIDATE_ID"] == "c-7"
    assert call.variables["agi_channel"] == "PJSIP/trunk-00000007"
    assert asterisk.commands[-2:] == [
        "ANSWER",
        f"EXEC AudioSocket {call.call_id},127.0.0.1:{bridge.audiosocket.port}",
    ]
    assert asterisk.callee is not None
    asterisk.callee.play(tone(650, 2.0))
    assert abs(dominant_hz((await read_pcm(call, 1.5))[4000:]) - 650) < 20
    await asterisk.callee.hangup()  # the caller hangs up: Asterisk just closes the socket
    await asyncio.wait_for(session, 5)  # the AGI session ends with it
    assert call.ended


async def test_garbage_on_the_agi_socket_is_survived(
    bridge: AgiBridge, taken: asyncio.Queue[AudioSocketCall]
) -> None:
    for junk in (b"\x00\xff garbage\n\n", b"agi_network: yes\n", b"HELLO\r\nthere\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", bridge.agi_port)
        writer.write(junk)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, no call started
        writer.close()
    assert bridge.agi_garbage == 3 and taken.empty()
    asterisk = AgiPeer(bridge.agi_port)
    session = asyncio.create_task(asterisk.run())
    call = await asyncio.wait_for(taken.get(), 5)  # a real call still gets through
    await call.hangup()
    await asyncio.wait_for(session, 5)


async def test_a_caller_gone_before_the_answer_gets_no_audiosocket(
    bridge: AgiBridge, taken: asyncio.Queue[AudioSocketCall]
) -> None:
    asterisk = AgiPeer(bridge.agi_port)
    asterisk.hang_up_before = "ANSWER"
    await asyncio.wait_for(asterisk.run(), 5)  # voicebot closes the AGI session
    assert not any(c.startswith("EXEC") for c in asterisk.commands)
    assert taken.empty() and not bridge.audiosocket._expected


async def test_ami_originate_answered_over_audiosocket(bridge: AgiBridge, ami: AmiPeer) -> None:
    call = await bridge.dial("+15550004444", variables={"CANDIDATE_ID": "c-9"})
    (action,) = ami.originates
    assert action["Channel"] == "PJSIP/+15550004444@trunk"
    assert action["Context"] == "voicebot-audiosocket"
    assert f"VOICEBOT_UUID={call.call_id}" in action["Variable"]
    assert "CANDIDATE_ID=c-9" in action["Variable"]
    assert call.variables == {"CANDIDATE_ID": "c-9"}
    pcm = tone(440, 0.6)
    for i in range(0, len(pcm), 320):
        await call.send(pcm[i : i + 320])
    await call.drained()
    callee = ami.callees[0]
    await call.hangup()
    await asyncio.wait_for(callee.closed.wait(), 5)
    assert callee.hangup_received
    assert abs(dominant_hz(callee.audio()) - 440) < 30


@pytest.mark.parametrize(
    ("script", "cause", "q850"),
    [
        ("busy", HangupCause.BUSY, 17),  # Asterisk 22: OriginateResponse Reason 0, Hangup 17
        ("decline", HangupCause.REJECTED, 21),  # Reason 0; the Hangup (21) comes after it
        ("no_answer", HangupCause.NO_ANSWER, 19),
        ("unroutable", HangupCause.FAILED, None),  # no channel: Reason 0 is all there is
    ],
)
async def test_failed_originate_takes_the_cause_from_its_channel(
    bridge: AgiBridge, ami: AmiPeer, script: str, cause: HangupCause, q850: int | None
) -> None:
    ami.scripts["PJSIP/+15550005555@trunk"] = script
    with pytest.raises(CallFailed) as failed:
        await bridge.dial("+15550005555", ring_timeout=5)
    assert (failed.value.cause, failed.value.status) == (cause, q850)
    (action,) = ami.originates
    assert action["ChannelId"]  # the channel is named, so its events can be followed
    assert not ami.channels and not bridge.audiosocket._expected


async def test_dial_without_ami_session_fails_clearly() -> None:
    async with AgiBridge(replace(CFG, ami_port=9)) as b:
        with pytest.raises(CallFailed) as failed:
            await b.dial("+15550006666")
    assert failed.value.cause == HangupCause.FAILED and "AMI" in failed.value.reason


async def test_audio_socket_calls_end_with_hungup(
    bridge: AgiBridge, taken: asyncio.Queue[AudioSocketCall]
) -> None:
    asterisk = AgiPeer(bridge.agi_port)
    session = asyncio.create_task(asterisk.run())
    call = await asyncio.wait_for(taken.get(), 5)
    assert asterisk.callee is not None
    await asterisk.callee.hangup()
    events = [ev async for ev in call.events()]
    assert isinstance(events[-1], HungUp) and events[-1].by_remote
    await asyncio.wait_for(session, 5)


async def test_a_refused_login_names_the_credentials_and_the_acl_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Asterisk answers a manager.conf permit/deny refusal exactly like a bad secret."""
    caplog.set_level(logging.WARNING, "voicebot.telephony")
    async with started(AmiPeer(permitted=False)) as peer:
        async with AgiBridge(replace(CFG, ami_port=peer.port)):
            await until(lambda: len(peer.logins) >= 1, 5)
            await asyncio.sleep(0.1)
    (line,) = {r.getMessage() for r in caplog.records}
    assert "agi.ami_username/agi.ami_password" in line
    assert "permit= does not cover 127.0.0.1, where voicebot connects from" in line
