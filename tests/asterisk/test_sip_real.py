"""The direct `sip` bridge on a real Asterisk 22: the bot registers as the PJSIP endpoint
`voicebot asterisk snippet` prints (digest auth, ulaw/alaw, rfc4733, rtp_symmetric), a
baresip phone registers as `candidate`.

Inbound: the phone dials 7000, the snippet's live `sip` line Dial(PJSIP/bot)s the bot's
registered contact. Outbound: the bot INVITEs sip:6001@asterisk (answering Asterisk's
challenge), and from-voicebot's 6001 rings the phone. Audio is checked both ways by pitch;
after every call no channel is left on Asterisk. This file runs its own Asterisk: the
session one is configured for the ari bridge (7000 → Stasis, no bot password).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.asterisk.pbx import EXTENSION, PHONE, Pbx, available, free_port, free_udp_range
from tests.asterisk.sipp import CALLEES, start_sipp
from tests.asterisk.test_ari_real import Registrar, ended, first_events, phone_port, speak
from tests.peers.audio import dominant_frequency, tone_wav, wait_wav_closed
from tests.peers.baresip import Baresip
from tests.telephony.test_audiosocket import dominant_hz, read_pcm
from tests.telephony.test_sip_calls import LogWatch, dtmf_digits
from voicebot.config import SipConfig
from voicebot.media import g711
from voicebot.media.rtp import RtpPacket
from voicebot.telephony.base import Answered, CallFailed, Direction, HangupCause, HungUp
from voicebot.telephony.sip import SipCall, SipEndpoint, _Codec

pytestmark = pytest.mark.timeout(90)
asterisk = pytest.mark.asterisk  # on every test here that runs Asterisk

BOT = "bot"
BOT_PASSWORD = "bot-test-secret"
PHONE_EXTENSION = "6001"  # from-voicebot: the bot dials it, Asterisk rings the phone
# the snippet's from-voicebot sends _X. to "your-trunk"; an exact extension wins over it
DIALPLAN = f"""
[from-voicebot]
exten => {PHONE_EXTENSION},1,Dial(PJSIP/{PHONE},20)
 same => n,Hangup()
"""


# the snippet's from-voicebot dials every other number as PJSIP/<number>@your-trunk; here the
# trunk is a SIPp callee on `trunk_port` (busy, declining or ringing)
TRUNK = """
[your-trunk]
type = endpoint
context = from-phones
disallow = all
allow = ulaw
aors = your-trunk
direct_media = no

[your-trunk]
type = aor
contact = sip:127.0.0.1:{port}
"""


@dataclasses.dataclass
class SipPbx:
    """This file's Asterisk and the bot's SipConfig that registers to it."""

    pbx: Pbx
    sip: SipConfig
    trunk_port: int


@pytest.fixture(scope="module")
def sip_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipPbx]:
    if not available():
        pytest.skip("no real Asterisk in ../shared/asterisk")
    pbx = Pbx(tmp_path_factory.mktemp("asterisk-sip"))
    lo, hi = free_udp_range(200)
    cfg = pbx.voicebot_config(
        "sip",
        sip={
            "listen_host": "127.0.0.1",
            "listen_port": free_port(socket.SOCK_DGRAM),
            "username": BOT,
            "password": BOT_PASSWORD,
            "registrar": f"127.0.0.1:{pbx.sip_port}",
            "rtp_port_min": lo,
            "rtp_port_max": hi,
        },
    )
    trunk_port = free_port(socket.SOCK_DGRAM)
    pbx.start(cfg, extra={"extensions.conf": DIALPLAN, "pjsip.conf": TRUNK.format(port=trunk_port)})
    try:
        yield SipPbx(pbx, cfg.sip, trunk_port)
    finally:
        pbx.stop()


@pytest.fixture
def clean(sip_pbx: SipPbx) -> Iterator[SipPbx]:
    """`sip_pbx`, emptied of channels after the test (the test asserts there were none)."""
    yield sip_pbx
    pbx = sip_pbx.pbx
    if pbx.running and pbx.leftovers():
        pbx.hangup_all()
        pbx.wait_clean(5)


class Answering:
    """The bot's on_incoming: hands each call to the test, which ends it."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[SipCall] = asyncio.Queue()

    async def __call__(self, call: SipCall) -> None:
        self.calls.put_nowait(call)
        await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def bot(sip: SipConfig, answering: Answering | None = None) -> AsyncIterator[SipEndpoint]:
    """The bot's SIP endpoint, registered to Asterisk; unregistered and closed on exit."""
    endpoint = SipEndpoint(sip, answering)
    await endpoint.start()
    try:
        await asyncio.wait_for(endpoint.registered.wait(), 10)
        yield endpoint
    finally:
        await asyncio.wait_for(endpoint.stop(), 15)


class Phone(Baresip):
    """baresip without its jitter buffer. When Asterisk goes from relaying frames to native
    RTP bridging it switches the phone's stream to the bot's SSRC and sequence numbers (as
    RFC 3550 allows); if the new numbers are lower, baresip 1.0.0's jitter buffer drops
    every later packet as too late (`dropping 172 bytes ... (Connection timed out)`): the
    phone would hear nothing, nor the bot's DTMF. Loopback needs no jitter buffer."""

    def _config(self, source: Path) -> str:
        text = super()._config(source)
        assert "jitter_buffer_delay 1-10" in text
        return text.replace("jitter_buffer_delay 1-10", "jitter_buffer_delay 0-0")


@contextlib.asynccontextmanager
async def phone(
    pbx: Pbx, tmp: Path, *, freq: float | None = None, auto_answer: bool = False
) -> AsyncIterator[Baresip]:
    """A baresip phone registered as `candidate`; its microphone plays `freq`."""
    src = tone_wav(tmp / "phone-tone.wav", freq=freq, seconds=20) if freq else None
    p = Phone(
        PHONE,
        "unused",
        Registrar("127.0.0.1", pbx.sip_port),
        source_wav=src,
        auto_answer=auto_answer,
        workdir=tmp / "phone",
        sip_port=phone_port(),
    )
    try:
        await p.start()
        await p.wait_registered(timeout=10)
        yield p
    finally:
        await p.stop()


async def assert_clean(pbx: Pbx) -> None:
    left = await asyncio.to_thread(pbx.wait_clean, 10)
    assert not left, f"left on Asterisk: {left}\n{pbx.rx('core show channels')}"


async def phone_heard(p: Baresip, freq: float) -> None:
    wav = p.recorded_wav()
    assert wav is not None
    await wait_wav_closed(wav)
    assert abs(dominant_frequency(wav, start_s=0.5) - freq) < 25


def bot_contacts(pbx: Pbx) -> str:
    return pbx.rx(f"pjsip show aor {BOT}")


@asterisk
async def test_the_bot_registers_with_digest_auth_and_unregisters_on_stop(clean: SipPbx) -> None:
    async with bot(clean.sip) as endpoint:
        assert f"sip:{BOT}@127.0.0.1:{endpoint.port}" in bot_contacts(clean.pbx)
    assert f"sip:{BOT}@127.0.0.1:{endpoint.port}" not in bot_contacts(clean.pbx)


@asterisk
async def test_a_wrong_password_is_refused(clean: SipPbx) -> None:
    """Asterisk answers a wrong digest with a second 401 (kamailio: 403); the bot says so."""
    wrong = SipEndpoint(dataclasses.replace(clean.sip, password="not-it"))
    with LogWatch("voicebot.telephony.sip", "registration refused: 401") as log:
        await wrong.start()
        try:
            await asyncio.wait_for(log.seen.wait(), 10)
            assert not wrong.registered.is_set()
        finally:
            await asyncio.wait_for(wrong.stop(), 10)
    assert f"sip:{BOT}@" not in bot_contacts(clean.pbx)


@asterisk
async def test_dtmf_both_ways_through_asterisk(clean: SipPbx, tmp_path: Path) -> None:
    """rfc4733 on both legs: Asterisk regenerates the events, the bot must see each once."""
    answering = Answering()
    async with bot(clean.sip, answering), phone(clean.pbx, tmp_path) as p:
        await p.dial(p.uri_of(EXTENSION))
        call = await asyncio.wait_for(answering.calls.get(), 10)
        await p.wait_established()
        await asyncio.sleep(0.3)  # let media start on both legs before the first digit
        await p.send_dtmf("159*")
        assert await dtmf_digits(call, 4) == "159*"
        await asyncio.wait_for(call.send_dtmf("12#"), 5)
        assert [await p.wait_dtmf(timeout=5) for _ in range(3)] == ["1", "2", "#"]
        await call.hangup()
        await p.wait_closed()
    await assert_clean(clean.pbx)


@asterisk
@pytest.mark.parametrize("bot_hangs_up", [False, True], ids=["phone-hangs-up", "bot-hangs-up"])
async def test_phone_calls_7000_asterisk_dials_the_bot_audio_both_ways(
    clean: SipPbx, tmp_path: Path, bot_hangs_up: bool
) -> None:
    answering = Answering()
    async with bot(clean.sip, answering), phone(clean.pbx, tmp_path, freq=700) as p:
        await p.dial(p.uri_of(EXTENSION))
        call = await asyncio.wait_for(answering.calls.get(), 10)
        await p.wait_established()
        assert call.codec is not None
        heard = await asyncio.wait_for(read_pcm(call, 2.0), 10)
        assert abs(dominant_hz(heard[8000:]) - 700) < 25  # the phone's voice reached the bot
        await speak(call, 440, 2.0)
        if bot_hangs_up:
            await call.hangup()
            await p.wait_closed()
            assert not (await ended(call)).by_remote
        else:
            await p.hangup()
            hung_up = await ended(call)
            assert hung_up == HungUp(HangupCause.NORMAL, by_remote=True, detail="BYE")
            await p.wait_closed()
        await phone_heard(p, 440)
    await assert_clean(clean.pbx)


@asterisk
@pytest.mark.parametrize("bot_hangs_up", [True, False], ids=["bot-hangs-up", "phone-hangs-up"])
async def test_the_bot_dials_out_through_asterisk_to_the_phone(
    clean: SipPbx, tmp_path: Path, bot_hangs_up: bool
) -> None:
    pbx = clean.pbx
    async with bot(clean.sip) as endpoint, phone(pbx, tmp_path, freq=600, auto_answer=True) as p:
        call = await endpoint.call(
            f"sip:{PHONE_EXTENSION}@127.0.0.1:{pbx.sip_port}", ring_timeout=15
        )
        await p.wait_established()
        assert any(isinstance(e, Answered) for e in await first_events(call))
        heard = await asyncio.wait_for(read_pcm(call, 2.0), 10)
        assert abs(dominant_hz(heard[8000:]) - 600) < 25  # the phone reached the bot
        await speak(call, 500, 2.0)
        if bot_hangs_up:
            await call.hangup()
            await p.wait_closed()
        else:
            await p.hangup()
            assert (await ended(call)).by_remote
            await p.wait_closed()
        await phone_heard(p, 500)
        assert endpoint.active_calls == 0
    await assert_clean(pbx)


@asterisk
async def test_a_busy_phone_comes_back_as_the_busy_cause(clean: SipPbx, tmp_path: Path) -> None:
    pbx = clean.pbx
    async with bot(clean.sip) as endpoint, phone(pbx, tmp_path) as p:
        dialling = asyncio.create_task(
            endpoint.call(f"sip:{PHONE_EXTENSION}@127.0.0.1:{pbx.sip_port}", ring_timeout=15)
        )
        try:
            await p.wait_incoming()
            await p.hangup()  # baresip rejects a ringing call with 486
            with pytest.raises(CallFailed) as failed:
                await asyncio.wait_for(dialling, 10)
        finally:
            dialling.cancel()
            with contextlib.suppress(BaseException):
                await dialling
        assert failed.value.cause == HangupCause.BUSY, failed.value
        assert failed.value.status == 486  # Asterisk passes the phone's 486 on to the bot
        assert endpoint.active_calls == 0
    await assert_clean(pbx)


@asterisk
@pytest.mark.parametrize(
    ("callee", "cause", "statuses"),
    [
        ("busy", HangupCause.BUSY, {486}),
        # the status Asterisk picks for cause 21 is 403 (503 without the snippet's Hangup);
        # the bot reads the cause from `Reason: Q.850;cause=21`
        ("decline", HangupCause.REJECTED, {403, 503, 603}),
        ("ring", HangupCause.NO_ANSWER, {487}),  # the bot CANCELs; Asterisk's 487 ends it
    ],
)
async def test_a_candidate_who_does_not_take_the_call_through_the_trunk(
    clean: SipPbx, tmp_path: Path, callee: str, cause: HangupCause, statuses: set[int]
) -> None:
    """The bot dials a number; the snippet's from-voicebot line sends it to the trunk, whose
    far end is busy, declines, or rings past the bot's ring timeout (the bot CANCELs)."""
    pbx = clean.pbx
    sipp = await start_sipp(tmp_path, callee, CALLEES[callee], "-m", "1", sip_port=clean.trunk_port)
    try:
        async with bot(clean.sip) as endpoint:
            with pytest.raises(CallFailed) as failed:
                await endpoint.call(f"sip:5550100@127.0.0.1:{pbx.sip_port}", ring_timeout=3)
            assert endpoint.active_calls == 0
        result = await sipp.wait(30)
    finally:
        await sipp.stop()
    assert failed.value.cause == cause, failed.value
    assert failed.value.status in statuses, failed.value
    assert result.successful == 1, result  # the trunk saw a proper end (ACK / CANCEL)
    await assert_clean(pbx)


def test_a_new_ssrc_restarts_the_jitter_buffer_even_when_its_numbers_are_lower() -> None:
    """What Asterisk did to the phone above: on going native it sent the other leg's SSRC
    with lower sequence numbers. Before the fix the bot dropped that stream as late (or as
    duplicates) until its numbers caught up, up to 100 packets (2 s) of a candidate's answer."""
    endpoint = SipEndpoint(SipConfig(listen_port=5999))
    call = SipCall(
        endpoint, direction=Direction.INBOUND, call_id="c", local_tag="t", remote_uri="sip:x@y"
    )
    call.codec = _Codec(0, g711.Codec.PCMU)
    addr = ("127.0.0.1", 4000)

    def rtp(ssrc: int, seq: int, level: int) -> bytes:
        pcm = np.full(160, level, dtype="<i2").tobytes()
        payload = g711.encode(g711.Codec.PCMU, pcm)
        return RtpPacket(0, seq, seq * 160, ssrc, payload).build()

    for seq in range(1000, 1010):  # Asterisk relaying: its own SSRC
        call._on_rtp(rtp(0xA, seq, 1000), addr)
    for _ in range(10):
        call.jitter.pop()
    for seq in range(960, 970):  # native bridge: the other leg's SSRC, 40 numbers lower
        call._on_rtp(rtp(0xB, seq, -3000), addr)
    assert call.jitter.stats.late == call.jitter.stats.duplicates == 0
    played = [np.frombuffer(call.jitter.pop()[0], dtype="<i2")[0] for _ in range(10)]
    assert min(played) < -2500  # the new source is heard
