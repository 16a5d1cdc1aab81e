"""The agi bridge (AMI + FastAGI + AudioSocket) against the real Asterisk 22.10
(tests/asterisk/pbx.py, configured from `voicebot asterisk snippet`), with SIPp as the phones:
a call to 7000 runs the snippet's AGI line and reaches voicebot over AudioSocket with audio
both ways; AMI Originate to a phone that answers, is busy (486), declines (603) or rings out
comes back answered, busy (17), rejected (21), no_answer (19); 50 inbound calls in bursts of
5 are all set up, none dropped; `voicebot doctor` passes on it and names both causes of a
refused AMI login. After each, no channel or bridge is left on Asterisk.

SIPp's `-rtp_echo` sends back every RTP packet it gets, so the bot hearing its own tone proves
both directions: bot -> AudioSocket -> Asterisk -> RTP -> phone, and back.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tests.asterisk.pbx import EXTENSION, Pbx, available
from tests.asterisk.sipp import CALLEES, CALLER, REFUSALS, Sipp, start_sipp
from tests.telephony.test_audiosocket import dominant_hz, tone
from voicebot.config import Config
from voicebot.telephony.agi import AgiBridge
from voicebot.telephony.ari import AriBridge
from voicebot.telephony.audiosocket import AudioSocketCall
from voicebot.telephony.base import CallFailed, HangupCause, HungUp
from voicebot.telephony.doctor import pbx_checks

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not available(), reason="no real Asterisk (../shared/asterisk)"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
    pytest.mark.timeout(300),
]

# a second AMI user whose permit leaves voicebot's 127.0.0.1 out: Asterisk refuses it with the
# same "Authentication failed" as a wrong secret
ACL_USER = """
[acl-refused]
secret = acl-refused-secret
deny = 0.0.0.0/0.0.0.0
permit = 192.0.2.1/255.255.255.255
read = call
write = originate
"""


BOT_HZ = 650.0


@dataclass
class Heard:
    """What the bot's side of one call saw."""

    call_id: str
    variables: dict[str, str]
    hz: float  # dominant frequency of what came back (the phone echoes the bot's tone)
    by_remote: bool | None
    seconds: float


@dataclass
class Bot:
    """The interview side: speaks a tone until the call ends, keeps what it heard."""

    calls: list[Heard] = field(default_factory=list)
    started: asyncio.Queue[AudioSocketCall] = field(default_factory=asyncio.Queue)

    async def __call__(self, call: AudioSocketCall) -> None:
        self.started.put_nowait(call)
        await self.talk(call)

    async def talk(self, call: AudioSocketCall) -> Heard:
        heard = bytearray()

        async def speak() -> None:
            pcm = tone(BOT_HZ, 30)
            for i in range(0, len(pcm), 320):
                await call.send(pcm[i : i + 320])

        speaker = asyncio.create_task(speak())
        try:
            async for frame in call.frames():
                heard += frame
        finally:
            speaker.cancel()
        ended = [e async for e in call.events() if isinstance(e, HungUp)]
        result = Heard(
            call.call_id,
            dict(call.variables),
            # skip the first 0.25 s (echo delay)
            dominant_hz(echo) if len(echo := bytes(heard[8000:])) >= 1600 else 0.0,
            ended[-1].by_remote if ended else None,
            len(heard) / 16000,
        )
        self.calls.append(result)
        return result


# -- the Asterisk, the bridge, the bot ------------------------------------------------------


@dataclass
class Setup:
    pbx: Pbx
    cfg: Config
    workdir: Path


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One Asterisk for this module, configured from the snippet for the agi bridge."""
    root = tmp_path_factory.mktemp("asterisk-agi")
    pbx = Pbx(root)
    cfg = pbx.voicebot_config("agi", ari={"amd_context": "voicebot-amd"})
    try:
        pbx.start(cfg, extra={"manager.conf": ACL_USER})
        yield Setup(pbx, cfg, root)
    finally:
        pbx.cleanup()


@pytest.fixture
def clean(asterisk: Setup) -> Iterator[Pbx]:
    """The Asterisk, checked empty after the test (and emptied if the test failed)."""
    yield asterisk.pbx
    left = asterisk.pbx.wait_clean()
    if left:
        asterisk.pbx.hangup_all()
    assert not left, f"left on Asterisk: {left}"


@pytest.fixture
async def bridge(asterisk: Setup) -> AsyncIterator[tuple[AgiBridge, Bot]]:
    bot = Bot()
    b = AgiBridge(asterisk.cfg.agi, bot)  # type: ignore[arg-type]
    await b.start()
    try:
        await asyncio.wait_for(b.logged_in.wait(), 10)
        yield b, bot
    finally:
        await b.stop()


async def _sipp(setup: Setup, name: str, scenario: str, *args: str) -> Sipp:
    return await start_sipp(setup.workdir, name, scenario, *args)


def _caller(setup: Setup, calls: int, talk_ms: int) -> tuple[str, list[str]]:
    """SIPp calling 7000 as the phone endpoint: `calls` of them, all within 100 ms."""
    n = str(calls)
    return CALLER.format(talk_ms=talk_ms), [
        f"127.0.0.1:{setup.pbx.sip_port}",
        "-s",
        EXTENSION,
        "-m",
        n,
        "-l",
        n,
        "-r",
        n,
        "-rp",
        "100",
    ]


# -- tests ----------------------------------------------------------------------------------


async def test_a_phone_calling_7000_reaches_the_bot_over_fastagi_and_audiosocket(
    asterisk: Setup, clean: Pbx, bridge: tuple[AgiBridge, Bot]
) -> None:
    _, bot = bridge
    scenario, args = _caller(asterisk, 1, talk_ms=3000)
    sipp = await _sipp(asterisk, "caller", scenario, *args)
    try:
        result = await sipp.wait()
    finally:
        await sipp.stop()
    await _until(lambda: len(bot.calls) == 1)
    (heard,) = bot.calls
    assert result.successful == 1 and result.failed == 0
    assert abs(heard.hz - BOT_HZ) < 20, heard  # the phone heard the bot (and echoed it)
    assert heard.by_remote is True  # the phone's BYE ended it
    assert heard.variables["agi_extension"] == EXTENSION
    assert heard.variables["agi_version"].startswith("22.")


@pytest.mark.parametrize(("callee", "cause", "q850"), REFUSALS)
async def test_ami_originate_to_a_phone_that_does_not_take_the_call(
    asterisk: Setup,
    clean: Pbx,
    bridge: tuple[AgiBridge, Bot],
    callee: str,
    cause: HangupCause,
    q850: int,
) -> None:
    """Asterisk 22 answers Reason 0 for 486 and 603; the cause is the channel's Hangup."""
    b, _ = bridge
    sipp = await _sipp(asterisk, callee, CALLEES[callee], "-m", "1")
    try:
        with pytest.raises(CallFailed) as failed:
            await b.dial(f"callee@127.0.0.1:{sipp.sip_port}", ring_timeout=3)
        result = await sipp.wait()
    finally:
        await sipp.stop()
    assert (failed.value.cause, failed.value.status) == (cause, q850), failed.value
    assert result.successful == 1, result  # the phone saw a proper end (ACK / CANCEL)


async def test_ami_originate_to_a_phone_that_answers(
    asterisk: Setup, clean: Pbx, bridge: tuple[AgiBridge, Bot]
) -> None:
    b, bot = bridge
    sipp = await _sipp(asterisk, "answer", CALLEES["answer"], "-m", "1")
    try:
        call = await b.dial(
            f"callee@127.0.0.1:{sipp.sip_port}", variables={"CANDIDATE_ID": "c-1"}, ring_timeout=5
        )
        talking = asyncio.create_task(bot.talk(call))
        await asyncio.sleep(2.0)
        await call.hangup()  # the bot ends it: Asterisk sends the phone a BYE
        heard = await asyncio.wait_for(talking, 10)
        result = await sipp.wait()
    finally:
        await sipp.stop()
    assert call.variables == {"CANDIDATE_ID": "c-1"}
    assert abs(heard.hz - BOT_HZ) < 20, heard
    assert heard.by_remote is False
    assert result.successful == 1, result


async def test_fifty_inbound_calls_in_bursts_of_five_are_all_set_up(
    asterisk: Setup, clean: Pbx, bridge: tuple[AgiBridge, Bot], capsys: pytest.CaptureFixture[str]
) -> None:
    _, bot = bridge
    bursts, size = 10, 5
    phone_ok = phone_failed = 0
    started = time.monotonic()
    for _ in range(bursts):
        scenario, args = _caller(asterisk, size, talk_ms=2000)
        sipp = await _sipp(asterisk, "burst", scenario, *args)
        try:
            result = await sipp.wait()
        finally:
            await sipp.stop()
        phone_ok += result.successful
        phone_failed += result.failed
    await _until(lambda: len(bot.calls) >= phone_ok + phone_failed, 10)
    set_up = sum(abs(h.hz - BOT_HZ) < 20 for h in bot.calls)
    dropped = phone_failed + sum(h.by_remote is not True for h in bot.calls)
    with capsys.disabled():
        print(
            f"\nagi bridge, real Asterisk: {bursts * size} inbound calls in bursts of {size}: "
            f"{set_up} interviews set up (audio both ways), {dropped} dropped, "
            f"phones {phone_ok} ok / {phone_failed} failed, {time.monotonic() - started:.1f} s"
        )
    assert (set_up, dropped, phone_ok) == (bursts * size, 0, bursts * size)


async def test_doctor_passes_on_the_snippets_asterisk(asterisk: Setup) -> None:
    agi = await pbx_checks(asterisk.cfg, "agi")
    ari = await pbx_checks(asterisk.cfg, "ari")
    assert all(ok for _, ok, _ in agi + ari), agi + ari
    assert [name for name, _, _ in agi] == ["ami login", "dialplan contexts"]
    assert [name for name, _, _ in ari] == ["ari http", "ari app", "ari amd", "dialplan contexts"]
    port = asterisk.cfg.agi.agi_port
    assert f"7000@from-candidates runs AGI(agi://127.0.0.1:{port}/interview)" in agi[1][2]
    assert "voicebot-amd, voicebot-transfer present" in ari[3][2]


@pytest.mark.parametrize("refusal", ["secret", "acl"])
async def test_a_refused_ami_login_names_both_causes(asterisk: Setup, refusal: str) -> None:
    """Asterisk 22 answers a wrong secret and a refused permit with the same bytes."""
    agi = (
        replace(asterisk.cfg.agi, ami_password="wrong")
        if refusal == "secret"
        else replace(
            asterisk.cfg.agi, ami_username="acl-refused", ami_password="acl-refused-secret"
        )
    )
    offset = asterisk.pbx.log_size()
    (login, dialplan) = await pbx_checks(replace(asterisk.cfg, agi=agi), "agi")
    assert login[1] is False and dialplan[1] is None
    assert "agi.ami_username/agi.ami_password" in login[2]
    assert "permit= does not cover 127.0.0.1" in login[2]
    await _until(lambda: "failed to authenticate" in asterisk.pbx.log_since(offset), 5)
    acl_in_log = "failed to pass IP ACL" in asterisk.pbx.log_since(offset)
    assert acl_in_log == (refusal == "acl")  # only Asterisk's log tells them apart


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_doctor_on_ari_names_a_wrong_password_and_leaves_a_connected_app_alone(
    asterisk: Setup,
) -> None:
    wrong = replace(asterisk.cfg, ari=replace(asterisk.cfg.ari, password="wrong"))
    (http,) = await pbx_checks(wrong, "ari")
    assert http[1] is False and "HTTP 401" in http[2] and "ari.password" in http[2]
    async with AriBridge(asterisk.cfg.ari) as ari:  # voicebot is connected: the app is its
        await asyncio.wait_for(ari.connected.wait(), 10)
        checks = {name: (ok, detail) for name, ok, detail in await pbx_checks(asterisk.cfg, "ari")}
        assert checks["ari app"] == (
            True,
            "Stasis app 'voicebot' registered (voicebot is connected)",
        )
        assert ari.connected.is_set()
