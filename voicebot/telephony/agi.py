"""Asterisk without ARI: AMI (panoramisk) places calls, FastAGI (panoramisk's request object)
receives the calls the dialplan sends, and the AudioSocket server carries the audio.

Outbound: AMI `Originate` into `agi.context`, whose dialplan runs
`AudioSocket(${VOICEBOT_UUID},host:port)`; the call is answered when that socket connects,
failed when `OriginateResponse` says so (busy, no answer, congestion). Inbound: the dialplan
runs `AGI(agi://voicebot/interview)`; voicebot reads the `agi_*` environment, answers and
hands the channel to `AudioSocket` with a fresh UUID. The AMI session logs in again with
backoff after a drop; a wrong host or secret is one log line, then quiet retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from panoramisk import Manager
from panoramisk.fast_agi import Request
from panoramisk.message import Message

from voicebot.config import AgiConfig
from voicebot.pii import redact
from voicebot.telephony.audiosocket import AudioSocketCall, AudioSocketServer, Expected
from voicebot.telephony.base import CallFailed, Direction, HangupCause, IncomingHandler
from voicebot.telephony.bridges import Backoff

log = logging.getLogger(__name__)

AGI_HEADER_LIMIT = 16384  # an agi_* environment is well under 2 kB
AGI_HEADER_TIMEOUT = 5.0
# OriginateResponse "Reason" codes (Asterisk's AST_CONTROL_* values)
ORIGINATE_REASONS = {
    0: HangupCause.FAILED,  # no such extension / channel could not be created
    1: HangupCause.REJECTED,  # hung up before answering
    3: HangupCause.NO_ANSWER,  # rang out
    5: HangupCause.BUSY,
    8: HangupCause.FAILED,  # congestion
}


class _Ami(Manager):  # type: ignore[misc]
    """panoramisk's Manager, with reconnection left to `AgiBridge` (one line per problem)."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.lost = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self.lost.set()


class AgiBridge:
    """`Bridge` over AMI + FastAGI + AudioSocket."""

    name = "agi"

    def __init__(self, cfg: AgiConfig, on_incoming: IncomingHandler | None = None) -> None:
        self.cfg = cfg
        self.on_incoming = on_incoming
        self.audiosocket = AudioSocketServer(
            cfg.audiosocket_host, cfg.audiosocket_port, on_incoming
        )  # type: ignore[arg-type]
        self.logged_in = asyncio.Event()
        self.agi_port = cfg.agi_port
        self.agi_garbage = 0  # FastAGI connections dropped for a bad environment
        self._ami: _Ami | None = None
        self._ami_task: asyncio.Task[None] | None = None
        self._agi_server: asyncio.Server | None = None
        self._last_error = ""

    @property
    def audiosocket_address(self) -> str:
        return self.cfg.audiosocket_public or f"{self.audiosocket.host}:{self.audiosocket.port}"

    async def start(self) -> None:
        await self.audiosocket.start()
        self._agi_server = await asyncio.start_server(
            self._agi_connection, self.cfg.agi_host, self.cfg.agi_port, limit=AGI_HEADER_LIMIT
        )
        self.agi_port = self._agi_server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%d", self.cfg.agi_host, self.agi_port)
        if self.cfg.ami_password or self.cfg.ami_username:
            self._ami_task = asyncio.create_task(self._ami_loop(), name="ami")

    async def stop(self) -> None:
        if self._ami_task is not None:
            self._ami_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ami_task
        if self._ami is not None:
            self._ami.close()
        await self.audiosocket.stop()
        if self._agi_server is not None:
            self._agi_server.close()
            await self._agi_server.wait_closed()

    async def __aenter__(self) -> AgiBridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # AMI ----------------------------------------------------------------------------------

    async def _ami_loop(self) -> None:
        backoff = Backoff()
        where = f"AMI at {self.cfg.ami_host}:{self.cfg.ami_port}"
        while True:
            ami = _Ami(
                host=self.cfg.ami_host,
                port=self.cfg.ami_port,
                username=self.cfg.ami_username,
                secret=self.cfg.ami_password,
                loop=asyncio.get_running_loop(),
                ping_delay=30,
            )
            try:
                if await self._login(ami):
                    self._ami = ami
                    backoff.reset()
                    self._problem("")
                    self.logged_in.set()
                    log.info("%s: logged in as %r", where, self.cfg.ami_username)
                    await ami.lost.wait()
                    self._problem(f"{where}: connection lost")
                else:
                    self._problem(
                        f"{where}: login refused for user {self.cfg.ami_username!r} "
                        "(check agi.ami_username/agi.ami_password and manager.conf)"
                    )
            except (OSError, TimeoutError) as e:
                self._problem(f"{where} unreachable: {e}")
            finally:
                self.logged_in.clear()
                ami.close()
                self._ami = None
            await asyncio.sleep(backoff.next())

    async def _login(self, ami: _Ami) -> bool:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            transport, protocol = await loop.create_connection(
                ami.config["protocol_factory"], self.cfg.ami_host, self.cfg.ami_port
            )
            connected: asyncio.Future[Any] = loop.create_future()
            connected.set_result((transport, protocol))
            ami.connection_made(connected)
            resp = await ami.authenticated_future
        return bool(resp.success)

    def _problem(self, line: str) -> None:
        if line and line != self._last_error:
            log.warning("%s; retrying with backoff", line)
        self._last_error = line

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> AudioSocketCall:
        """Originate through AMI; the call is answered when its AudioSocket connects."""
        if self._ami is None:
            raise CallFailed(HangupCause.FAILED, None, "not logged in to AMI")
        loop = asyncio.get_running_loop()
        connected: asyncio.Future[AudioSocketCall] = loop.create_future()
        expected = Expected(dict(variables), number, Direction.OUTBOUND, connected)
        call_uuid = self.audiosocket.expect(expected)
        chan_vars = {"VOICEBOT_UUID": call_uuid, "VOICEBOT_AUDIOSOCKET": self.audiosocket_address}
        chan_vars.update(variables)
        try:
            # Async: panoramisk resolves this with [queued reply, OriginateResponse event]
            response = self._ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": self.cfg.channel.format(number=number),
                    "Context": self.cfg.context,
                    "Exten": "s",
                    "Priority": "1",
                    "Timeout": str(int(ring_timeout * 1000)),
                    "Async": "true",
                    "Variable": [f"{k}={v}" for k, v in chan_vars.items()],
                }
            )
            async with asyncio.timeout(ring_timeout + 10):
                done, _ = await asyncio.wait(
                    {connected, response}, return_when=asyncio.FIRST_COMPLETED
                )
                if connected not in done:
                    _raise_unless_answered(response.result())
                call = await connected  # answered: the dialplan connects the AudioSocket
        except TimeoutError:
            raise CallFailed(HangupCause.NO_ANSWER, None, "no answer in time") from None
        finally:
            self.audiosocket.forget(call_uuid)
        log.info("AMI call %s answered (%s)", call.call_id, redact(number))
        return call

    # FastAGI ------------------------------------------------------------------------------

    async def _agi_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One `AGI(agi://…)` request. panoramisk's own accept loop spins forever on a socket
        that closes before the blank line, so the environment is read here, bounded."""
        try:
            async with asyncio.timeout(AGI_HEADER_TIMEOUT):
                raw = await reader.readuntil(b"\n\n")
            env = _parse_agi_env(raw.decode("utf-8", "replace"))
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
            ConnectionError,
        ) as e:
            self.agi_garbage += 1
            log.warning(
                "FastAGI: dropped a connection without a valid agi_* environment (%s)",
                type(e).__name__ if not str(e) else e,
            )
            writer.close()
            return
        request = Request(app=None, headers=env, reader=reader, writer=writer)
        try:
            await self._agi_call(request, env)
        except asyncio.CancelledError:
            pass  # voicebot is stopping; closing the socket ends the AGI session
        except Exception:
            log.exception("FastAGI request for %s failed", env.get("agi_network_script", "?"))
        finally:
            writer.close()

    async def _agi_call(self, request: Request, env: Mapping[str, str]) -> None:
        """Answer and hand the channel over to AudioSocket; returns when that call ends."""
        variables = {k: v for k, v in env.items() if not k.startswith("agi_arg_")}
        for key in ("CANDIDATE_ID", "JOB_ID"):
            result = await request.send_command(f"GET VARIABLE {key}")
            if result.get("result", ("0",))[0] == "1":
                variables[key] = result["result"][1]
        remote = env.get("agi_callerid", "unknown")
        call_uuid = self.audiosocket.expect(Expected(variables, remote, Direction.INBOUND))
        await request.send_command("ANSWER")
        log.info("FastAGI: %s handed to AudioSocket %s", redact(remote), call_uuid)
        await request.send_command(f"EXEC AudioSocket {call_uuid},{self.audiosocket_address}")
        self.audiosocket.forget(call_uuid)


def _raise_unless_answered(result: Message | list[Message]) -> None:
    """A refused Originate is one reply; a queued one ends with its OriginateResponse."""
    if not isinstance(result, list):
        raise CallFailed(HangupCause.FAILED, None, f"Originate refused: {result.message}")
    event = result[-1]
    if event.get("Response") != "Success":
        reason = int(event.get("Reason", 0) or 0)
        cause = ORIGINATE_REASONS.get(reason, HangupCause.FAILED)
        raise CallFailed(cause, reason, f"OriginateResponse reason {reason}")


def _parse_agi_env(text: str) -> OrderedDict[str, str]:
    env: OrderedDict[str, str] = OrderedDict()
    for line in text.strip("\n").split("\n"):
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("agi_"):
            raise ValueError(f"not an agi_* line: {line[:60]!r}")
        env[key] = value
    if "agi_channel" not in env:
        raise ValueError("agi_channel missing")
    return env
