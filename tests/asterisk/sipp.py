"""SIPp (Debian's sip-tester) as the phone in real-Asterisk tests: scenarios for a callee that
is busy (486), declines (603), rings until the caller gives up, or answers and echoes; and a
caller that dials an extension, echoes what it hears and hangs up.

Why SIPp and not baresip here: a callee must answer with an exact SIP status, and a burst
of calls must start within milliseconds; SIPp's `-rtp_echo` sends back every RTP packet it
gets, so a tone that comes back proves audio both ways.
"""

from __future__ import annotations

import asyncio
import csv
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tests.asterisk.pbx import free_port
from voicebot.telephony.base import HangupCause

HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n'
REPLY = """  <send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
{cseq}
Contact: <sip:callee@[local_ip]:[local_port]>
{body}]]></send>
"""
NO_BODY = "Content-Length: 0\n"
SDP = """Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
"""


def reply(status: str, body: str = NO_BODY, cseq: str = "[last_CSeq:]") -> str:
    return REPLY.format(status=status, body=body, cseq=cseq)


def refusing(status: str) -> str:
    return (
        HEAD.format(name=f"callee answering {status}")
        + '  <recv request="INVITE" />\n'
        + reply("100 Trying")
        + reply(status)
        + '  <recv request="ACK" />\n</scenario>\n'
    )


# (callee scenario, the cause a dial to it must end with, its Q.850 code)
REFUSALS = [
    ("busy", HangupCause.BUSY, 17),
    ("decline", HangupCause.REJECTED, 21),
    ("ring", HangupCause.NO_ANSWER, 19),
]

CALLEES = {
    "busy": refusing("486 Busy Here"),
    "decline": refusing("603 Decline"),
    "ring": HEAD.format(name="callee that rings until the caller gives up")
    + '  <recv request="INVITE"><action><ereg regexp=".*" search_in="hdr" header="CSeq:"'
    ' assign_to="invite_cseq" /></action></recv>\n'
    + reply("180 Ringing")
    + '  <recv request="CANCEL" />\n'
    + reply("200 OK")
    + reply("487 Request Terminated", cseq="CSeq:[$invite_cseq]")
    + '  <recv request="ACK" />\n</scenario>\n',
    "answer": HEAD.format(name="callee that answers, echoes, and takes the BYE")
    + '  <recv request="INVITE" />\n'
    + reply("180 Ringing")
    + reply("200 OK", SDP).replace("<send>", '<send retrans="500">')
    + '  <recv request="ACK" />\n  <recv request="BYE" />\n'
    + reply("200 OK").replace(";tag=[pid]SIPpTag01[call_number]", "")
    + "</scenario>\n",
}

REQUEST = """  <send retrans="500"><![CDATA[
{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:candidate@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
{to}
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:candidate@[local_ip]:[local_port]>
Max-Forwards: 70
{body}]]></send>
"""
CALLER = (
    HEAD.format(name="phone calling [service], echoing what it hears, hanging up")
    + REQUEST.format(
        method="INVITE", to="To: <sip:[service]@[remote_ip]:[remote_port]>", cseq=1, body=SDP
    )
    + '  <recv response="100" optional="true" />\n'
    + '  <recv response="180" optional="true" />\n'
    + '  <recv response="183" optional="true" />\n'
    + '  <recv response="200" rtd="true" />\n'
    + REQUEST.format(method="ACK", to="[last_To:]", cseq=1, body=NO_BODY).replace(
        ' retrans="500"', ""
    )
    + '  <pause milliseconds="{talk_ms}" />\n'
    + REQUEST.format(method="BYE", to="[last_To:]", cseq=2, body=NO_BODY)
    + '  <recv response="200" crlf="true" />\n</scenario>\n'
)


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int


class Sipp:
    """One SIPp process playing a scenario on loopback; always killed at the end."""

    def __init__(
        self, workdir: Path, name: str, scenario: str, *args: str, sip_port: int | None = None
    ) -> None:
        self.workdir = workdir
        name = f"{name}-{time.monotonic_ns()}"
        self.scenario = workdir / f"{name}.xml"
        self.scenario.write_text(scenario, encoding="ascii")
        self.stats = workdir / f"{name}.csv"
        self.sip_port = sip_port or free_port(socket.SOCK_DGRAM)
        self.media_port = free_port(socket.SOCK_DGRAM)
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "sipp",
            *self.args,
            "-sf",
            str(self.scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.sip_port),
            "-mp",
            str(self.media_port),
            "-rtp_echo",
            "-nostdin",
            "-timeout",
            "60",
            "-timeout_error",
            "-trace_stat",
            "-stf",
            str(self.stats),
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(0.3)  # bound its SIP socket

    async def wait(self, timeout: float = 90) -> SippResult:
        assert self.proc is not None
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        rows = list(csv.reader(self.stats.open(), delimiter=";"))
        head, last = rows[0], rows[-1]
        return SippResult(
            rc, int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])
        )

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def start_sipp(workdir: Path, name: str, scenario: str, *args: str, **kw: int) -> Sipp:
    sipp = Sipp(workdir, name, scenario, *args, **kw)
    await sipp.start()
    return sipp
