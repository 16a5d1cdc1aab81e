"""A call recorded over ARI ends up in the recordings directory: fetched from Asterisk's
stored recordings once the bridge is gone, written atomically, then deleted on Asterisk.
A fetch that fails is one warning line and never disturbs the call's end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.peers.ari_server import AriServer
from tests.telephony.conftest import Handler, started
from tests.telephony.test_ari import CFG, answered_call, leftovers, next_event, until
from voicebot.config import ApiConfig, Config
from voicebot.serve import make_bridge
from voicebot.telephony.ari import AriBridge, AriCall
from voicebot.telephony.base import HangupCause, HungUp

pytestmark = pytest.mark.timeout(60)

CALLER = "+15551230001"


@pytest.fixture
def rec_dir(tmp_path: Path) -> Path:
    return tmp_path / "recordings"  # not there yet: the fetch creates it


async def connected(bridge: AriBridge) -> AriBridge:
    await bridge.start()
    await asyncio.wait_for(bridge.connected.wait(), 5)
    return bridge


@pytest.fixture
async def ari(asterisk: AriServer, handler: Handler, rec_dir: Path) -> AsyncIterator[AriBridge]:
    bridge = AriBridge(replace(CFG, url=asterisk.url), handler, recordings_dir=rec_dir)  # type: ignore[arg-type]
    async with started(bridge, lambda b: b.connected):
        yield bridge


def recording_ops(asterisk: AriServer) -> list[tuple[str, str]]:
    return [(op, path) for op, path, _ in asterisk.requests if path.startswith("/ari/recordings")]


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def recorded_call(asterisk: AriServer, handler: Handler) -> tuple[object, AriCall, str]:
    ch, call = await answered_call(asterisk, handler)
    name = f"voicebot-{call.call_id}"
    await call.start_recording(name)
    return ch, call, name


async def end(asterisk: AriServer, handler: Handler, ch: object, call: AriCall, by: str) -> None:
    """The call ends normally (caller or bot hangs up) and Asterisk is left clean."""
    if by == "caller":
        await asterisk.caller_hangup(ch)  # type: ignore[arg-type]
    else:
        await call.hangup()
    ended = await next_event(call, HungUp)
    assert isinstance(ended, HungUp) and ended.cause == HangupCause.NORMAL
    assert ended.by_remote is (by == "caller")
    handler.end(call)
    await until(lambda: leftovers(asterisk) == ({}, []))


@pytest.mark.parametrize("by", ["caller", "bot"])
async def test_a_recorded_call_ends_with_asterisks_file_in_the_recordings_dir(
    asterisk: AriServer, ari: AriBridge, handler: Handler, rec_dir: Path, by: str
) -> None:
    ch, call, name = await recorded_call(asterisk, handler)
    assert recording_ops(asterisk) == []  # nothing to fetch while the call runs
    await end(asterisk, handler, ch, call, by)

    target = rec_dir / f"{call.call_id}.wav"
    # promptly: on RecordingFinished, not after the 5 s fallback wait
    await until(lambda: name in asterisk.finished and name not in asterisk.stored, timeout=3)
    await until(lambda: not ari._fetches)
    assert target.read_bytes() == asterisk.finished[name]  # byte for byte what Asterisk had
    assert target.read_bytes()[:4] == b"RIFF"
    assert files(rec_dir) == [target.name]  # no temporary file left beside it
    assert recording_ops(asterisk) == [
        ("getStoredFile", f"/ari/recordings/stored/{name}/file"),
        ("deleteStored", f"/ari/recordings/stored/{name}"),
    ]
    assert asterisk.rejected == []  # fetched after RecordingFinished, never before: no 404
    assert not ari._fetches and not ari._recording_done


async def test_keep_recordings_leaves_the_stored_recording_on_asterisk(
    asterisk: AriServer, handler: Handler, rec_dir: Path
) -> None:
    cfg = replace(CFG, url=asterisk.url, keep_recordings=True)
    async with AriBridge(cfg, handler, recordings_dir=rec_dir) as bridge:  # type: ignore[arg-type]
        await asyncio.wait_for(bridge.connected.wait(), 5)
        ch, call, name = await recorded_call(asterisk, handler)
        await end(asterisk, handler, ch, call, "caller")
        await until(lambda: (rec_dir / f"{call.call_id}.wav").exists(), timeout=10)
        await until(lambda: not bridge._fetches)
    assert (rec_dir / f"{call.call_id}.wav").read_bytes() == asterisk.stored[name]
    assert [op for op, _ in recording_ops(asterisk)] == ["getStoredFile"]


async def test_a_call_that_did_not_record_fetches_nothing(
    asterisk: AriServer, ari: AriBridge, handler: Handler, rec_dir: Path
) -> None:
    ch, call = await answered_call(asterisk, handler)
    await end(asterisk, handler, ch, call, "caller")
    await asyncio.sleep(0.5)  # longer than the test Asterisk takes to finalise a recording
    assert recording_ops(asterisk) == [] and not ari._fetches
    assert asterisk.finished == {} and files(rec_dir) == []


async def test_without_a_recordings_dir_the_recording_stays_on_asterisk(
    asterisk: AriServer, handler: Handler
) -> None:
    async with AriBridge(replace(CFG, url=asterisk.url), handler) as bridge:  # type: ignore[arg-type]
        await asyncio.wait_for(bridge.connected.wait(), 5)
        ch, call, name = await recorded_call(asterisk, handler)
        await end(asterisk, handler, ch, call, "caller")
        await until(lambda: name in asterisk.stored)
        await asyncio.sleep(0.2)
    assert recording_ops(asterisk) == []


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("missing", "HTTP 404"),
        ("unreadable", "HTTP 403"),
        ("cut", "payload"),
        ("stall", "TimeoutError"),
    ],
)
async def test_a_failed_fetch_is_one_warning_and_the_call_still_ends_normally(
    asterisk: AriServer,
    ari: AriBridge,
    handler: Handler,
    rec_dir: Path,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    why: str,
) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.telephony.ari")
    asterisk.recording_fault = fault
    ari.fetch_timeout_s = 1.5
    ch, call, name = await recorded_call(asterisk, handler)
    await end(asterisk, handler, ch, call, "caller")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    await until(lambda: bool(warnings()), timeout=10)
    await until(lambda: not ari._fetches)
    [line] = warnings()
    assert line.startswith(f"call {call.call_id}: recording not fetched from Asterisk")
    assert why.lower() in line.lower()
    assert CALLER not in line and CALLER[1:] not in line  # never the phone number
    assert files(rec_dir) == []  # neither the recording nor a partial temporary file
    assert not (rec_dir / f"{call.call_id}.wav").exists()
    assert [op for op, _ in recording_ops(asterisk)] == ["getStoredFile"]  # no delete
    assert fault == "missing" or name in asterisk.stored  # still on Asterisk, to fetch by hand
    assert not ari.calls


async def test_a_stalled_fetch_does_not_hold_up_other_calls(
    asterisk: AriServer, ari: AriBridge, handler: Handler, rec_dir: Path
) -> None:
    asterisk.recording_fault = "stall"
    ari.fetch_timeout_s = 30  # the fetch hangs for the whole test
    ari.shutdown_grace_s = 0.2
    ch, call, _ = await recorded_call(asterisk, handler)
    await end(asterisk, handler, ch, call, "caller")
    await until(lambda: any(op == "getStoredFile" for op, _ in recording_ops(asterisk)))

    ch2, call2 = await answered_call(asterisk, handler)
    async with asyncio.timeout(2):
        await end(asterisk, handler, ch2, call2, "bot")
    assert ari._fetches  # the first call's fetch is still stuck meanwhile
    assert not (rec_dir / f"{call.call_id}.wav").exists()


async def test_stop_cancels_a_stuck_fetch_and_leaves_no_partial_file(
    asterisk: AriServer, handler: Handler, rec_dir: Path
) -> None:
    asterisk.recording_fault = "stall"
    bridge = await connected(
        AriBridge(replace(CFG, url=asterisk.url), handler, recordings_dir=rec_dir)  # type: ignore[arg-type]
    )
    bridge.shutdown_grace_s = 0.5
    ch, call, _ = await recorded_call(asterisk, handler)
    await end(asterisk, handler, ch, call, "caller")
    await until(lambda: any(op == "getStoredFile" for op, _ in recording_ops(asterisk)))
    await until(lambda: files(rec_dir) != [])  # the temporary file is being written
    async with asyncio.timeout(5):
        await bridge.stop()
    await until(lambda: files(rec_dir) == [])


def test_serve_hands_the_api_recordings_dir_to_the_ari_bridge(tmp_path: Path) -> None:
    cfg = Config(bridge="ari", api=ApiConfig(recordings_dir=str(tmp_path / "rec")))
    bridge = make_bridge(cfg, None)
    assert isinstance(bridge, AriBridge)
    assert bridge.recordings_dir == tmp_path / "rec"
