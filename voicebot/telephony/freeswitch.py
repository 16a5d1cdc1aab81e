"""FreeSWITCH over the Event Socket (ESL, inbound mode), audio over voicebot's own SIP.

The ESL client authenticates, subscribes to plain events and originates with `bgapi`; the
candidate's leg, once answered, is bridged by FreeSWITCH to voicebot's `SipEndpoint` at
`sip:voicebot-<uuid>@…`, so media needs no third-party module on the PBX. The SIP call whose
request-URI carries the originate's UUID completes that dial; other SIP calls are inbound
calls for the handler. A failed originate's FreeSWITCH cause (USER_BUSY, NO_ANSWER, …)
becomes the `CallFailed` cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from urllib.parse import unquote

from voicebot.config import FreeswitchConfig, SipConfig
from voicebot.pii import redact
from voicebot.telephony.base import Call, CallFailed, HangupCause, IncomingHandler
from voicebot.telephony.bridges import Backoff
from voicebot.telephony.sip import SipCall, SipEndpoint
from voicebot.telephony.sipmsg import SipParseError, parse_uri

log = logging.getLogger(__name__)

MAX_CONTENT = 1 << 20
FS_CAUSES = {
    "USER_BUSY": HangupCause.BUSY,
    "NO_ANSWER": HangupCause.NO_ANSWER,
    "NO_USER_RESPONSE": HangupCause.NO_ANSWER,
    "ORIGINATOR_CANCEL": HangupCause.CANCELLED,
    "CALL_REJECTED": HangupCause.REJECTED,
    "NORMAL_CLEARING": HangupCause.NORMAL,
}
EVENTS = "CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE DTMF BACKGROUND_JOB"


class EslError(RuntimeError):
    pass


async def read_esl_message(reader: asyncio.StreamReader) -> tuple[dict[str, str], str]:
    """One ESL message: its headers, and the body its Content-Length announces. A header
    line over the reader's limit or a Content-Length that is no length is an EslError (the
    stream is out of frame: the caller reconnects), never a ValueError out of the reader."""
    headers: dict[str, str] = {}
    while True:
        try:
            line = await reader.readline()
        except ValueError as e:  # over the reader's limit
            raise EslError("ESL header line too long") from e
        if not line:
            raise ConnectionError("ESL connection closed")
        text = line.decode("utf-8", "replace").rstrip("\n")
        if not text:
            if headers:
                break
            continue
        key, _, value = text.partition(": ")
        headers[key] = value
    length = _content_length(headers.get("Content-Length", ""))
    body = (await reader.readexactly(length)).decode("utf-8", "replace") if length else ""
    return headers, body


def _content_length(value: str) -> int:
    if not value:
        return 0
    if not (value.isascii() and value.isdigit() and len(value) <= 8):  # "²", "-1", 5000 digits
        raise EslError(f"Content-Length {value[:20]!r} is not a length")
    length = int(value)
    if length > MAX_CONTENT:
        raise EslError(f"Content-Length {length} out of range")
    return length


def parse_plain_event(body: str) -> dict[str, str]:
    """A text/event-plain body: URL-encoded `Key: Value` lines (an optional body follows)."""
    head, _, rest = body.partition("\n\n")
    event = {}
    for line in head.split("\n"):
        key, sep, value = line.partition(": ")
        if sep:
            event[key] = unquote(value)
    if rest:
        event["_body"] = rest
    return event


class FreeswitchBridge:
    """`Bridge` over FreeSWITCH: ESL for control, voicebot's SIP endpoint for audio."""

    name = "freeswitch"

    def __init__(
        self,
        cfg: FreeswitchConfig,
        sip: SipConfig,
        on_incoming: IncomingHandler | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_incoming = on_incoming
        self.sip = SipEndpoint(sip, self._on_sip_call)
        self.connected = asyncio.Event()
        self.events: list[dict[str, str]] = []  # recent events, for diagnostics
        self._writer: asyncio.StreamWriter | None = None
        self._replies: asyncio.Queue[tuple[dict[str, str], str]] = asyncio.Queue()
        self._jobs: dict[str, asyncio.Future[str]] = {}  # Job-UUID -> "+OK …" / "-ERR …"
        self._waiting: dict[str, asyncio.Future[SipCall]] = {}  # originate uuid -> its SIP leg
        self._task: asyncio.Task[None] | None = None
        self._reading: asyncio.Task[None] | None = None  # the connection's reader
        self._lock = asyncio.Lock()
        self._last_error = ""

    @property
    def bot_uri_host(self) -> str:
        return self.cfg.bot_uri or f"{self.sip.public_host}:{self.sip.port}"

    async def start(self) -> None:
        await self.sip.start()
        self._task = asyncio.create_task(self._esl_loop(), name="esl")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sip.stop()

    async def __aenter__(self) -> FreeswitchBridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ESL ----------------------------------------------------------------------------------

    async def _esl_loop(self) -> None:
        backoff = Backoff()
        where = f"FreeSWITCH ESL at {self.cfg.host}:{self.cfg.port}"
        while True:
            writer = None
            try:
                async with asyncio.timeout(10):
                    reader, writer = await asyncio.open_connection(self.cfg.host, self.cfg.port)
                    await self._authenticate(reader, writer)
                self._writer = writer
                self._reading = asyncio.create_task(self._read_loop(reader))
                await self.command(f"event plain {EVENTS}")
                backoff.reset()
                self._problem("")
                self.connected.set()
                log.info("%s: connected", where)
                await self._reading
            except EslError as e:
                self._problem(f"{where}: {e}")
            except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
                self._problem(f"{where} unreachable or closed: {str(e) or type(e).__name__}")
            finally:
                self.connected.clear()
                self._writer = None
                if self._reading is not None:
                    self._reading.cancel()  # its end, if it ended, was raised by now
                    self._reading = None
                if writer is not None:
                    writer.close()
                for fut in self._jobs.values():
                    if not fut.done():
                        fut.set_result("-ERR ESL connection lost")
            await asyncio.sleep(backoff.next())

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        headers, _ = await read_esl_message(reader)
        if headers.get("Content-Type") != "auth/request":
            raise EslError(f"expected auth/request, got {headers.get('Content-Type')!r}")
        writer.write(f"auth {self.cfg.password}\n\n".encode())
        headers, _ = await read_esl_message(reader)
        if not headers.get("Reply-Text", "").startswith("+OK"):
            raise EslError(
                f"authentication failed ({headers.get('Reply-Text', '?')}); "
                "check freeswitch.password (event_socket.conf.xml)"
            )

    def _problem(self, line: str) -> None:
        if line and line != self._last_error:
            log.warning("%s; retrying with backoff", line)
        self._last_error = line

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        while True:
            headers, body = await read_esl_message(reader)
            kind = headers.get("Content-Type", "")
            if kind in ("command/reply", "api/response"):
                self._replies.put_nowait((headers, body))
            elif kind == "text/event-plain":
                self._on_event(parse_plain_event(body))
            elif kind == "text/disconnect-notice":
                raise ConnectionError("FreeSWITCH sent disconnect-notice")
            else:
                log.debug("ESL: ignored %s", kind)

    async def command(self, line: str) -> tuple[dict[str, str], str]:
        """Send one command and wait for its reply (ESL answers commands in order)."""
        async with self._lock:
            if self._writer is None:
                raise EslError("not connected to FreeSWITCH")
            while not self._replies.empty():  # unasked for, or late for a command given up on
                self._replies.get_nowait()
            self._writer.write(f"{line}\n\n".encode())
            async with asyncio.timeout(10):
                return await self._reply()

    async def _reply(self) -> tuple[dict[str, str], str]:
        """The next reply; if the reader ends first (the stream broke), what ended it."""
        reading = self._reading
        get = asyncio.ensure_future(self._replies.get())
        try:
            if reading is not None:
                await asyncio.wait({get, reading}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    error = None if reading.cancelled() else reading.exception()
                    raise error or ConnectionError("ESL connection closed")
            return await get
        finally:
            get.cancel()

    def _on_event(self, event: dict[str, str]) -> None:
        self.events = [*self.events[-99:], event]
        name = event.get("Event-Name", "")
        if name == "BACKGROUND_JOB":
            fut = self._jobs.get(event.get("Job-UUID", ""))
            if fut is not None and not fut.done():
                fut.set_result(event.get("_body", "").strip())
        elif name == "CHANNEL_HANGUP_COMPLETE":
            leg = event.get("Unique-ID", "")
            log.info("FreeSWITCH leg %s ended: %s", leg, event.get("Hangup-Cause", "?"))

    # calls --------------------------------------------------------------------------------

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> Call:
        """`bgapi originate` the candidate, bridged on answer to `sip:voicebot-<uuid>@…`."""
        leg = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        sip_leg: asyncio.Future[SipCall] = loop.create_future()
        job: asyncio.Future[str] = loop.create_future()
        job_id = str(uuid.uuid4())
        self._waiting[leg] = sip_leg
        self._jobs[job_id] = job
        chan_vars = {
            "origination_uuid": leg,
            "originate_timeout": str(int(ring_timeout)),
            **{k: v.replace(",", r"\,") for k, v in variables.items()},
        }
        dial_string = "{" + ",".join(f"{k}={v}" for k, v in chan_vars.items()) + "}"
        dial_string += self.cfg.endpoint.format(number=number)
        target = f"sofia/external/voicebot-{leg}@{self.bot_uri_host}"
        try:
            headers, _ = await self.command(
                f"bgapi originate {dial_string} &bridge({target})\nJob-UUID: {job_id}"
            )
            if not headers.get("Reply-Text", "").startswith("+OK"):
                raise CallFailed(HangupCause.FAILED, None, headers.get("Reply-Text", "refused"))
            async with asyncio.timeout(ring_timeout + 10):
                done, _ = await asyncio.wait({sip_leg, job}, return_when=asyncio.FIRST_COMPLETED)
                if sip_leg not in done and not job.result().startswith("+OK"):
                    cause_name = job.result().removeprefix("-ERR").strip()
                    cause = FS_CAUSES.get(cause_name, HangupCause.FAILED)
                    raise CallFailed(cause, None, cause_name)
                call = await sip_leg
        except TimeoutError:
            raise CallFailed(HangupCause.NO_ANSWER, None, "no answer in time") from None
        except EslError as e:
            raise CallFailed(HangupCause.FAILED, None, str(e)) from e
        finally:
            self._waiting.pop(leg, None)
            self._jobs.pop(job_id, None)
        call.variables = dict(variables)  # type: ignore[attr-defined]
        log.info("FreeSWITCH call %s answered (%s)", call.call_id, redact(number))
        return call

    async def _on_sip_call(self, call: SipCall) -> None:
        """A SIP call from FreeSWITCH: the leg of one of our originates, or an inbound call."""
        leg = ""
        with contextlib.suppress(SipParseError, AttributeError):
            user = parse_uri(call.invite.uri).user if call.invite else ""
            leg = user.removeprefix("voicebot-") if user.startswith("voicebot-") else ""
        waiting = self._waiting.get(leg)
        if waiting is not None and not waiting.done():
            waiting.set_result(call)
            await call.finished.wait()  # the dialer's session owns the call now
        elif self.on_incoming is not None:
            await self.on_incoming(call)
