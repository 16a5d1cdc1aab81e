"""The PBX bridges under hostile input, on loopback, counted as `harness.FuzzReport`s.

- ARI: hostile text frames over the test Asterisk's real `/ari/events` websocket while a call
  is up; every `probe_every` frames a good DTMF event for that call must reach it.
- AGI: one FastAGI connection per input on 127.0.0.1 (a hostile environment, or a good one
  with hostile replies to the commands voicebot sends); voicebot must end each session.
- AMI / ESL: hostile messages on the manager / event socket voicebot is logged in to; after
  each, a Ping (AMI) or `api status` (ESL) must be answered, on the same connection or, if the
  input broke the framing, after one reconnect, with one warning line for it.

Deserving requests are the probes (ARI, AMI, ESL) and the sessions (AGI). A bridge task that
ends (the event reader, the AMI login loop) is a death.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from tests.peers.ami_peer import BANNER
from tests.peers.ari_server import AriServer
from tests.robustness.harness import FuzzReport, counting_tracebacks
from tests.robustness.telephony_lines import (
    agi_env_inputs,
    agi_good_reply,
    agi_reply,
    ami_inputs,
    ami_message,
    ari_inputs,
    esl_frame,
    esl_inputs,
)
from voicebot.config import AgiConfig, AriConfig, FreeswitchConfig, SipConfig
from voicebot.telephony import agi, freeswitch
from voicebot.telephony.agi import AgiBridge
from voicebot.telephony.ari import AriBridge, AriCall
from voicebot.telephony.base import Call, Dtmf
from voicebot.telephony.bridges import Backoff
from voicebot.telephony.freeswitch import FreeswitchBridge

PROBE_S = 0.3  # a probe unanswered this long (loopback: ~1 ms) is unanswered there
RECONNECT_S = 5.0


@dataclass
class PbxReport(FuzzReport):
    reconnects: int = 0  # the peer dropped the connection after a probe went unanswered
    warnings: int = 0  # WARNING lines from voicebot.telephony
    task_deaths: int = 0  # bridge tasks (event reader, login loop) that ended


class _Warnings(logging.Handler):
    def __init__(self, report: PbxReport) -> None:
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING and record.name.startswith("voicebot.telephony"):
            self.report.warnings += 1


@contextlib.contextmanager
def counting(report: PbxReport) -> Iterator[None]:
    handler = _Warnings(report)
    logging.getLogger("voicebot").addHandler(handler)
    try:
        with counting_tracebacks(report):
            yield
    finally:
        logging.getLogger("voicebot").removeHandler(handler)


@contextlib.contextmanager
def fast_backoff(*modules: Any) -> Iterator[None]:
    """Reconnect at once: the reconnect delay is not what is under test."""
    saved = [m.Backoff for m in modules]
    for m in modules:
        m.Backoff = lambda: Backoff(first=0.01, ceiling=0.05)
    try:
        yield
    finally:
        for m, b in zip(modules, saved, strict=True):
            m.Backoff = b


async def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not predicate():  # noqa: ASYNC110 (state in another task)
                await asyncio.sleep(0.01)
    return predicate()


def _example(report: FuzzReport, text: str) -> None:
    if len(report.examples) < 5:
        report.examples.append(text[:300])


# ARI -------------------------------------------------------------------------------------

ARI_CFG = AriConfig(password="secret", rtp_port_min=34000, rtp_port_max=34999)


async def fuzz_ari(n: int, seed: int, *, probe_every: int = 10) -> PbxReport:
    report = PbxReport("ari")
    rng = random.Random(seed)
    calls: asyncio.Queue[AriCall] = asyncio.Queue()
    release = asyncio.Event()

    async def take(call: Call) -> None:
        calls.put_nowait(call)  # type: ignore[arg-type]
        await release.wait()

    asterisk = AriServer(password="secret")
    with counting(report):
        await asterisk.start()
        bridge = AriBridge(replace(ARI_CFG, url=asterisk.url), take)
        await bridge.start()
        try:
            await asyncio.wait_for(bridge.connected.wait(), 5)
            ch = await asterisk.ring_in()
            call = await asyncio.wait_for(calls.get(), 5)
            heard: set[int] = set()

            async def listen() -> None:
                async for ev in call.events():
                    if isinstance(ev, Dtmf):
                        heard.add(ev.duration_ms)

            listener = asyncio.create_task(listen())
            for i, text in enumerate(ari_inputs(rng, n, ch.id)):
                report.inputs += 1
                await asterisk.send_raw(text)
                if i % probe_every == 0:
                    report.deserving += 1
                    probe = 100_000 + i
                    await asterisk.send_event(
                        "ChannelDtmfReceived", digit="1", duration_ms=probe, channel=ch.to_json()
                    )
                    if await _wait(lambda p=probe: p in heard, PROBE_S):  # type: ignore[misc]
                        report.answered += 1
                    else:
                        _example(report, f"probe {probe} unheard after: {text[:200]!r}")
            listener.cancel()
            report.reconnects = len(asterisk.ws_close_codes)
            report.task_deaths = int(bridge._events_task is None or bridge._events_task.done())
            ch2 = await asterisk.ring_in("+15551230002")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(calls.get(), 5)
                report.alive = not call.ended and report.task_deaths == 0
            report.alive = report.alive and ch2.state == "Up"
        finally:
            release.set()
            await bridge.stop()
            await asterisk.stop()
    return report


# FastAGI ---------------------------------------------------------------------------------


async def fuzz_agi(n: int, seed: int, *, session_s: float = 3.0) -> PbxReport:
    """One connection per input; the session must end (voicebot closes it) within `session_s`."""
    report = PbxReport("agi")
    rng = random.Random(seed)

    async def take(call: Call) -> None:
        return None

    cfg = AgiConfig(ami_username="", agi_port=0, audiosocket_port=0)
    bridge = AgiBridge(cfg, take)
    timeout, agi.AGI_COMMAND_TIMEOUT = agi.AGI_COMMAND_TIMEOUT, 0.5  # a PBX gone quiet
    with counting(report):
        await bridge.start()
        try:
            for _ in range(n):
                report.inputs += 1
                report.deserving += 1
                env, good = agi_env_inputs(rng, bridge.agi_port)
                ended = await _agi_session(bridge.agi_port, env, good, rng, session_s)
                report.answered += ended
                if not ended:
                    _example(report, f"session not ended: {env[:120]!r}")
            report.alive = await _agi_session(
                bridge.agi_port, *agi_env_inputs(random.Random(2), bridge.agi_port),
                random.Random(0), session_s,
            )  # fmt: skip
            leaked = len(bridge.audiosocket._expected)
            if leaked:
                report.alive = False
                _example(report, f"{leaked} AudioSocket UUIDs still expected")
        finally:
            agi.AGI_COMMAND_TIMEOUT = timeout
            await bridge.stop()
    return report


async def _agi_session(
    port: int, env: bytes, good: bool, rng: random.Random, session_s: float
) -> bool:
    """True if voicebot closed the session within `session_s`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        async with asyncio.timeout(session_s):
            writer.write(env)
            if not good:
                writer.write_eof()
            while command := await reader.readline():
                reply = agi_reply(rng, agi_good_reply(command.decode()))
                if good and not reply.endswith(b"\n"):
                    writer.write(reply)
                    writer.write_eof()
                    good = False
                elif good:
                    writer.write(reply)
                await writer.drain()
        return True
    except OSError:  # reset: voicebot closed it while the PBX was still talking
        return True
    except TimeoutError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


# AMI and ESL: a peer that says what it is told to --------------------------------------


class _HostilePeer:
    """A loopback server for one client at a time: `inject` bytes, `drop` the connection."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def inject(self, data: bytes) -> None:
        if self.writer is not None:
            with contextlib.suppress(ConnectionError):
                self.writer.write(data)
                await self.writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.drop()
        self.writer = writer
        self.connections += 1
        try:
            await self.converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class _HostileAmi(_HostilePeer):
    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        while block := await reader.readuntil(b"\r\n\r\n"):
            action = dict(
                line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line
            )
            aid = action.get("ActionID", "")
            if action.get("Action") == "Login":
                writer.write(ami_message(Response="Success", ActionID=aid,
                                         Message="Authentication accepted"))  # fmt: skip
                writer.write(ami_message(Event="FullyBooted", Privilege="system,all"))
            else:
                writer.write(ami_message(Response="Success", ActionID=aid, Ping="Pong"))
            await writer.drain()


async def fuzz_ami(n: int, seed: int) -> PbxReport:
    report = PbxReport("ami")
    rng = random.Random(seed)
    peer = _HostileAmi()
    with counting(report), fast_backoff(agi):
        await peer.start()
        cfg = AgiConfig(ami_port=peer.port, ami_password="secret", agi_port=0, audiosocket_port=0)
        bridge = AgiBridge(cfg)
        await bridge.start()
        try:
            await asyncio.wait_for(bridge.logged_in.wait(), 5)

            async def ping() -> bool:
                ami = bridge._ami
                if ami is None or not bridge.logged_in.is_set():
                    return False
                with contextlib.suppress(TimeoutError, Exception):
                    reply = await asyncio.wait_for(ami.send_action({"Action": "Ping"}), PROBE_S)
                    return str(reply.get("Ping", "")) == "Pong"
                return False

            inputs = ami_inputs(rng, n)
            await _inject_and_probe(report, peer, inputs, bridge.logged_in, ping, "Ping")
            report.task_deaths = int(bridge._ami_task is None or bridge._ami_task.done())
            report.alive = report.task_deaths == 0 and await ping()
        finally:
            await bridge.stop()
            await peer.stop()
    return report


async def _inject_and_probe(
    report: PbxReport,
    peer: _HostilePeer,
    inputs: Iterable[bytes],
    ready: asyncio.Event,
    probe: Callable[[], Any],
    what: str,
) -> None:
    """Each input sent on the live connection, then `probe` must be answered: at once, or
    after one reconnect."""
    for data in inputs:
        report.inputs += 1
        report.deserving += 1
        since = peer.connections
        await peer.inject(data)
        if await probe() or await _after_reconnect(report, peer, ready, probe, since):
            report.answered += 1
        else:
            _example(report, f"{what} unanswered after {data[:200]!r}")


async def _after_reconnect(
    report: PbxReport,
    peer: _HostilePeer,
    ready: asyncio.Event,
    probe: Callable[[], Any],
    since: int,
) -> bool:
    """The probe went unanswered after the input sent on connection `since`. If voicebot
    has not hung up by itself (it saw nothing wrong), the peer hangs up, as a restarted PBX
    would. Either way voicebot must be back, and answered, within RECONNECT_S."""
    report.reconnects += 1
    if peer.connections == since and ready.is_set():
        peer.drop()
    back = await _wait(lambda: peer.connections > since and ready.is_set(), RECONNECT_S)
    return back and bool(await probe())


class _HostileEsl(_HostilePeer):
    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(esl_frame("auth/request"))
        while block := await reader.readuntil(b"\n\n"):
            command = block.decode().strip()
            if command.startswith("auth "):
                writer.write(esl_frame("command/reply", extra=["Reply-Text: +OK accepted"]))
            elif command.startswith("api "):
                writer.write(esl_frame("api/response", b"+OK UP\n"))
            else:
                writer.write(esl_frame("command/reply", extra=["Reply-Text: +OK"]))
            await writer.drain()


async def fuzz_esl(n: int, seed: int) -> PbxReport:
    report = PbxReport("esl")
    rng = random.Random(seed)
    peer = _HostileEsl()
    with counting(report), fast_backoff(freeswitch):
        await peer.start()
        cfg = FreeswitchConfig(port=peer.port)
        bridge = FreeswitchBridge(cfg, SipConfig(listen_host="127.0.0.1", listen_port=0))
        await bridge.start()
        try:
            await asyncio.wait_for(bridge.connected.wait(), 5)

            async def status() -> bool:
                if not bridge.connected.is_set():
                    return False
                with contextlib.suppress(TimeoutError, Exception):
                    _, body = await asyncio.wait_for(bridge.command("api status"), PROBE_S)
                    return body.startswith("+OK UP")
                return False

            inputs = (data for data, _in_frame in esl_inputs(rng, n))
            await _inject_and_probe(report, peer, inputs, bridge.connected, status, "api status")
            report.task_deaths = int(bridge._task is None or bridge._task.done())
            report.alive = report.task_deaths == 0 and await status()
        finally:
            await bridge.stop()
            await peer.stop()
    return report


PBX_TARGETS = {"ari": fuzz_ari, "agi": fuzz_agi, "ami": fuzz_ami, "esl": fuzz_esl}
