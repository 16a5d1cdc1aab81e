"""Asterisk without ARI: AMI (panoramisk) places calls, FastAGI (panoramisk's request object)
receives the calls the dialplan sends, and the AudioSocket server carries the audio.

Outbound: AMI `Originate` into `agi.context`, whose dialplan runs
`AudioSocket(${VOICEBOT_UUID},host:port)`; the call is answered when that socket connects.
The Originate names its channel (`ChannelId` = the call's UUID) because Asterisk 22's
`OriginateResponse` says only "Reason: 0" for a busy (486) or declined (603) callee: the
cause is that channel's `Hangup` (Q.850 17 busy, 21 rejected, 19 no answer), as over ARI.
Inbound: the dialplan
runs `AGI(agi://voicebot/interview)`; voicebot reads the `agi_*` environment, answers and
hands the channel to `AudioSocket` with a fresh UUID. The AMI session logs in again with
backoff after a drop; a wrong host or secret is one log line, then quiet retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from voicebot.config import AgiConfig
from voicebot.pii import redact
from voicebot.telephony.audiosocket import AudioSocketCall, AudioSocketServer, Expected
from voicebot.telephony.base import (
    CallFailed,
    Direction,
    HangupCause,
    IncomingHandler,
    cause_from_q850,
)
from voicebot.telephony.bridges import Backoff, RateLimitedLog

log = logging.getLogger(__name__)
_ami_warn = RateLimitedLog(log)  # one line per kind of bad AMI message a minute

AGI_HEADER_LIMIT = 16384  # an agi_* environment is well under 2 kB
AGI_HEADER_TIMEOUT = 5.0
AGI_COMMAND_TIMEOUT = 10.0  # ANSWER, GET VARIABLE: Asterisk answers in milliseconds
AGI_USAGE_LINES = 64  # a "520-" usage text is about 10 lines
# What an OriginateResponse's "Reason" (Asterisk's AST_CONTROL_* value) means as a Q.850
# cause, used only when the channel left no Hangup to read (Asterisk 22 says 0 for busy too)
ORIGINATE_REASON_Q850 = {1: 21, 3: 19, 5: 17, 8: 34}
# DialEnd's DialStatus as a Q.850 cause, when the channel's Hangup did not arrive
DIAL_STATUS_Q850 = {"BUSY": 17, "NOANSWER": 19, "CONGESTION": 34, "CHANUNAVAIL": 20}
# after a failed OriginateResponse, how long to wait for the channel's Hangup (it often
# follows the response: no answer, 603)
HANGUP_WAIT_S = 3.0
AMI_MESSAGE_LIMIT = 1 << 20  # an AMI message (up to its blank line) longer than this is junk
CHANNEL_EVENTS = ("Newchannel", "DialEnd", "HangupRequest", "SoftHangupRequest", "Hangup")


class _Dialled:
    """What AMI said about one originated channel (matched by its `Uniqueid`)."""

    def __init__(self) -> None:
        self.created = False
        self.cause: int | None = None  # Q.850, from Hangup (or HangupRequest until then)
        self.cause_txt = ""
        self.dial_status = ""
        self.hung_up = asyncio.Event()

    def update(self, event: Message) -> None:
        kind = event.get("Event", "")
        if kind == "Newchannel":
            self.created = True
        elif kind == "DialEnd":
            self.dial_status = str(event.get("DialStatus", ""))
        elif kind in ("HangupRequest", "SoftHangupRequest", "Hangup"):
            cause = _int(event.get("Cause"))
            self.cause = cause or self.cause  # Hangup's own cause wins over the request's
            if kind == "Hangup":
                self.cause_txt = str(event.get("Cause-txt", ""))
                self.hung_up.set()

    def failure(self, reason: int) -> CallFailed:
        """The dial's cause: the channel's hang-up cause, else DialStatus, else Reason."""
        code = self.cause or DIAL_STATUS_Q850.get(self.dial_status)
        if code:
            why = self.cause_txt or self.dial_status or f"cause {code}"
            return CallFailed(cause_from_q850(code), code, why)
        code = ORIGINATE_REASON_Q850.get(reason)
        cause = cause_from_q850(code) if code else HangupCause.FAILED
        return CallFailed(cause, code, f"OriginateResponse reason {reason}")


class _AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMI reader, hardened: a message with its Event, Response or ActionID
    repeated (panoramisk makes a list of them, then raises in data_received, a traceback and
    a lost connection) is dropped; a message that never ends is not buffered without bound."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.queue and len(self.queue[-1]) > AMI_MESSAGE_LIMIT:
            self.queue.clear()
            _ami_warn.warning(
                "long", "AMI: a message over %d bytes; reconnecting", AMI_MESSAGE_LIMIT
            )
            self.transport.close()

    def handle_message(self, message: Message) -> None:
        if any(isinstance(message.get(k), list) for k in ("Event", "Response", "ActionID")):
            _ami_warn.warning("repeated", "AMI: a message with a repeated key ignored")
            return
        super().handle_message(message)


class _Ami(Manager):  # type: ignore[misc]
    """panoramisk's Manager, with reconnection left to `AgiBridge` (one line per problem)."""

    def __init__(self, **config: Any) -> None:
        super().__init__(protocol_factory=_AmiProtocol, **config)
        self.lost = asyncio.Event()
        self.dialled: dict[str, _Dialled] = {}
        for name in CHANNEL_EVENTS:
            self.register_event(name, self._channel_event)

    def _channel_event(self, _manager: Manager, event: Message) -> None:
        watch = self.dialled.get(str(event.get("Uniqueid", "")))
        if watch is not None:
            watch.update(event)

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
        # a dialplan straight to AudioSocket(${UUID()}) is taken from the PBX's address only
        self.audiosocket = AudioSocketServer(
            cfg.audiosocket_host,
            cfg.audiosocket_port,
            on_incoming,  # type: ignore[arg-type]
            max_calls=getattr(cfg, "max_calls", 32),
            trusted={cfg.ami_host},
        )
        self.logged_in = asyncio.Event()
        self.agi_port = cfg.agi_port
        self.agi_garbage = 0  # FastAGI connections dropped for a bad environment
        self._ami: _Ami | None = None
        self._ami_task: asyncio.Task[None] | None = None
        self._agi_server: asyncio.Server | None = None
        self._last_error = ""
        self._local_address = ""  # where voicebot's AMI connection comes from (for the ACL)
        self._warn = RateLimitedLog(log)  # one FastAGI problem line a minute

    @property
    def audiosocket_address(self) -> str:
        return self.cfg.audiosocket_public or f"{self.audiosocket.host}:{self.audiosocket.port}"

    async def start(self) -> None:
        with contextlib.suppress(OSError):  # the PBX by name: its addresses are trusted too
            infos = await asyncio.get_running_loop().getaddrinfo(self.cfg.ami_host, None)
            self.audiosocket.trusted |= {str(info[4][0]) for info in infos}
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
                    self._problem(f"{where}: {login_refused(self.cfg, self._local_address)}")
            except (OSError, TimeoutError) as e:
                self._problem(
                    f"{where} unreachable: {e or type(e).__name__} (manager.conf [general] "
                    "enabled = yes, with bindaddr/port matching agi.ami_host/agi.ami_port?)"
                )
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
            self._local_address = str(transport.get_extra_info("sockname")[0])
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
        """Originate through AMI; the call is answered when its AudioSocket connects, failed
        with the cause of the channel's `Hangup` when it ends first."""
        ami = self._ami
        if ami is None:
            raise CallFailed(HangupCause.FAILED, None, "not logged in to AMI")
        loop = asyncio.get_running_loop()
        connected: asyncio.Future[AudioSocketCall] = loop.create_future()
        expected = Expected(dict(variables), number, Direction.OUTBOUND, connected)
        call_uuid = self.audiosocket.expect(expected)
        chan_vars = {"VOICEBOT_UUID": call_uuid, "VOICEBOT_AUDIOSOCKET": self.audiosocket_address}
        chan_vars.update(variables)
        watch = ami.dialled[call_uuid] = _Dialled()
        try:
            # Async: panoramisk resolves this with [queued reply, OriginateResponse event]
            response = ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": self.cfg.channel.format(number=number),
                    "ChannelId": call_uuid,
                    "Context": self.cfg.context,
                    "Exten": "s",
                    "Priority": "1",
                    "Timeout": str(int(ring_timeout * 1000)),
                    "Async": "true",
                    "Variable": [f"{k}={v}" for k, v in chan_vars.items()],
                }
            )
            hung_up = asyncio.ensure_future(watch.hung_up.wait())
            lost = asyncio.ensure_future(ami.lost.wait())
            try:
                async with asyncio.timeout(ring_timeout + 10):
                    call = await self._answered(connected, response, hung_up, lost, watch)
            finally:
                hung_up.cancel()
                lost.cancel()
        except TimeoutError:
            raise CallFailed(HangupCause.NO_ANSWER, 19, "no answer in time") from None
        finally:
            self.audiosocket.forget(call_uuid)
            ami.dialled.pop(call_uuid, None)
        log.info("AMI call %s answered (%s)", call.call_id, redact(number))
        return call

    async def _answered(
        self,
        connected: asyncio.Future[AudioSocketCall],
        response: asyncio.Future[Any],
        hung_up: asyncio.Future[Any],
        lost: asyncio.Future[Any],
        watch: _Dialled,
    ) -> AudioSocketCall:
        """Wait for the AudioSocket; a failed Originate or an early hang-up raises the cause."""
        pending: set[asyncio.Future[Any]] = {connected, response, hung_up, lost}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if connected in done:
                return connected.result()
            if hung_up in done:  # the channel ended before its AudioSocket connected
                raise watch.failure(0)
            if lost in done:
                raise CallFailed(HangupCause.FAILED, None, "AMI connection lost while dialling")
            if response in done:
                reason = _originate_failure(response.result())
                if reason is not None:
                    if watch.created and not watch.hung_up.is_set():
                        # the Hangup with the cause may follow the response (603, no answer)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(hung_up), HANGUP_WAIT_S)
                    raise watch.failure(reason)

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
            self._warn.warning(
                "env",
                "FastAGI: dropped a connection without a valid agi_* environment (%s)",
                type(e).__name__ if not str(e) else e,
            )
            writer.close()
            return
        try:
            await self._agi_call(AgiSession(reader, writer), env)
        except asyncio.CancelledError:
            pass  # voicebot is stopping; closing the socket ends the AGI session
        except (AgiError, TimeoutError, ConnectionError) as e:
            self.agi_garbage += 1
            self._warn.warning(
                "session",
                "FastAGI: session for %s ended: %s",
                env.get("agi_network_script", "?"),
                str(e) or type(e).__name__,
            )
        except Exception:
            log.exception("FastAGI request for %s failed", env.get("agi_network_script", "?"))
        finally:
            writer.close()

    async def _agi_call(self, session: AgiSession, env: Mapping[str, str]) -> None:
        """Answer and hand the channel over to AudioSocket; returns when that call ends."""
        variables = {k: v for k, v in env.items() if not k.startswith("agi_arg_")}
        for key in ("CANDIDATE_ID", "JOB_ID"):
            reply = await session.command(f"GET VARIABLE {key}")
            if reply.code == 200 and reply.result == "1":
                variables[key] = reply.data
        remote = env.get("agi_callerid", "unknown")
        call_uuid = self.audiosocket.expect(Expected(variables, remote, Direction.INBOUND))
        try:
            answer = await session.command("ANSWER")
            if answer.hangup or answer.code != 200 or answer.result == "-1":
                log.info("FastAGI: %s hung up before the AudioSocket", redact(remote))
                return
            log.info("FastAGI: %s handed to AudioSocket %s", redact(remote), call_uuid)
            # returns when the AudioSocket ends: as long as the interview
            await session.command(
                f"EXEC AudioSocket {call_uuid},{self.audiosocket_address}", bounded=False
            )
        finally:
            self.audiosocket.forget(call_uuid)


class AgiError(Exception):
    """Asterisk's side of a FastAGI session said something that is not an AGI reply."""


@dataclass(frozen=True, slots=True)
class AgiReply:
    code: int  # 200, 510, 511, 520, …; 0 for HANGUP
    result: str = ""  # the value of result=
    data: str = ""  # what follows it in parentheses
    hangup: bool = False


_REPLY = re.compile(r"([0-9]{3})(?:([ -])(.*))?", re.ASCII | re.DOTALL)
_RESULT = re.compile(r"result=(\S*)(?:\s+\((.*)\))?", re.ASCII | re.DOTALL)


def parse_agi_reply(line: str) -> AgiReply:
    """One reply line (`200 result=1 (value)`, `510 …`, `HANGUP`), else AgiError."""
    line = line.rstrip("\r\n")
    if line == "HANGUP":
        return AgiReply(0, hangup=True)
    m = _REPLY.fullmatch(line)
    if m is None:
        raise AgiError(f"not an AGI reply: {line[:60]!r}")
    code, rest = int(m.group(1)), m.group(3) or ""
    result = _RESULT.search(rest) if code == 200 else None
    if result is None:
        return AgiReply(code)
    data = result.group(2) or ""
    return AgiReply(code, result.group(1), data, hangup=data == "hangup")


class AgiSession:
    """Commands on one FastAGI connection, each read back bounded (panoramisk's reader
    raises on a blank, cut or non-UTF-8 line, and waits forever for a silent one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def command(self, command: str, *, bounded: bool = True) -> AgiReply:
        """Send `command` and read its reply; `bounded`: within AGI_COMMAND_TIMEOUT."""
        self.writer.write(f"{command}\n".encode())
        await self.writer.drain()
        async with asyncio.timeout(AGI_COMMAND_TIMEOUT if bounded else None):
            while True:
                line = await self._line()
                reply = parse_agi_reply(line)
                if reply.code == 100:  # "100 Trying…": the result follows
                    continue
                if line.startswith("520-"):  # usage text up to its "520 End of …" line
                    for _ in range(AGI_USAGE_LINES):
                        if (await self._line()).startswith("520 "):
                            break
                return reply

    async def _line(self) -> str:
        try:
            line = await self.reader.readline()
        except ValueError as e:  # over the reader's limit
            raise AgiError("reply line too long") from e
        if not line:
            raise AgiError("connection closed")
        return line.decode("utf-8", "replace")


def login_refused(cfg: AgiConfig, local_address: str) -> str:
    """Why a Login was refused. Asterisk 22 answers the same "Authentication failed" (and
    hangs up) for a wrong user, a wrong secret and an address the user's permit/deny refuses,
    so the line names both, with the address manager.conf must permit."""
    source = local_address or "this machine's address"
    return (
        f"login refused for user {cfg.ami_username!r} (Asterisk says only "
        '"Authentication failed": either agi.ami_username/agi.ami_password do not match '
        f"manager.conf, or that user's permit= does not cover {source}, where voicebot "
        "connects from; Asterisk's log says which: 'failed to pass IP ACL' is the permit)"
    )


def _originate_failure(result: Message | list[Message]) -> int | None:
    """None when the Originate went through; else the OriginateResponse's Reason (a refused
    Originate is a single Error reply: -1)."""
    if not isinstance(result, list):
        if result.get("Response") == "Success":
            return None
        raise CallFailed(HangupCause.FAILED, None, f"Originate refused: {result.message}")
    event = result[-1]
    if event.get("Response") == "Success":
        return None
    return _int(event.get("Reason"))


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


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
