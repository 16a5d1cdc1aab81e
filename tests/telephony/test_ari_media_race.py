"""Issue 13, item 1: Asterisk answers POST /channels/externalMedia before that channel is in
Stasis. The bridge must wait for the media channel's own StasisStart before addChannel (else
422 and a dropped call), and a late StasisStart of its media channel is never a new call.
Also item 6: stop() ends the event socket with a close frame."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.peers.ari_server import AriServer
from tests.telephony.conftest import Handler, started
from tests.telephony.test_ari import CFG, next_event, until
from voicebot.telephony.ari import AriBridge
from voicebot.telephony.base import Answered


def bridge_for(asterisk: AriServer, handler: Handler) -> AriBridge:
    return AriBridge(replace(CFG, url=asterisk.url), handler)  # type: ignore[arg-type]


async def test_a_slow_media_stasis_start_is_waited_for_not_a_dropped_call(
    asterisk: AriServer, handler: Handler
) -> None:
    asterisk.media_stasis_delay = 0.3
    async with started(bridge_for(asterisk, handler), lambda b: b.connected):
        chans = await asyncio.gather(*(asterisk.ring_in(f"+1555123000{i}") for i in range(5)))
        calls = [await asyncio.wait_for(handler.calls.get(), 5) for _ in chans]
        for call in calls:
            assert await next_event(call, Answered) == Answered()
        assert not asterisk.rejected, asterisk.rejected  # no 422 from addChannel
        assert {c.call_id for c in calls} == {ch.id for ch in chans}  # media legs are no calls
        assert handler.calls.empty()
        for ch in chans:
            assert asterisk.media_leg(ch) is not None
        for call in calls:
            handler.end(call)
        await until(lambda: not asterisk.bridges and not asterisk.channels)


async def test_caller_gone_before_media_enters_stasis_leaves_no_call_and_nothing_behind(
    asterisk: AriServer, handler: Handler
) -> None:
    asterisk.media_stasis_delay = 0.4
    async with started(bridge_for(asterisk, handler), lambda b: b.connected) as ari:
        ch = await asterisk.ring_in("+15551230001")
        await until(lambda: any(r[0] == "externalMedia" for r in asterisk.requests))
        await asterisk.caller_hangup(ch)
        await asyncio.sleep(1.0)  # the media channel's StasisStart (and end) arrive late
        assert handler.calls.empty()  # neither the caller nor the media leg became a call
        await until(lambda: not asterisk.bridges and not asterisk.channels)
        assert not ari.calls and not ari._ours
        answered = [r for r in asterisk.requests if r[0] == "answer"]
        assert [r[1] for r in answered] == [f"/ari/channels/{ch.id}/answer"]


async def test_stop_closes_the_event_socket_with_a_close_frame(
    asterisk: AriServer, handler: Handler
) -> None:
    async with started(bridge_for(asterisk, handler), lambda b: b.connected):
        pass
    await until(lambda: bool(asterisk.ws_close_codes))
    assert asterisk.ws_close_codes == [1000]


async def test_a_refused_externalmedia_leaves_no_channel_marked_ours(
    asterisk: AriServer, handler: Handler
) -> None:
    bad = AriBridge(replace(CFG, url=asterisk.url, format="slin16"), handler)  # peer: 400
    async with started(bad, lambda b: b.connected) as ari:
        ch = await asterisk.ring_in("+15551230001")
        await until(lambda: ch.id not in asterisk.channels)  # set-up failed, caller hung up
        assert handler.calls.empty() and not ari.calls and not ari._ours
        assert not asterisk.bridges
