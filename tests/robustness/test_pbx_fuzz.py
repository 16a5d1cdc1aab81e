"""The PBX bridges under hostile input (issue 16): ARI events over the test Asterisk's
websocket, FastAGI sessions on 127.0.0.1, AMI and ESL messages on the sockets voicebot is
logged in to. Small and seeded here; `scripts/fuzz.py --targets ari,agi,ami,esl` runs large.
First the defects the fuzzer found, each reproduced on its own."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest

from tests.peers.agi_peer import agi_environment
from tests.peers.ari_server import AriServer
from tests.robustness.pbx_harness import (
    ARI_CFG,
    PBX_TARGETS,
    _HostileAmi,
    _HostileEsl,
    _wait,
    fast_backoff,
)
from tests.robustness.telephony_lines import ami_message, esl_frame
from tests.telephony.conftest import started
from voicebot.config import AgiConfig, FreeswitchConfig, SipConfig
from voicebot.telephony import agi, freeswitch
from voicebot.telephony.agi import AgiBridge, parse_agi_reply
from voicebot.telephony.ari import AriBridge, AriCall
from voicebot.telephony.base import Call, Dtmf
from voicebot.telephony.freeswitch import FreeswitchBridge


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# ARI ---------------------------------------------------------------------------------------


async def _ari_call(asterisk: AriServer) -> tuple[AriBridge, AriCall, str, asyncio.Event]:
    calls: asyncio.Queue[AriCall] = asyncio.Queue()
    release = asyncio.Event()

    async def take(call: Call) -> None:
        calls.put_nowait(call)  # type: ignore[arg-type]
        await release.wait()

    bridge = AriBridge(replace(ARI_CFG, url=asterisk.url), take)
    await bridge.start()
    await asyncio.wait_for(bridge.connected.wait(), 5)
    ch = await asterisk.ring_in()
    return bridge, await asyncio.wait_for(calls.get(), 5), ch.id, release


async def _dtmf_heard(asterisk: AriServer, call: AriCall, channel: dict[str, object]) -> bool:
    await asterisk.send_event("ChannelDtmfReceived", digit="7", duration_ms=77, channel=channel)
    try:
        async with asyncio.timeout(2):
            async for ev in call.events():
                if ev == Dtmf("7", 77):
                    return True
    except TimeoutError:
        pass
    return False


async def test_deep_json_or_a_second_stasis_start_leave_the_ari_call_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 100 000-deep JSON frame raised RecursionError out of the event reader (the bridge
    went deaf for good); a second StasisStart for a live channel replaced its call."""
    async with started(AriServer(password="secret")) as asterisk:
        bridge, call, cid, release = await _ari_call(asterisk)
        try:
            channel = asterisk.channels[cid].to_json()
            requests = len(asterisk.requests)
            await asterisk.send_raw("[" * 100_000 + "]" * 100_000)
            start = {"type": "StasisStart", "application": "voicebot", "args": [],
                     "channel": channel}  # fmt: skip
            await asterisk.send_raw(json.dumps(start))
            stranger = {**start, "channel": {**channel, "id": "x" * 10_000}}
            await asterisk.send_raw(json.dumps(stranger))
            await asterisk.send_raw(json.dumps({**start, "type": "ChannelDestroyed",
                                                "cause": "16"}))  # fmt: skip
            assert await _dtmf_heard(asterisk, call, channel)
            assert bridge.calls[cid] is call and not call.ended
            assert not bridge._events_task.done()  # type: ignore[union-attr]
            assert len(asterisk.requests) == requests  # no REST call for a 10 000-char id
            assert bridge.malformed_events == 3 and not tracebacks(caplog)
        finally:
            release.set()
            await bridge.stop()


# FastAGI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "code", "result", "data"),
    [
        ("200 result=1 (c-7)\n", 200, "1", "c-7"),
        ("200 result=\n", 200, "", ""),
        ("200", 200, "", ""),
        ("510 Invalid or unknown command", 510, "", ""),
        ("200 result=0 (\ufffd)", 200, "0", "\ufffd"),
    ],
)
def test_agi_replies_parse(line: str, code: int, result: str, data: str) -> None:
    reply = parse_agi_reply(line)
    assert (reply.code, reply.result, reply.data) == (code, result, data)


@pytest.mark.parametrize("line", ["", "garbage", "\u00b200 result=0", "9" * 5000 + " result=0"])
def test_what_is_no_agi_reply_is_an_agi_error(line: str) -> None:
    with pytest.raises(agi.AgiError):
        parse_agi_reply(line)


@pytest.mark.parametrize(
    "replies",
    [b"garbage\n", b"", b"\xff\xfe\n", b"200 result=1 (" + b"x" * 20_000 + b")\n", b"100 Trying\n"],
)
async def test_a_bad_agi_reply_ends_the_session_in_one_line(
    replies: bytes, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """panoramisk's reader raised ValueError (a traceback per session) on a blank, cut or
    non-numeric line, and waited forever after '100 Trying' with nothing after it."""
    monkeypatch.setattr(agi, "AGI_COMMAND_TIMEOUT", 0.3)
    bridge = AgiBridge(AgiConfig(ami_username="", agi_port=0, audiosocket_port=0))
    await bridge.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", bridge.agi_port)
        writer.write(agi_environment(bridge.agi_port, "+15551230001").encode())
        assert (await reader.readline()).startswith(b"GET VARIABLE")
        writer.write(replies)
        if not replies:
            writer.write_eof()
        async with asyncio.timeout(3):
            assert await reader.read() == b""  # voicebot ended the session
        writer.close()
        assert await _wait(lambda: bridge.agi_garbage == 1, 2)
        assert not bridge.audiosocket._expected and not tracebacks(caplog)
    finally:
        await bridge.stop()


# AMI ---------------------------------------------------------------------------------------


async def test_a_repeated_ami_header_is_dropped_not_a_lost_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """panoramisk raised in data_received on a message with its ActionID or Event twice:
    a traceback, and the AMI connection closed."""
    peer = _HostileAmi()
    await peer.start()
    bridge = AgiBridge(AgiConfig(ami_port=peer.port, ami_password="s", agi_port=0,
                                 audiosocket_port=0))  # fmt: skip
    await bridge.start()
    try:
        await asyncio.wait_for(bridge.logged_in.wait(), 5)
        await peer.inject(ami_message(Response="Success", ActionID=["a", "b"]))
        await peer.inject(ami_message(Event=["Hangup", "Hangup"], Uniqueid="1"))
        assert bridge._ami is not None
        pong = await asyncio.wait_for(bridge._ami.send_action({"Action": "Ping"}), 2)
        assert pong.get("Ping") == "Pong" and peer.connections == 1
        assert not tracebacks(caplog)
    finally:
        await bridge.stop()
        await peer.stop()


# ESL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["\u00b2", "9" * 5000, "-1", "abc"])
async def test_a_content_length_that_is_no_length_reconnects_with_one_warning(
    length: str, caplog: pytest.LogCaptureFixture
) -> None:
    """int() of it raised ValueError out of the ESL reader: the ESL task died, FreeSWITCH
    was never reconnected."""
    caplog.set_level(logging.WARNING)
    peer = _HostileEsl()
    await peer.start()
    with fast_backoff(freeswitch):
        bridge = FreeswitchBridge(FreeswitchConfig(port=peer.port), SipConfig(listen_port=0))
        await bridge.start()
        try:
            await asyncio.wait_for(bridge.connected.wait(), 5)
            await peer.inject(esl_frame("text/event-plain", b"Event-Name: X\n", length))
            assert await _wait(lambda: peer.connections == 2 and bridge.connected.is_set(), 5)
            _, body = await asyncio.wait_for(bridge.command("api status"), 2)
            assert body.startswith("+OK UP") and not tracebacks(caplog)
            warned = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warned) == 1 and "is not a length" in warned[0].getMessage()
        finally:
            await bridge.stop()
            await peer.stop()


async def test_an_unasked_esl_reply_is_not_taken_for_the_next_commands() -> None:
    """A command/reply nobody asked for was the answer to the next command, and every
    later command got the one before's."""
    peer = _HostileEsl()
    await peer.start()
    bridge = FreeswitchBridge(FreeswitchConfig(port=peer.port), SipConfig(listen_port=0))
    await bridge.start()
    try:
        await asyncio.wait_for(bridge.connected.wait(), 5)
        await peer.inject(esl_frame("command/reply", extra=["Reply-Text: -ERR stale"]))
        await asyncio.sleep(0.1)
        for _ in range(2):
            _, body = await asyncio.wait_for(bridge.command("api status"), 2)
            assert body.startswith("+OK UP")
    finally:
        await bridge.stop()
        await peer.stop()


# the fuzz suite at CI size -----------------------------------------------------------------


@pytest.mark.parametrize(("target", "n"), [("ari", 1000), ("agi", 150), ("ami", 200),
                                           ("esl", 150)])  # fmt: skip
async def test_pbx_fuzz(target: str, n: int) -> None:
    report = await PBX_TARGETS[target](n, 16)
    print(report.line(), f"reconnects {report.reconnects}  warnings {report.warnings}")
    assert report.inputs == n
    assert report.tracebacks == 0, report.examples
    assert report.task_deaths == 0
    assert report.answered == report.deserving, report.examples
    assert report.alive, report.examples
    # a reconnect costs one warning line, a malformed message at most one a minute
    assert report.warnings <= report.reconnects + 10
