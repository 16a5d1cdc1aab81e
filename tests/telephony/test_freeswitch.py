"""FreeSWITCH bridge against an ESL peer; answered calls reach voicebot over real SIP/RTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.peers.esl_peer import EslPeer
from tests.telephony.conftest import started
from tests.telephony.test_ari import until
from tests.telephony.test_audiosocket import dominant_hz, read_pcm, tone
from voicebot.config import FreeswitchConfig, SipConfig
from voicebot.telephony.base import Call
from voicebot.telephony.freeswitch import FreeswitchBridge, parse_plain_event

BOT_SIP = SipConfig(listen_port=0, rtp_port_min=33000, rtp_port_max=33999)
CFG = FreeswitchConfig(port=1, endpoint="sofia/gateway/trunk/{number}")


@pytest.fixture
async def freeswitch() -> AsyncIterator[EslPeer]:
    async with started(EslPeer()) as peer:
        yield peer


@pytest.fixture
async def fs(freeswitch: EslPeer) -> AsyncIterator[FreeswitchBridge]:
    bridge = FreeswitchBridge(replace(CFG, port=freeswitch.port), BOT_SIP)
    async with started(bridge, lambda b: b.connected):
        yield bridge


async def send_tone(call: Call, freq: float, seconds: float) -> None:
    pcm = tone(freq, seconds)
    for i in range(0, len(pcm), 320):
        await call.send(pcm[i : i + 320])


async def test_originate_bridges_the_answered_leg_to_voicebots_sip(
    freeswitch: EslPeer, fs: FreeswitchBridge
) -> None:
    call = await fs.dial("+15550007777", variables={"candidate_id": "c-3"})
    originate = next(c for c in freeswitch.commands if c.startswith("bgapi originate"))
    assert "candidate_id=c-3" in originate
    assert "}sofia/gateway/trunk/+15550007777 &bridge(sofia/external/voicebot-" in originate
    await until(lambda: freeswitch.legs)  # sofia's INVITE got its 200 OK
    (leg,) = freeswitch.legs
    await send_tone(leg, 600, 2.0)  # the candidate speaks, through FreeSWITCH
    assert abs(dominant_hz((await read_pcm(call, 1.5))[4000:]) - 600) < 20
    await send_tone(call, 450, 1.5)
    assert abs(dominant_hz((await read_pcm(leg, 1.5))[4000:]) - 450) < 20
    await call.hangup()
    await asyncio.wait_for(leg.finished.wait(), 5)


def test_plain_events_are_url_decoded_with_their_body() -> None:
    body = "Event-Name: BACKGROUND_JOB\nCaller-Caller-ID-Name: Ana%20Mar%C3%ADa\n\n-ERR USER_BUSY\n"
    event = parse_plain_event(body)
    assert event["Caller-Caller-ID-Name"] == "Ana María"
    assert event["_body"] == "-ERR USER_BUSY\n"


async def test_a_call_freeswitch_bridges_in_is_an_inbound_call(freeswitch: EslPeer) -> None:
    """The screening line's dialplan bridges candidates to sip:bot@…: a plain inbound call."""
    taken: asyncio.Queue[Call] = asyncio.Queue()

    async def take(call: Call) -> None:
        taken.put_nowait(call)
        await send_tone(call, 520, 1.0)

    async with FreeswitchBridge(replace(CFG, port=freeswitch.port), BOT_SIP, take) as bridge:
        assert freeswitch._sofia is not None
        leg = await freeswitch._sofia.call(f"sip:bot@127.0.0.1:{bridge.sip.port}")
        call = await asyncio.wait_for(taken.get(), 5)
        assert call.direction == "inbound"
        assert abs(dominant_hz((await read_pcm(leg, 1.0))[2000:]) - 520) < 20
