"""Asterisk's manager interface (AMI) for tests: banner, Login, Ping, Originate.

Speaks the AMI wire format (``Key: Value`` lines, CRLF, a blank line ends a message). An
`Originate` is queued ("Originate successfully queued"); then, scripted per channel, the
callee answers — the `agi.context` dialplan runs `AudioSocket(${VOICEBOT_UUID},…)`, played
here by an `AudioSocketPeer` — or the `OriginateResponse` event reports busy (reason 5),
no answer (3) or congestion (8).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from tests.peers.audiosocket_peer import AudioSocketPeer

REASONS = {"busy": 5, "no_answer": 3, "congestion": 8}


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
    def __init__(self, *, username: str = "voicebot", secret: str = "secret") -> None:
        super().__init__()
        self.username, self.secret = username, secret
        self.scripts: dict[str, str] = {}  # Channel -> answer | busy | no_answer | congestion
        self.originates: list[dict[str, str | list[str]]] = []
        self.logins: list[bool] = []
        self.callees: list[AudioSocketPeer] = []

    async def stop(self) -> None:
        for peer in self.callees:
            await peer.close()
        await super().stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        authed = False
        try:
            while True:
                action = await _read_message(reader)
                if action is None:
                    return
                name = str(action.get("Action", "")).lower()
                aid = str(action.get("ActionID", ""))
                if name == "login":
                    authed = action.get("Username") == self.username and (
                        action.get("Secret") == self.secret
                    )
                    self.logins.append(authed)
                    if not authed:
                        _send(
                            writer, Response="Error", ActionID=aid, Message="Authentication failed"
                        )
                        continue
                    _send(
                        writer, Response="Success", ActionID=aid, Message="Authentication accepted"
                    )
                    _send(
                        writer, Event="FullyBooted", Privilege="system,all", Status="Fully Booted"
                    )
                elif not authed:
                    _send(writer, Response="Error", ActionID=aid, Message="Permission denied")
                elif name == "ping":
                    _send(writer, Response="Success", ActionID=aid, Ping="Pong")
                elif name == "originate":
                    self.originates.append(action)
                    _send(
                        writer,
                        Response="Success",
                        ActionID=aid,
                        Message="Originate successfully queued",
                    )
                    self._spawn(self._originate(writer, action, aid))
                else:
                    _send(writer, Response="Error", ActionID=aid, Message="Invalid/unknown command")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _originate(self, writer: asyncio.StreamWriter, action: dict, aid: str) -> None:
        channel = str(action["Channel"])
        script = self.scripts.get(channel, "answer")
        await asyncio.sleep(0.2)
        reason = REASONS.get(script, 4)  # 4: answered
        if reason == 4:
            variables = action.get("Variable", [])
            listed = [variables] if isinstance(variables, str) else variables
            chan_vars = dict(v.split("=", 1) for v in listed)
            host, _, port = chan_vars["VOICEBOT_AUDIOSOCKET"].rpartition(":")
            callee = AudioSocketPeer(host, int(port), call_uuid=chan_vars["VOICEBOT_UUID"])
            self.callees.append(callee)
            await callee.connect()  # the dialplan's AudioSocket() runs once the callee answers
        result = "Success" if reason == 4 else "Failure"
        _send(
            writer,
            Event="OriginateResponse",
            ActionID=aid,
            Response=result,
            Channel=channel,
            Reason=str(reason),
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()


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
