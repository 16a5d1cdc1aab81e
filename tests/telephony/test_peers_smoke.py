"""Real softphones meet on the local kamailio: registration, routing, media, DTMF, hang-up.

baresip plays alice (the candidate), linphonec plays bob, a raw UDP socket plays carol when a
test needs to see the bytes a peer sends.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.peers import (
    Baresip,
    Linphone,
    RawSipUser,
    active_seconds,
    dominant_frequency,
    speech_wav,
    tone_wav,
)
from tests.peers.audio import wait_wav_closed, wav_seconds
from voicebot.telephony.registrar import LocalRegistrar

_TOOLS = ("kamailio", "baresip", "linphonec", "sox", "espeak-ng")
_MISSING = [tool for tool in _TOOLS if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {', '.join(_MISSING)}"),
]

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
BOB_TONE_HZ = 1000.0
SWITCH_TONE_HZ = 600.0


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "alice-voice.wav"
    return asyncio.run(speech_wav(path, "Hello, this is Alice. I am calling about the job."))


@pytest.fixture
async def registrar(tmp_path: Path) -> AsyncIterator[LocalRegistrar]:
    async with LocalRegistrar(USERS, workdir=tmp_path / "kamailio", sip_trace=True) as reg:
        yield reg


@pytest.fixture
async def alice(
    registrar: LocalRegistrar, tmp_path: Path, voice_wav: Path
) -> AsyncIterator[Baresip]:
    phone = Baresip(
        "alice", USERS["alice"], registrar, source_wav=voice_wav, workdir=tmp_path / "alice"
    )
    await phone.start()
    try:
        await phone.wait_registered(timeout=5)
        yield phone
    finally:
        await phone.stop()


@pytest.fixture
async def bob(registrar: LocalRegistrar, tmp_path: Path) -> AsyncIterator[Linphone]:
    tone = tone_wav(tmp_path / "bob-tone.wav", freq=BOB_TONE_HZ, seconds=2.0)
    phone = Linphone("bob", USERS["bob"], registrar, source_wav=tone, workdir=tmp_path / "bob")
    await phone.start()
    try:
        await phone.wait_registered(timeout=5)
        yield phone
    finally:
        await phone.stop()


def _audio_payloads(sdp: bytes) -> list[str]:
    """The encoding names offered on the audio m-line of `sdp`."""
    text = sdp.decode()
    m_line = re.search(r"^m=audio \d+ RTP/AVP ([\d ]+)\r?$", text, re.M)
    assert m_line, text
    names = dict(re.findall(r"^a=rtpmap:(\d+) ([\w-]+)/", text, re.M))
    static = {"0": "PCMU", "8": "PCMA"}
    return [names.get(pt, static.get(pt, pt)) for pt in m_line.group(1).split()]


async def test_register_needs_the_right_password(registrar: LocalRegistrar) -> None:
    async with RawSipUser("carol", USERS["carol"], (registrar.host, registrar.port)) as carol:
        assert await carol.register(password="wrong") == [401, 403]
        assert await carol.register() == [401, 200]
    async with RawSipUser("mallory", "guess", (registrar.host, registrar.port)) as mallory:
        assert await mallory.register() == [401, 403]


async def test_calls_to_unknown_or_unregistered_users_fail(alice: Baresip) -> None:
    await alice.dial(alice.uri_of("nobody"))
    assert (await alice.wait_closed(timeout=5))["param"].startswith("404")

    await alice.dial(alice.uri_of("carol"))  # known user, no phone registered
    assert (await alice.wait_closed(timeout=5))["param"].startswith("480")


async def test_peers_offer_only_the_requested_codecs(
    registrar: LocalRegistrar, alice: Baresip, bob: Linphone
) -> None:
    async with RawSipUser("carol", USERS["carol"], (registrar.host, registrar.port)) as carol:
        assert await carol.register() == [401, 200]
        for phone in (alice, bob):
            await phone.dial(phone.uri_of("carol"))
            invite = await carol.next_request("INVITE", timeout=5)
            carol.reply(invite, 486, "Busy Here")
            await phone.wait_closed(timeout=5)

            assert invite.header("Record-Route"), "kamailio must record-route"
            assert set(_audio_payloads(invite.body)) == {"PCMU", "PCMA", "telephone-event"}


async def test_baresip_calls_linphone_through_kamailio(
    alice: Baresip, bob: Linphone, tmp_path: Path
) -> None:
    await alice.dial(alice.uri_of("bob"))
    await bob.wait_incoming(timeout=5)
    await bob.answer()
    await alice.wait_established(timeout=5)
    await bob.wait_established(timeout=5)

    await asyncio.sleep(2.0)  # alice talks, bob's tone plays
    await alice.play(tone_wav(tmp_path / "switch.wav", freq=SWITCH_TONE_HZ, seconds=3.0))
    await asyncio.sleep(1.5)

    await alice.send_dtmf("5")
    assert await bob.wait_dtmf(timeout=3) == "5"
    await bob.send_dtmf("#")
    assert await alice.wait_dtmf(timeout=3) == "#"

    await bob.hangup()
    await bob.wait_closed(timeout=5)
    assert (await alice.wait_closed(timeout=5))["param"]  # closed by the remote BYE

    heard_by_bob = await wait_wav_closed(bob.record_path)
    assert active_seconds(heard_by_bob) > 1.5
    end = wav_seconds(heard_by_bob)  # alice sent the switched-to tone for the last ~2.5 s
    assert dominant_frequency(heard_by_bob, start_s=end - 1.5, end_s=end - 0.3) == pytest.approx(
        SWITCH_TONE_HZ, abs=20
    )

    recorded = alice.recorded_wav()
    assert recorded is not None
    heard_by_alice = await wait_wav_closed(recorded)
    assert active_seconds(heard_by_alice) > 2.0
    assert dominant_frequency(heard_by_alice) == pytest.approx(BOB_TONE_HZ, abs=20)


async def test_linphone_calls_baresip_and_the_callee_hangs_up(
    alice: Baresip, bob: Linphone
) -> None:
    await bob.dial(bob.uri_of("alice"))
    incoming = await alice.wait_incoming(timeout=5)
    assert incoming["peeruri"].startswith("sip:bob@")
    await alice.answer()
    await alice.wait_established(timeout=5)
    await bob.wait_established(timeout=5)
    await asyncio.sleep(0.5)

    await alice.hangup()
    assert "ended" in await bob.wait_closed(timeout=5)
    await alice.wait_closed(timeout=5)
