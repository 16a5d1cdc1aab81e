"""The ARI controller against a scripted Asterisk that checks every request against the
ARI API declarations and builds every event from events.json's models."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest

from tests.peers.ari_server import AriServer, Channel
from tests.telephony.conftest import Handler, started
from tests.telephony.test_audiosocket import dominant_hz, read_pcm, tone
from voicebot.config import AriConfig
from voicebot.telephony.ari import AriBridge, AriCall, AriError
from voicebot.telephony.base import Answered, CallFailed, Dtmf, HangupCause, HungUp

CFG = AriConfig(
    password="secret",
    rtp_port_min=31000,
    rtp_port_max=31999,
    amd_context="voicebot-amd",
    endpoint="PJSIP/{number}@trunk",
)


@pytest.fixture
async def ari(asterisk: AriServer, handler: Handler) -> AsyncIterator[AriBridge]:
    bridge = AriBridge(replace(CFG, url=asterisk.url), handler)  # type: ignore[arg-type]
    async with started(bridge, lambda b: b.connected):
        yield bridge


async def answered_call(asterisk: AriServer, handler: Handler) -> tuple[Channel, AriCall]:
    ch = await asterisk.ring_in("+15551230001")
    call = await asyncio.wait_for(handler.calls.get(), 5)
    return ch, call


async def next_event(call: AriCall, kind: type) -> object:
    async with asyncio.timeout(10):
        async for ev in call.events():
            if isinstance(ev, kind):
                return ev
    raise AssertionError(f"events ended before {kind.__name__}")


async def speak(call: AriCall, freq: float, seconds: float) -> None:
    for frame in np.frombuffer(tone(freq, seconds), dtype="<i2").reshape(-1, 160):
        await call.send(frame.tobytes())
    await call.drained()


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 (state in another task)
            await asyncio.sleep(0.02)


def leftovers(asterisk: AriServer) -> tuple[dict[str, object], list[str]]:
    """Bridges and externalMedia channels still alive in Asterisk."""
    media = [c.id for c in asterisk.channels.values() if c.rtp is not None]
    return dict(asterisk.bridges), media


async def test_inbound_call_audio_dtmf_and_caller_hangup(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    ch, call = await answered_call(asterisk, handler)
    assert ch.state == "Up" and call.remote == "+15551230001"
    assert await next_event(call, Answered) == Answered()
    leg = asterisk.media_leg(ch)
    leg.source = tone(700, 3.0)
    heard = await read_pcm(call, 2.5)
    assert abs(dominant_hz(heard[8000:]) - 700) < 20  # the caller's audio reached the bot
    await speak(call, 440, 1.0)
    await until(lambda: len(leg.received) > 60)
    assert abs(dominant_hz(leg.audio()) - 440) < 20 and leg.bad_packets == 0

    await asterisk.dtmf(ch, "5")
    assert await next_event(call, Dtmf) == Dtmf("5", 120)
    await asterisk.caller_hangup(ch)
    ended = await next_event(call, HungUp)
    assert ended == HungUp(HangupCause.NORMAL, by_remote=True, detail="StasisEnd cause 16")
    await until(lambda: leftovers(asterisk) == ({}, []))
    assert asterisk.rejected == []  # every request voicebot made matched the ARI spec
    handler.end(call)


async def test_session_failure_still_tears_everything_down(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    ch, call = await answered_call(asterisk, handler)
    assert leftovers(asterisk)[1]  # an externalMedia channel exists while the call runs
    handler.end(call, RuntimeError("the session blew up"))
    await until(lambda: call.ended and leftovers(asterisk) == ({}, []))
    assert ch.id not in asterisk.channels  # the caller was hung up, not left in Stasis
    assert not ari.calls


async def test_outbound_answer_with_variables_then_bot_hangs_up(
    asterisk: AriServer, ari: AriBridge
) -> None:
    call = await ari.dial("+15550002222", variables={"CANDIDATE_ID": "c-42"})
    ch = asterisk.channels[call.channel_id]
    assert ch.vars["CANDIDATE_ID"] == "c-42" and ch.state == "Up"
    assert await next_event(call, Answered) == Answered(machine=False)
    leg = asterisk.media_leg(ch)
    await speak(call, 500, 0.6)
    await until(lambda: len(leg.received) > 20)
    assert abs(dominant_hz(leg.audio()) - 500) < 20
    await call.hangup()
    await until(lambda: leftovers(asterisk) == ({}, []) and ch.id not in asterisk.channels)
    assert asterisk.rejected == []


@pytest.mark.parametrize(("script", "machine"), [("machine", True), ("human", False)])
async def test_answering_machine_detection_via_the_amd_context(
    asterisk: AriServer, ari: AriBridge, script: str, machine: bool
) -> None:
    asterisk.scripts["PJSIP/+15550003333@trunk"] = script
    call = await ari.dial("+15550003333")
    assert asterisk.channels[call.channel_id].continued_to == ("voicebot-amd", "s")
    assert await next_event(call, Answered) == Answered(machine=machine)
    await call.hangup()


async def test_hang_up_during_amd_fails_the_dial_and_leaves_nothing(
    asterisk: AriServer, ari: AriBridge
) -> None:
    asterisk.scripts["PJSIP/+15550003334@trunk"] = "gone_during_amd"
    with pytest.raises(CallFailed):
        await ari.dial("+15550003334")
    assert leftovers(asterisk) == ({}, []) and not ari.calls


async def test_transfer_continues_into_the_recruiters_extension(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    ch, call = await answered_call(asterisk, handler)
    assert await call.transfer("6001")
    assert ch.continued_to == ("voicebot-transfer", "6001")
    assert ch.id in asterisk.channels  # the caller is still there, now with a person
    assert leftovers(asterisk) == ({}, [])
    ended = await next_event(call, HungUp)
    assert isinstance(ended, HungUp) and ended.detail == "transferred"
    handler.end(call)


async def test_reconnect_drops_calls_whose_channels_vanished(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    lost_ch, lost = await answered_call(asterisk, handler)
    kept_ch, kept = await answered_call(asterisk, handler)
    await asterisk.crash_websocket(0.5, lose=[lost_ch])
    await until(lambda: asterisk.connected.is_set(), 15)
    ended = await next_event(lost, HungUp)
    assert isinstance(ended, HungUp) and ended.cause == HangupCause.FAILED
    await asterisk.dtmf(kept_ch, "9")
    assert await next_event(kept, Dtmf) == Dtmf("9", 120)  # the other call goes on
    await until(lambda: len(asterisk.bridges) == 1)  # the lost call's bridge is gone
    for call in (lost, kept):
        handler.end(call)


async def test_a_call_ringing_in_as_voicebot_connects_is_answered_not_swept(
    asterisk: AriServer, handler: Handler
) -> None:
    """The candidate's StasisStart is already queued on the event socket when voicebot asks
    Asterisk for its channels: the call is taken, not hung up as a leftover."""
    list_channels = asterisk._op_channels_list
    rang: list[Channel] = []

    async def ring_then_list(request: object) -> object:
        if not rang:
            rang.append(await asterisk.ring_in("+15551230001"))
        return await list_channels(request)  # type: ignore[arg-type]

    asterisk._op_channels_list = ring_then_list  # type: ignore[method-assign]
    async with AriBridge(replace(CFG, url=asterisk.url), handler) as ari:  # type: ignore[arg-type]
        await asyncio.wait_for(ari.connected.wait(), 5)
        call = await asyncio.wait_for(handler.calls.get(), 5)
        assert call.call_id == rang[0].id
        assert rang[0].id in asterisk.channels and rang[0].state == "Up"
        assert not [r for r in asterisk.requests if r[0] == "hangup"]
        handler.end(call)


async def test_restarted_voicebot_cleans_up_what_a_crashed_one_left(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    ch, call = await answered_call(asterisk, handler)
    # voicebot dies: no teardown, its event socket just drops
    assert ari._events_task is not None and ari._http is not None
    ari._events_task.cancel()
    call.close_rtp()
    call.finish(HangupCause.FAILED, by_remote=False, detail="process died")
    ari.calls.clear()
    await ari._http.close()
    assert leftovers(asterisk) != ({}, [])
    async with AriBridge(replace(CFG, url=asterisk.url), Handler()) as restarted:  # type: ignore[arg-type]
        await asyncio.wait_for(restarted.connected.wait(), 10)
        await until(lambda: leftovers(asterisk) == ({}, []) and ch.id not in asterisk.channels)
    handler.end(call)


async def test_malformed_and_unknown_events_are_survived(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    ch, call = await answered_call(asterisk, handler)
    await asterisk.send_raw("this is not json")
    await asterisk.send_raw('{"type": "StasisStart", "application": "voicebot"}')
    await asterisk.send_raw('{"type": "SomethingNew", "application": "voicebot"}')
    await asterisk.send_raw("[1, 2, 3]")
    await asterisk.dtmf(ch, "1")
    assert await next_event(call, Dtmf) == Dtmf("1", 120)  # the call in progress goes on
    ch2, call2 = await answered_call(asterisk, handler)  # and new calls still come in
    assert ari.malformed_events == 3 and not call.ended and ch2.state == "Up"
    handler.end(call)
    handler.end(call2)


async def test_test_asterisk_refuses_requests_the_spec_forbids(
    asterisk: AriServer, ari: AriBridge
) -> None:
    with pytest.raises(AriError) as bad_value:
        await ari.request("POST", "/bridges", type="mixing", bogus="1")
    assert bad_value.value.status == 400
    with pytest.raises(AriError) as missing:
        await ari.request("POST", "/channels", app="voicebot")  # no endpoint
    assert missing.value.status == 400
    with pytest.raises(AriError) as not_allowed:
        await ari.request("DELETE", "/channels/x", reason="because")
    assert not_allowed.value.status == 400
    with pytest.raises(AriError) as no_such_call:
        await ari.request("PUT", "/channels")
    assert no_such_call.value.status == 405


async def test_unreachable_host_is_one_clear_line(
    handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "voicebot.telephony.ari")
    async with AriBridge(replace(CFG, url="http://127.0.0.1:9"), handler):  # type: ignore[arg-type]
        await asyncio.sleep(2.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "unreachable" in lines[0], lines


async def test_ten_concurrent_calls_each_get_paced_audio(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    pairs = [await answered_call(asterisk, handler) for _ in range(10)]
    await asyncio.gather(*(speak(call, 300 + 50 * i, 2.0) for i, (_, call) in enumerate(pairs)))
    jitter: list[float] = []
    for i, (ch, _) in enumerate(pairs):
        leg = asterisk.media_leg(ch)
        assert abs(dominant_hz(leg.audio()) - (300 + 50 * i)) < 20
        jitter += leg.jitter_ms()
    print(f"\nARI externalMedia x10: send jitter p99 {np.percentile(jitter, 99):.2f} ms")
    for _, call in pairs:
        handler.end(call)


async def test_rtp_from_anyone_but_asterisks_media_leg_is_dropped(
    asterisk: AriServer, ari: AriBridge, handler: Handler
) -> None:
    """Issue 16 item 5: injected packets must not replace the caller's audio."""
    from tests.telephony.test_sip_calls import pcmu_packet

    ch, call = await answered_call(asterisk, handler)
    leg = asterisk.media_leg(ch)
    leg.source = tone(700, 2.0)
    await until(lambda: call.stats.packets_in > 5)
    loop = asyncio.get_running_loop()
    intruder, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        for seq in range(20):
            intruder.sendto(pcmu_packet(seq, bytes(320)), ("127.0.0.1", call.rtp_port))
        await until(lambda: call.stats.dropped.get("foreign_source") == 20)
    finally:
        intruder.close()
    heard = await read_pcm(call, 1.0)
    assert abs(dominant_hz(heard) - 700) < 20  # still the caller
    await asterisk.caller_hangup(ch)
    handler.end(call)
