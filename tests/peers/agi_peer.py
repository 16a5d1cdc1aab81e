"""Asterisk running `AGI(agi://host:port/interview)` for one call, for tests.

Sends the real `agi_*` environment Asterisk 22 sends (then a blank line), answers each
command with ``200 result=…`` lines, and plays `EXEC AudioSocket uuid,host:port` by
connecting an `AudioSocketPeer` with that UUID; that command returns when the socket ends,
as Asterisk 22.10 does (captured): ``200 result=0`` when voicebot ended it (0x00), and when
the caller hung up ``200 result=-1`` followed by a ``HANGUP`` line.
"""

from __future__ import annotations

import asyncio

from tests.peers.audiosocket_peer import AudioSocketPeer


def agi_environment(port: int, caller: str, script: str = "interview") -> str:
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": "PJSIP/trunk-00000007",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": "1732465200.7",
        "agi_version": "22.10.1",
        "agi_callerid": caller,
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "5551000",
        "agi_rdnis": "unknown",
        "agi_context": "from-candidates",
        "agi_extension": "5551000",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140245052507840",
    }
    return "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"


class AgiPeer:
    def __init__(
        self, port: int, *, caller: str = "+15551230001", variables: dict[str, str] | None = None
    ) -> None:
        self.port, self.caller = port, caller
        self.variables = variables or {}
        self.hang_up_before = ""  # a command the caller hangs up before (Asterisk: "HANGUP")
        self.commands: list[str] = []
        self.callee: AudioSocketPeer | None = None
        self.audiosocket_ready = asyncio.Event()

    async def run(self) -> None:
        """Run the AGI session until voicebot closes it."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(agi_environment(self.port, self.caller).encode())
        await writer.drain()
        try:
            while line := (await reader.readline()).decode().strip():
                self.commands.append(line)
                writer.write(f"{await self._execute(line)}\n".encode())
                await writer.drain()
        finally:
            writer.close()

    async def _execute(self, command: str) -> str:
        if self.hang_up_before and command.startswith(self.hang_up_before):
            self.hang_up_before = "gone"
            return "HANGUP"
        if self.hang_up_before == "gone":
            return "200 result=-1"
        if command.startswith("GET VARIABLE "):
            name = command.removeprefix("GET VARIABLE ")
            if name in self.variables:
                return f"200 result=1 ({self.variables[name]})"
            return "200 result=0"
        if command == "ANSWER":
            return "200 result=0"
        if command.startswith("EXEC AudioSocket "):
            call_uuid, _, address = command.removeprefix("EXEC AudioSocket ").partition(",")
            host, _, port = address.rpartition(":")
            self.callee = AudioSocketPeer(host, int(port), call_uuid=call_uuid)
            await self.callee.connect()
            self.audiosocket_ready.set()
            await self.callee.closed.wait()
            return "200 result=0" if self.callee.hangup_received else "200 result=-1\nHANGUP"
        return "510 Invalid or unknown command"
