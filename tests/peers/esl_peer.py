"""FreeSWITCH's Event Socket (mod_event_socket, inbound mode) for tests.

Follows the ESL wire protocol: `Content-Type: auth/request` on connect, `auth <password>`
answered by `command/reply` (`+OK accepted` or `-ERR invalid` and a disconnect notice),
`event plain …`, `api`/`bgapi` with `api/response` and `BACKGROUND_JOB` events, all framed by
`Content-Length`; events are `text/event-plain` with URL-encoded values. An answered
originate runs its `&bridge(sofia/external/user@host:port)` as a real SIP call from a SIP
user agent on 127.0.0.1 (voicebot's own UA playing sofia's part), with real RTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from urllib.parse import quote

from tests.peers.ami_peer import TcpPeer
from voicebot.config import SipConfig
from voicebot.telephony.sip import SipCall, SipEndpoint

CAUSES = {"busy": "USER_BUSY", "no_answer": "NO_ANSWER", "reject": "CALL_REJECTED"}


def esl_frame(content_type: str, body: str = "", **headers: str) -> bytes:
    lines = [f"Content-Type: {content_type}"] + [
        f"{k.replace('_', '-')}: {v}" for k, v in headers.items()
    ]
    if body:
        lines.insert(0, f"Content-Length: {len(body.encode())}")
    return ("\n".join(lines) + "\n\n" + body).encode()


def plain_event(name: str, body: str = "", **fields: str) -> bytes:
    lines = [f"Event-Name: {name}"] + [
        f"{k.replace('_', '-')}: {quote(v)}" for k, v in fields.items()
    ]
    if body:
        lines.append(f"Content-Length: {len(body.encode())}")
    text = "\n".join(lines) + "\n\n" + body
    return esl_frame("text/event-plain", text)


class EslPeer(TcpPeer):
    def __init__(self, *, password: str = "ClueCon") -> None:
        super().__init__()
        self.password = password
        self.scripts: dict[str, str] = {}  # number -> answer | busy | no_answer | reject
        self.commands: list[str] = []
        self.auth_attempts: list[bool] = []
        self.legs: list[SipCall] = []  # the candidate side of each bridged call (SIP UAC)
        self._sofia: SipEndpoint | None = None

    async def start(self) -> None:
        self._sofia = SipEndpoint(
            SipConfig(listen_port=0, username="freeswitch", rtp_port_min=32000, rtp_port_max=32999)
        )
        await self._sofia.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._sofia is not None:
            await self._sofia.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        writer.write(esl_frame("auth/request"))
        try:
            while command := await _read_command(reader):
                self.commands.append(command)
                if not await self._execute(command, writer):
                    return
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _execute(self, command: str, writer: asyncio.StreamWriter) -> bool:
        first, *extra = command.split("\n")
        if first.startswith("auth "):
            ok = first.removeprefix("auth ") == self.password
            self.auth_attempts.append(ok)
            if not ok:
                writer.write(esl_frame("command/reply", Reply_Text="-ERR invalid"))
                writer.write(esl_frame("text/disconnect-notice", "Disconnected, goodbye.\n"))
                return False
            writer.write(esl_frame("command/reply", Reply_Text="+OK accepted"))
        elif first.startswith("event plain"):
            writer.write(esl_frame("command/reply", Reply_Text="+OK event listener enabled plain"))
        elif first.startswith("bgapi originate "):
            job = next(
                (h.split(": ", 1)[1] for h in extra if h.startswith("Job-UUID: ")),
                str(uuid.uuid4()),
            )
            writer.write(
                esl_frame("command/reply", Reply_Text=f"+OK Job-UUID: {job}", Job_UUID=job)
            )
            self._spawn(self._originate(first, job, writer))
        else:
            writer.write(esl_frame("command/reply", Reply_Text="-ERR command not found"))
        return True

    async def _originate(self, command: str, job: str, writer: asyncio.StreamWriter) -> None:
        m = re.match(r"bgapi originate \{([^}]*)\}(\S+) &bridge\(sofia/external/([^)]+)\)", command)
        assert m, f"not an originate this peer understands: {command}"
        chan_vars = dict(kv.split("=", 1) for kv in re.split(r"(?<!\\),", m.group(1)))
        number = m.group(2).rsplit("/", 1)[-1]
        leg = chan_vars["origination_uuid"]
        await asyncio.sleep(0.2)
        script = self.scripts.get(number, "answer")
        if script in CAUSES:
            writer.write(
                plain_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=leg, Hangup_Cause=CAUSES[script])
            )
            writer.write(plain_event("BACKGROUND_JOB", f"-ERR {CAUSES[script]}\n", Job_UUID=job))
            return
        writer.write(plain_event("CHANNEL_ANSWER", Unique_ID=leg, Answer_State="answered"))
        assert self._sofia is not None
        sip_leg = await self._sofia.call(f"sip:{m.group(3)}")
        self.legs.append(sip_leg)
        writer.write(plain_event("BACKGROUND_JOB", f"+OK {leg}\n", Job_UUID=job))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        await sip_leg.finished.wait()
        writer.write(
            plain_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=leg, Hangup_Cause="NORMAL_CLEARING")
        )


async def _read_command(reader: asyncio.StreamReader) -> str:
    """One ESL command: lines up to a blank line ('' when the client closed)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            return ""
        text = line.decode().rstrip("\n")
        if not text:
            if lines:
                return "\n".join(lines)
            continue
        lines.append(text)
