"""Kamailio's dispatcher (the generated config, run by Debian's kamailio) in front of several
bots, each the project's own SIP endpoint on loopback, called by another one.

What an operator relies on: calls spread evenly; BYEs follow the record-route both ways; a
bot that stops answering, or is draining, gets no new calls once its probe fails, the
others take them; an INVITE that reaches a silent bot before the probe noticed still gets
answered by another; a bot that answers again gets calls again.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicebot.cli import app
from voicebot.config import SipConfig
from voicebot.telephony.base import HungUp
from voicebot.telephony.kamailio import LocalDispatcher
from voicebot.telephony.registrar import free_udp_port
from voicebot.telephony.sip import SipCall, SipEndpoint

HOST = "127.0.0.1"
pytestmark = [
    pytest.mark.sip,
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        not (shutil.which("kamailio") and shutil.which("kamcmd")),
        reason="kamailio and kamcmd are needed",
    ),
]


class Bot:
    """One worker: a SIP endpoint that answers every call and remembers which it took."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[SipCall] = []
        self.endpoint = SipEndpoint(
            SipConfig(listen_host=HOST, listen_port=0, username=name, allow_from=(HOST,)),
            self._take,
        )

    async def _take(self, call: SipCall) -> None:
        self.calls.append(call)
        await asyncio.Event().wait()  # up until someone hangs up

    @property
    def uri(self) -> str:
        return f"sip:{HOST}:{self.endpoint.port}"


class SilentPeer:
    """A bot that hangs without closing its address: its port takes datagrams, answers none."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(0.2)
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                self.received.append(self.sock.recv(65535))

    def methods(self) -> list[str]:
        return [d.split(b" ", 1)[0].decode() for d in self.received]

    def invited(self) -> set[str]:
        """The Call-IDs of the INVITEs that reached it (retransmissions counted once)."""
        return {
            line.split(b":", 1)[1].strip().decode()
            for d in self.received
            if d.startswith(b"INVITE ")
            for line in d.split(b"\r\n")
            if line.lower().startswith(b"call-id:")
        }

    @classmethod
    async def on(cls, port: int) -> SilentPeer:
        """On the port a stopped bot used (its socket closes on the loop's next turn)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):
            try:
                sock.bind((HOST, port))
                return cls(sock)
            except OSError:
                await asyncio.sleep(0.02)
        sock.close()
        raise AssertionError(f"port {port} stayed in use after the bot stopped")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@contextlib.asynccontextmanager
async def bots_behind_kamailio(
    n: int, tmp_path: Path, ping_interval_s: int = 1
) -> AsyncIterator[tuple[list[Bot], LocalDispatcher, SipEndpoint]]:
    bots = [Bot(f"bot{i}") for i in range(n)]
    caller = SipEndpoint(SipConfig(listen_host=HOST, listen_port=0, username="alice"))
    async with contextlib.AsyncExitStack() as stack:
        for bot in bots:
            await bot.endpoint.start()
            stack.push_async_callback(bot.endpoint.stop)
        dispatcher = LocalDispatcher(
            tuple(b.uri for b in bots),
            ping_interval_s=ping_interval_s,
            reply_timeout_ms=1000,
            workdir=tmp_path / "kamailio",
        )
        await stack.enter_async_context(dispatcher)
        await caller.start()
        stack.push_async_callback(caller.stop)
        yield bots, dispatcher, caller


async def place(caller: SipEndpoint, dispatcher: LocalDispatcher, bots: list[Bot]) -> Bot:
    """One call through the dispatcher, answered; the bot that took it."""
    call = await caller.call(f"sip:interview@{HOST}:{dispatcher.port}", ring_timeout=10)
    taken = [b for b in bots if any(c.call_id == call.call_id for c in b.calls)]
    assert len(taken) == 1, f"call {call.call_id} reached {[b.name for b in taken]}"
    return taken[0]


async def hang_up_all(bots: list[Bot]) -> None:
    for bot in bots:
        for call in bot.calls:
            if not call.ended:
                await call.hangup()


async def wait_state(dispatcher: LocalDispatcher, uri: str, flags: str, limit: float) -> None:
    """Until kamailio holds `uri` with `flags` ("AP" up, "IP" down), polling its state."""
    held: dict[str, str] = {}
    for _ in range(int(limit * 10)):
        held = await asyncio.to_thread(dispatcher.states)
        if held.get(uri) == flags:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{uri} never {flags} in {limit} s: kamailio holds {held}")


async def test_six_calls_reach_three_bots_two_each_and_byes_follow_the_dialog(
    tmp_path: Path,
) -> None:
    async with bots_behind_kamailio(3, tmp_path) as (bots, dispatcher, caller):
        taken = Counter([(await place(caller, dispatcher, bots)).name for _ in range(6)])
        assert taken == {"bot0": 2, "bot1": 2, "bot2": 2}

        outbound = {c.call_id: c for c in caller._calls.values()}
        assert len(outbound) == 6
        # the bot's BYE goes by kamailio's Record-Route to the caller ...
        first = [bot.calls[0] for bot in bots]
        for call in first:
            await call.hangup()
        for call in first:
            heard = await asyncio.wait_for(_hung_up(outbound[call.call_id]), 5)
            assert heard.by_remote
        # ... and the caller's BYE by kamailio to the bot that has the call
        second = [bot.calls[1] for bot in bots]
        for call in second:
            await outbound[call.call_id].hangup()
        for call in second:
            assert (await asyncio.wait_for(_hung_up(call), 5)).by_remote
        assert caller.active_calls == 0


async def _hung_up(call: SipCall) -> HungUp:
    async for event in call.events():
        if isinstance(event, HungUp):
            return event
    raise AssertionError(f"call {call.call_id} ended without a hang-up")


async def test_a_bot_that_stops_answering_gets_no_new_calls_the_others_take_them(
    tmp_path: Path,
) -> None:
    async with bots_behind_kamailio(3, tmp_path) as (bots, dispatcher, caller):
        for bot in bots:
            await wait_state(dispatcher, bot.uri, "AP", 5)  # probed and answering
        assert Counter([(await place(caller, dispatcher, bots)).name for _ in range(3)]) == {
            "bot0": 1, "bot1": 1, "bot2": 1,
        }  # fmt: skip
        await hang_up_all(bots)

        down = bots[1]
        await down.endpoint.stop()
        silent = await SilentPeer.on(down.endpoint.port)
        try:
            await wait_state(dispatcher, down.uri, "IP", 5)
            assert "OPTIONS" in silent.methods()  # it was probed, and the probe went unanswered
            taken = Counter([(await place(caller, dispatcher, bots)).name for _ in range(4)])
            assert taken == {"bot0": 2, "bot2": 2}
            assert not silent.invited()
        finally:
            silent.close()
        await hang_up_all(bots)


async def test_an_invite_to_a_silent_bot_before_its_probe_fails_over_to_another(
    tmp_path: Path,
) -> None:
    # probes far apart: the INVITE finds the bot silent before any probe does
    async with bots_behind_kamailio(2, tmp_path, ping_interval_s=600) as (
        bots,
        dispatcher,
        caller,
    ):
        await bots[0].endpoint.stop()
        silent = await SilentPeer.on(bots[0].endpoint.port)
        try:
            # round-robin tries the silent bot on the first or second call, once: its INVITE
            # times out, the other bot answers, and the silent one is marked down
            taken = [(await place(caller, dispatcher, bots)).name for _ in range(3)]
            assert taken == ["bot1"] * 3
            assert len(silent.invited()) == 1
            assert "OPTIONS" not in silent.methods()  # no probe found it: the INVITE did
            assert (await asyncio.to_thread(dispatcher.states))[bots[0].uri] == "IP"
        finally:
            silent.close()
        await hang_up_all(bots)


async def test_a_draining_bot_gets_no_new_calls_and_gets_them_again_once_back(
    tmp_path: Path,
) -> None:
    async with bots_behind_kamailio(2, tmp_path) as (bots, dispatcher, caller):
        deploying = bots[0]
        deploying.endpoint.draining = True  # what `voicebot serve` does on SIGTERM
        await wait_state(dispatcher, deploying.uri, "IP", 5)  # its OPTIONS answer is a 503
        taken = Counter([(await place(caller, dispatcher, bots)).name for _ in range(4)])
        assert taken == {"bot1": 4}
        assert deploying.calls == []

        deploying.endpoint.draining = False  # the new version is up on the same address
        await wait_state(dispatcher, deploying.uri, "AP", 5)
        taken = Counter([(await place(caller, dispatcher, bots)).name for _ in range(4)])
        assert taken == {"bot0": 2, "bot1": 2}
        await hang_up_all(bots)


def test_the_snippet_command_writes_a_config_kamailio_accepts(tmp_path: Path) -> None:
    port = free_udp_port()
    args = ["kamailio", "snippet", "--bot", "sip:127.0.0.1:5071", "--bot", "sip:127.0.0.1:5072"]
    args += ["--listen", f"udp:127.0.0.1:{port}", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args, prog_name="voicebot")
    assert result.exit_code == 0, result.output
    listed = (tmp_path / "dispatcher.list").read_text().splitlines()
    assert listed[1:] == ["1 sip:127.0.0.1:5071 0 0", "1 sip:127.0.0.1:5072 0 0"]
    cfg = (tmp_path / "kamailio.cfg").read_text()
    assert f'"list_file", "{(tmp_path / "dispatcher.list").resolve()}"' in cfg
    assert '"ds_ping_interval", 2' in cfg
    check = subprocess.run(
        ["kamailio", "-c", "-f", str(tmp_path / "kamailio.cfg")],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]


@pytest.mark.parametrize(
    ("bot", "says"),
    [
        ("127.0.0.1:5071", "expected sip:HOST:PORT"),
        ("sip:127.0.0.1:70000", "port 70000 is out of range"),
        ("sip:bot;transport=tcp", "expected sip:HOST:PORT"),
    ],
)
def test_a_bad_bot_address_is_one_line_and_exit_2(bot: str, says: str) -> None:
    result = CliRunner().invoke(app, ["kamailio", "snippet", "--bot", bot], prog_name="voicebot")
    assert result.exit_code == 2
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1
