"""Asterisk 22's manager interface (AMI) for tests: banner, Login, Ping, Originate,
ShowDialPlan, and the channel events a real Asterisk 22.10 sends around an Originate.

Speaks the AMI wire format (``Key: Value`` lines, CRLF, a blank line ends a message). What it
sends was captured from the real Asterisk 22.10.1 (tests/asterisk/): a failed Login is
``Response: Error / Message: Authentication failed`` and the connection is closed, the same
for a wrong secret, an unknown user and an address the user's permit/deny refuses. An
`Originate` is queued ("Originate successfully queued"); then, scripted per channel:

- ``answer``: the callee answers, `OriginateResponse` Success (Reason 4), then the
  `agi.context` dialplan runs `AudioSocket(${VOICEBOT_UUID},…)`, played by an
  `AudioSocketPeer`; `Hangup` (16) when that socket ends.
- ``busy`` (486): HangupRequest, DialEnd BUSY, `Hangup` Cause 17, *then*
  `OriginateResponse` Failure with **Reason 0**.
- ``decline`` (603): HangupRequest, DialEnd NOANSWER, `OriginateResponse` Reason 0, *then*
  `Hangup` Cause 21.
- ``no_answer``: ringing until the Originate's Timeout (capped at `ring_cap_s`, time is
  compressed here), `OriginateResponse` Reason 3, then `Hangup` Cause 19.
- ``unroutable``: no channel at all, `OriginateResponse` Reason 0 only.

`channels` holds the channels still up, so a test can check none is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine
from typing import Any

from tests.peers.audiosocket_peer import AudioSocketPeer

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
# script -> (Q.850 cause, Cause-txt, SIP status, DialStatus)
FAILURES = {
    "busy": (17, "User busy", 486, "BUSY"),
    "decline": (21, "Call Rejected", 603, "NOANSWER"),
    "no_answer": (19, "User alerting, no answer", 480, ""),
}


class TcpPeer:
    """A loopback TCP server peer: `start()`, `stop()`, and `_serve` per connection."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class AmiPeer(TcpPeer):
    def __init__(
        self,
        *,
        username: str = "voicebot",
        secret: str = "secret",
        permitted: bool = True,
        write: tuple[str, ...] = ("originate", "call", "reporting"),
        contexts: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.username, self.secret = username, secret
        self.permitted = permitted  # False: manager.conf's permit/deny refuses 127.0.0.1
        self.write = write  # the user's write= classes
        # dialplan: context -> its applications, priority 1.. (ShowDialPlan)
        self.contexts = contexts or {
            "voicebot-audiosocket": ["Answer", "AudioSocket", "Hangup"],
        }
        self.scripts: dict[str, str] = {}  # Channel -> answer | busy | decline | no_answer | …
        self.ring_cap_s = 0.3
        self.originates: list[dict[str, str | list[str]]] = []
        self.logins: list[bool] = []
        self.callees: list[AudioSocketPeer] = []
        self.channels: dict[str, str] = {}  # Uniqueid -> channel name, while up
        self._ids = itertools.count(1)

    async def stop(self) -> None:
        for peer in self.callees:
            await peer.close()
        await super().stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        writer.write(BANNER)
        authed = False
        try:
            while True:
                action = await _read_message(reader)
                if action is None:
                    return
                name = str(action.get("Action", "")).lower()
                aid = str(action.get("ActionID", ""))
                if name == "login":
                    authed = self.permitted and (
                        action.get("Username") == self.username
                        and action.get("Secret") == self.secret
                    )
                    self.logins.append(authed)
                    if not authed:  # Asterisk says the same for a bad secret and the ACL
                        _send(
                            writer, Response="Error", ActionID=aid, Message="Authentication failed"
                        )
                        await writer.drain()
                        return  # …and hangs up on the client
                    _send(
                        writer, Response="Success", ActionID=aid, Message="Authentication accepted"
                    )
                    _send(
                        writer,
                        Event="FullyBooted",
                        Privilege="system,all",
                        Uptime="11",
                        LastReload="11",
                        Status="Fully Booted",
                    )
                elif not authed:
                    _send(writer, Response="Error", ActionID=aid, Message="Permission denied")
                elif name == "ping":
                    _send(writer, Response="Success", ActionID=aid, Ping="Pong")
                elif name == "originate" and "originate" in self.write:
                    self.originates.append(action)
                    _send(
                        writer,
                        Response="Success",
                        ActionID=aid,
                        Message="Originate successfully queued",
                    )
                    self._spawn(self._originate(writer, action, aid))
                elif name == "showdialplan" and "reporting" in self.write:
                    self._show_dialplan(writer, str(action.get("Context", "")), aid)
                elif name in ("originate", "showdialplan"):
                    _send(writer, Response="Error", ActionID=aid, Message="Permission denied")
                else:
                    _send(
                        writer,
                        Response="Error",
                        ActionID=aid,
                        Message=f"Invalid/unknown command: {action.get('Action')}. "
                        "Use Action: ListCommands to show available commands.",
                    )
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _show_dialplan(self, writer: asyncio.StreamWriter, context: str, aid: str) -> None:
        names = [context] if context else list(self.contexts)
        if context and context not in self.contexts:
            _send(writer, Response="Error", ActionID=aid, Message=f"Did not find context {context}")
            return
        _send(
            writer,
            Response="Success",
            ActionID=aid,
            EventList="start",
            Message="DialPlan list will follow",
        )
        items = 0
        for ctx in names:
            for priority, app in enumerate(self.contexts[ctx], 1):
                items += 1
                _send(
                    writer,
                    Event="ListDialplan",
                    ActionID=aid,
                    Context=ctx,
                    Extension="s",
                    Priority=str(priority),
                    Application=app,
                    AppData="",
                    Registrar="pbx_config",
                )
        _send(
            writer,
            Event="ShowDialPlanComplete",
            ActionID=aid,
            EventList="Complete",
            ListItems=str(items),
            ListExtensions=str(len(names)),
            ListPriorities=str(items),
            ListContexts=str(len(names)),
        )

    async def _originate(self, writer: asyncio.StreamWriter, action: dict, aid: str) -> None:
        dial = str(action["Channel"])
        script = self.scripts.get(dial, "answer")
        uniqueid = str(action.get("ChannelId") or f"1732465200.{next(self._ids)}")
        n = next(self._ids)
        channel = f"{dial.split('/', 1)[0]}/trunk-{n:08x}"

        def event(kind: str, **extra: str) -> None:
            _send(writer, Event=kind, Privilege="call,all", **_channel(channel, uniqueid), **extra)

        def response(result: str, reason: int) -> None:
            _send(
                writer,
                Event="OriginateResponse",
                Privilege="call,all",
                ActionID=aid,
                Response=result,
                Channel=dial,
                Context=str(action.get("Context", "")),
                Exten=str(action.get("Exten", "")),
                Reason=str(reason),
                Uniqueid=uniqueid,
                CallerIDNum="<unknown>",
                CallerIDName="<unknown>",
            )

        await asyncio.sleep(0.05)
        if script in ("unroutable", "congestion"):
            response("Failure", 0)
            return
        self.channels[uniqueid] = channel
        event("Newchannel")
        _send(writer, Event="DialBegin", Privilege="call,all", **_dest(channel, uniqueid))
        await asyncio.sleep(0.1)
        if script in FAILURES:
            cause, text, sip, status = FAILURES[script]
            if script == "no_answer":
                _send(writer, Event="DialState", DialStatus="RINGING", **_dest(channel, uniqueid))
                timeout = int(str(action.get("Timeout", "30000"))) / 1000
                await asyncio.sleep(min(timeout, self.ring_cap_s))
            else:
                event("HangupRequest", Cause=str(cause), TechCause=str(sip))
                _send(writer, Event="DialEnd", DialStatus=status, **_dest(channel, uniqueid))
            hangup = {"Cause": str(cause), "Cause-txt": text, "TechCause": str(sip)}
            if script == "busy":  # Asterisk 22: busy hangs up before the response…
                event("Hangup", **hangup)
                self.channels.pop(uniqueid, None)
                response("Failure", 0)
            else:  # …603 and no answer after it
                response("Failure", 0 if script == "decline" else 3)
                event("Hangup", **hangup)
                self.channels.pop(uniqueid, None)
        else:
            _send(writer, Event="DialEnd", DialStatus="ANSWER", **_dest(channel, uniqueid))
            response("Success", 4)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            variables = action.get("Variable", [])
            listed = [variables] if isinstance(variables, str) else variables
            chan_vars = dict(v.split("=", 1) for v in listed)
            host, _, port = chan_vars["VOICEBOT_AUDIOSOCKET"].rpartition(":")
            callee = AudioSocketPeer(host, int(port), call_uuid=chan_vars["VOICEBOT_UUID"])
            self.callees.append(callee)
            await callee.connect()  # the dialplan's AudioSocket() runs once the callee answers
            await callee.closed.wait()
            event("Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"})
            self.channels.pop(uniqueid, None)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


def _channel(channel: str, uniqueid: str) -> dict[str, str]:
    return {
        "Channel": channel,
        "ChannelState": "0",
        "ChannelStateDesc": "Down",
        "CallerIDNum": "<unknown>",
        "CallerIDName": "<unknown>",
        "Context": "from-phones",
        "Exten": "s",
        "Priority": "1",
        "Uniqueid": uniqueid,
        "Linkedid": uniqueid,
    }


def _dest(channel: str, uniqueid: str) -> dict[str, str]:
    return {f"Dest{k}": v for k, v in _channel(channel, uniqueid).items()}


async def _read_message(reader: asyncio.StreamReader) -> dict[str, str | list[str]] | None:
    msg: dict[str, str | list[str]] = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode().rstrip("\r\n")
        if not text:
            if msg:
                return msg
            continue
        key, _, value = text.partition(": ")
        if key in msg:  # repeated headers (Variable) become a list
            prev = msg[key]
            msg[key] = [*(prev if isinstance(prev, list) else [prev]), value]
        else:
            msg[key] = value


def _send(writer: asyncio.StreamWriter, **headers: str) -> None:
    text = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(text.encode())
