"""A real baresip (1.0.0) process playing one phone in a test, driven over ctrl_tcp.

It sends a WAV file as its microphone (`aufile` source), dumps what it hears to WAV files
(`sndfile` filter: `dump-<time>-dec.wav`; 1.0.0's aufile has no player) and reports
registration and call events as netstring JSON on the ctrl_tcp socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from .audio import convert_wav, silence_wav
from .process import PeerError, PeerProcess

MODULE_DIR = Path("/usr/lib/baresip/modules")
SOURCE_PAD_SECONDS = 120.0


class RegistrarAddress(Protocol):
    host: str
    port: int
    domain: str


def free_port(kind: socket.SocketKind) -> int:
    """A port on 127.0.0.1 that nothing is bound to right now, for `kind` sockets."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class Baresip:
    """One baresip user agent registered as `user` on `registrar`.

    Events from ctrl_tcp are kept in `events`. Each `wait_*` returns the first matching event
    after the one its previous call returned, so an event that arrived before the wait is
    not missed and none is returned twice.
    """

    def __init__(
        self,
        user: str,
        password: str,
        registrar: RegistrarAddress,
        *,
        source_wav: Path | None = None,
        codecs: Sequence[str] = ("PCMU", "PCMA"),
        auto_answer: bool = False,
        workdir: Path | None = None,
        sip_port: int | None = None,
        rtp_ports: tuple[int, int] | None = None,
        sip_trace: bool = False,
        binary: str = "baresip",
    ) -> None:
        self.user = user
        self.password = password
        self.registrar = registrar
        self.codecs = tuple(codecs)
        self.auto_answer = auto_answer
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"baresip-{user}-"))
        self.sound_dir = self.workdir / "sound"
        self.log_path = self.workdir / "baresip.log"
        self.sip_port = sip_port or free_port(socket.SOCK_DGRAM)
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        self.rtp_ports = rtp_ports or (self.sip_port + 2, self.sip_port + 40)
        self.sip_trace = sip_trace
        self.binary = binary
        self.events: list[dict[str, Any]] = []
        self._source_wav = source_wav
        self._cursors: dict[tuple[str, ...], int] = {}
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tokens = itertools.count(1)
        self._changed = asyncio.Condition()
        self._proc: PeerProcess | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listener: asyncio.Task[None] | None = None
        self._silence: Path | None = None
        self._register_cursor = 0

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.registrar.domain}:{self.registrar.port}"

    def uri_of(self, user: str) -> str:
        """The SIP URI of another user on the same registrar."""
        return f"sip:{user}@{self.registrar.domain}:{self.registrar.port}"

    async def start(self, timeout: float = 10.0) -> Baresip:
        """Write the config, start baresip and connect to its ctrl_tcp socket."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise PeerError(f"{self.binary!r} not found on PATH")
        self.sound_dir.mkdir(parents=True, exist_ok=True)
        source = await self._prepare_source(self._source_wav)
        (self.workdir / "config").write_text(self._config(source))
        (self.workdir / "accounts").write_text(self._account_line() + "\n")
        (self.workdir / "contacts").write_text("")
        self._proc = PeerProcess(
            [
                exe,
                "-f",
                str(self.workdir),
                "-4",
                "-n",
                "127.0.0.1",
                *(["-s"] if self.sip_trace else []),
            ],
            log_path=self.log_path,
            cwd=self.workdir,
        )
        await self._proc.start()
        try:
            await self._proc.wait_line(r"baresip is ready", timeout=timeout)
            await self._connect(timeout)
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Quit baresip (SIGTERM, then SIGKILL) and close the control connection."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
        if self._proc is not None:
            await self._proc.stop()

    def cleanup(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> Baresip:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- commands -----------------------------------------------------------------------

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        """Run a long command (as typed after `/`); its response text, or PeerError."""
        if self._writer is None:
            raise PeerError("baresip is not running")
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        message = {"command": name, "params": params, "token": token}
        self._writer.write(_netstring(json.dumps(message).encode()))
        await self._writer.drain()
        try:
            response = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise PeerError(f"baresip: no response to /{name} {params} in {timeout}s") from None
        finally:
            self._responses.pop(token, None)
        data = str(response.get("data", ""))
        if not response.get("ok", False):
            raise PeerError(f"baresip: /{name} {params} failed: {data}")
        return data

    async def dial(self, uri: str) -> None:
        await self.command("dial", uri)

    async def answer(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        await self.command("hangup")

    async def send_dtmf(self, digits: str) -> None:
        """Send `digits` as RFC 4733 telephone-events, one key press each."""
        for digit in digits:
            await self.command("sndcode", digit)
            await asyncio.sleep(0.25)

    async def play(self, wav_path: Path) -> None:
        """Switch the microphone of the current call to `wav_path` (from its start)."""
        source = await self._prepare_source(wav_path)
        await self.command("ausrc", f"aufile,{source}")

    async def mute_source(self) -> None:
        """Send silence from now on."""
        await self.command("ausrc", f"aufile,{await self._prepare_source(None)}")

    def recorded_wav(self) -> Path | None:
        """The newest WAV of audio received (decoded) in a call, if any call had media."""
        dumps = sorted(self.sound_dir.glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)
        return dumps[-1] if dumps else None

    def sent_wav(self) -> Path | None:
        """The newest WAV of audio sent (before encoding) in a call."""
        dumps = sorted(self.sound_dir.glob("dump-*-enc.wav"), key=lambda p: p.stat().st_mtime)
        return dumps[-1] if dumps else None

    # -- events -------------------------------------------------------------------------

    async def wait_event(self, *kinds: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first event of one of `kinds` (e.g. "CALL_ESTABLISHED") after the event the
        previous wait for the same kinds returned."""
        key = tuple(sorted(kinds))
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for index in range(self._cursors.get(key, 0), len(self.events)):
                        if self.events[index].get("type") in kinds:
                            self._cursors[key] = index + 1
                            return self.events[index]
                    if self._listener is None or self._listener.done():
                        raise PeerError(f"baresip {self.user}: control channel closed")
                    await self._changed.wait()
        except TimeoutError:
            tail = self._proc.tail() if self._proc else ""
            types = [e.get("type") for e in self.events]
            raise PeerError(
                f"baresip {self.user}: no {'/'.join(kinds)} within {timeout}s; "
                f"events {types}; log tail:\n{tail}"
            ) from None

    async def wait_registered(self, timeout: float = 10.0) -> str:
        """Wait for the next registration outcome; the registrar's reply, or PeerError.

        Read from baresip's output rather than ctrl_tcp: the first REGISTER is answered
        before the control connection exists, and ctrl_tcp does not replay events.
        """
        assert self._proc is not None
        user = re.escape(self.user)
        ok = rf"^{user}@\S+: \{{\d+/\w+/v4\}} (200 .*)"
        failed = rf"reg: sip:{user}@\S+: (\d{{3}} .*)"
        index, found = await self._proc.wait_line(
            f"{ok}|{failed}", timeout=timeout, start=self._register_cursor
        )
        self._register_cursor = index + 1
        if found.group(1) is None:
            raise PeerError(f"baresip {self.user}: registration failed: {found.group(2)}")
        return found.group(1)

    async def wait_incoming(self, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait_event("CALL_INCOMING", timeout=timeout)

    async def wait_established(self, timeout: float = 10.0) -> dict[str, Any]:
        event = await self.wait_event("CALL_ESTABLISHED", "CALL_CLOSED", timeout=timeout)
        if event["type"] != "CALL_ESTABLISHED":
            raise PeerError(f"baresip {self.user}: call closed: {event.get('param')}")
        return event

    async def wait_closed(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next CALL_CLOSED; its `param` is the reason, e.g. "404 Not Found"."""
        return await self.wait_event("CALL_CLOSED", timeout=timeout)

    async def wait_dtmf(self, timeout: float = 10.0) -> str:
        """The next DTMF digit received (RFC 4733)."""
        event = await self.wait_event("CALL_DTMF_START", timeout=timeout)
        return str(event.get("param", ""))

    # -- plumbing -----------------------------------------------------------------------

    async def _prepare_source(self, wav: Path | None) -> Path:
        """A copy of `wav` baresip's aufile accepts: 8 kHz mono s16, padded with silence.

        1.0.0's aufile source reports "end of file" as an audio error and the call is
        closed, so every source is padded far beyond any test's length.
        """
        if wav is None:
            if self._silence is None:
                self._silence = silence_wav(self.workdir / "silence.wav", SOURCE_PAD_SECONDS)
            return self._silence
        dst = self.workdir / f"src-{next(self._tokens)}-{wav.stem}.wav"
        return await convert_wav(wav, dst, pad_seconds=SOURCE_PAD_SECONDS)

    def _config(self, source: Path) -> str:
        modules = ["g711", "aufile", "sndfile", "aubridge"]
        lines = [
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "call_local_timeout 120",
            "call_max_calls 4",
            f"audio_source aufile,{source}",
            "audio_player aubridge,nowhere",
            "audio_alert aubridge,nowhere",
            "ausrc_srate 8000",
            "auplay_srate 8000",
            "ausrc_channels 1",
            "auplay_channels 1",
            f"rtp_ports {self.rtp_ports[0]}-{self.rtp_ports[1]}",
            "rtp_stats no",
            "rtcp_mux no",
            "jitter_buffer_delay 1-10",
            f"module_path {MODULE_DIR}",
            *(f"module {name}.so" for name in modules),
            "module_tmp uuid.so",
            "module_tmp account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.sound_dir}",
            "ringback_disabled yes",
            "menu_bell no",
        ]
        return "\n".join(lines) + "\n"

    def _account_line(self) -> str:
        answermode = "auto" if self.auto_answer else "manual"
        return (
            f"<{self.aor}>;auth_pass={self.password};"
            f"audio_codecs={','.join(self.codecs)};answermode={answermode};"
            "regint=600;mwi=no;ptime=20"
        )

    async def _connect(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    self._reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self.ctrl_port
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.1)
        self._listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        assert self._reader is not None
        try:
            while True:
                size = await self._reader.readuntil(b":")
                payload = await self._reader.readexactly(int(size[:-1]))
                await self._reader.readexactly(1)  # trailing ","
                self._dispatch(json.loads(payload))
                async with self._changed:
                    self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("response"):
            future = self._responses.get(str(message.get("token")))
            if future is not None and not future.done():
                future.set_result(message)
        elif message.get("event"):
            self.events.append(message)
