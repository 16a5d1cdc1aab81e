"""A real linphonec (liblinphone 5.1) process playing one phone in a test, driven on stdin.

linphonec runs in "file mode" (`soundcard use files`): `play <wav>` is its microphone and
`record <wav>` receives what it hears. Call progress is read from its console output.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .audio import convert_wav, silence_wav
from .baresip import RegistrarAddress, free_port
from .process import PeerError, PeerProcess

_CALL_ENDED = r"Call (\d+) with (.+?) ended \(([^)]*)\)|Call (\d+) with (.+?) error"


class Linphone:
    """One linphonec user agent registered as `user` on `registrar`.

    Waits read console lines from a cursor, so each `wait_*` sees only output that came
    after the previous wait of the same kind: an event is never missed nor seen twice.
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
        binary: str = "linphonec",
    ) -> None:
        self.user = user
        self.password = password
        self.registrar = registrar
        self.codecs = tuple(codec.upper() for codec in codecs)
        self.auto_answer = auto_answer
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"linphone-{user}-"))
        self.config_path = self.workdir / "linphonerc"
        self.log_path = self.workdir / "linphonec.log"
        self.record_path = self.workdir / "recorded.wav"
        self.trace_path = self.workdir / "liblinphone.log"
        self.sip_port = sip_port or free_port(socket.SOCK_DGRAM)
        self.rtp_ports = rtp_ports or (self.sip_port + 2, self.sip_port + 40)
        self.sip_trace = sip_trace
        self.binary = binary
        self._source_wav = source_wav
        self._cursors: dict[str, int] = {}
        self._sources = 0
        self._proc: PeerProcess | None = None

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.registrar.domain}:{self.registrar.port}"

    def uri_of(self, user: str) -> str:
        return f"sip:{user}@{self.registrar.domain}:{self.registrar.port}"

    async def start(self, timeout: float = 10.0) -> Linphone:
        """Write the config, start linphonec in file mode with only `codecs` enabled."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise PeerError(f"{self.binary!r} not found on PATH")
        # liblinphone stays in GlobalStartup (no SIP socket) if it cannot open its db
        (self.workdir / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config())
        env = dict(os.environ, HOME=str(self.workdir), LANG="C")
        argv = [exe, "-c", str(self.config_path)]
        if self.auto_answer:
            argv.append("-a")
        if self.sip_trace:  # liblinphone's debug log carries every SIP message
            argv += ["-d", "6", "-l", str(self.trace_path)]
        self._proc = PeerProcess(
            argv, log_path=self.log_path, cwd=self.workdir, env=env, stdin=True
        )
        await self._proc.start()
        try:
            await self._proc.wait_line(r"video is disabled|linphonec> ", timeout=timeout)
            await self.command("soundcard use files", r"Using wav files", timeout=timeout)
            await self._limit_codecs(timeout)
            await self._set_source(self._source_wav)
            await self.command(f"record {self.record_path}")
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """`quit` (linphonec unregisters and ends calls), then SIGTERM/SIGKILL."""
        if self._proc is None:
            return
        if self._proc.running:
            start = len(self._proc.lines)
            try:
                await self._proc.write_line("quit")
                await self._proc.wait_line(r"Terminating", timeout=2, start=start)
            except (PeerError, OSError):
                pass
        await self._proc.stop(grace=3)

    def cleanup(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> Linphone:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- commands -----------------------------------------------------------------------

    async def command(self, line: str, expect: str | None = None, timeout: float = 5.0) -> str:
        """Type `line` and wait until linphonec took it; with `expect`, the first later
        output line matching that pattern."""
        proc = self._require()
        echo = await self._type(line, timeout)
        if expect is None:
            return ""
        _, found = await proc.wait_line(expect, timeout=timeout, start=echo + 1)
        return found.group(0)

    async def _type(self, line: str, timeout: float) -> int:
        """Write one command; the index of linphonec's echo of it (printed when consumed)."""
        proc = self._require()
        start = len(proc.lines)
        await proc.write_line(line)
        # the echo is not always verbatim (`play a/b.wav` echoes as `play a//b.wav`)
        echo = rf"^(?:linphonec> )?{re.escape(line.split()[0])}(\s|$)"
        index, _ = await proc.wait_line(echo, timeout=timeout, start=start)
        return index

    async def dial(self, uri: str) -> None:
        await self.command(f"call {uri}", r"Establishing call id to|Call \d+ .*error|Error")

    async def answer(self) -> None:
        await self.command("answer")

    async def hangup(self) -> None:
        await self.command("terminate all")

    async def send_dtmf(self, digits: str) -> None:
        """Send `digits` (RFC 4733 by default); linphonec sends DTMF for a line of digits."""
        for digit in digits:
            await self.command(digit)
            await asyncio.sleep(0.25)

    async def play(self, wav_path: Path) -> None:
        """Use `wav_path` as the microphone; switches a running call's source at once."""
        await self._set_source(wav_path)

    def recorded_wav(self) -> Path | None:
        """The WAV of audio received in the call (written by linphonec while in a call)."""
        return self.record_path if self.record_path.exists() else None

    # -- events -------------------------------------------------------------------------

    async def wait_registered(self, timeout: float = 10.0) -> str:
        """Poll `status register` until the account is registered; that status line."""
        async with asyncio.timeout(timeout):
            while True:
                status = await self.command(
                    "status register", r"registered(=-?\d+|, identity=.*)", timeout
                )
                if status.startswith("registered, "):
                    return status
                await asyncio.sleep(0.2)

    async def wait_incoming(self, timeout: float = 10.0) -> str:
        return await self._next("incoming", r"Receiving new incoming call from ([^,\s]+)", timeout)

    async def wait_established(self, timeout: float = 10.0) -> str:
        found = await self._next(
            "established", rf"Media streams established with|{_CALL_ENDED}", timeout
        )
        if "established" not in found:
            raise PeerError(f"linphonec {self.user}: call ended before media: {found}")
        return found

    async def wait_closed(self, timeout: float = 10.0) -> str:
        return await self._next("closed", _CALL_ENDED, timeout)

    async def wait_dtmf(self, timeout: float = 10.0) -> str:
        """The next received DTMF digit."""
        found = await self._next("dtmf", r"Receiving tone (\S)", timeout)
        return found[len("Receiving tone ") :][:1]

    async def _next(self, kind: str, pattern: str, timeout: float) -> str:
        proc = self._require()
        start = self._cursors.get(kind, 0)
        index, _ = await proc.wait_line(pattern, timeout=timeout, start=start)
        self._cursors[kind] = index + 1
        return proc.lines[index].removeprefix("linphonec> ")

    # -- plumbing -----------------------------------------------------------------------

    def _require(self) -> PeerProcess:
        if self._proc is None or not self._proc.running:
            raise PeerError(f"linphonec {self.user} is not running")
        return self._proc

    async def _set_source(self, wav: Path | None) -> None:
        self._sources += 1
        if wav is None:
            dst = silence_wav(self.workdir / f"src-{self._sources}-silence.wav", 1.0)
        else:
            dst = await convert_wav(wav, self.workdir / f"src-{self._sources}-{wav.stem}.wav")
        await self.command(f"play {dst}")

    async def _limit_codecs(self, timeout: float) -> None:
        proc = self._require()
        first = await self._type("codec list", timeout)
        last = await self._type("soundcard show", timeout)  # marks the end of the list
        row = re.compile(r"^\s*(\d+): (\S+) \((\d+)\) (enabled|disabled)")
        rows = [m for line in proc.lines[first + 1 : last] if (m := row.search(line))]
        if not any(m.group(2).upper() in self.codecs for m in rows):
            raise PeerError(f"linphonec offers none of {self.codecs}: {proc.tail()}")
        for m in rows:
            wanted = m.group(2).upper() in self.codecs and m.group(3) == "8000"
            if (m.group(4) == "enabled") != wanted:
                state = "enable" if wanted else "disable"
                await self.command(f"codec {state} {m.group(1)}", rf"{m.group(1)}: ")

    def _config(self) -> str:
        domain = f"{self.registrar.domain}:{self.registrar.port}"
        return f"""\
[sip]
bind_address=127.0.0.1
sip_port={self.sip_port}
sip_tcp_port=0
sip_tls_port=0
use_ipv6=0
guess_hostname=0
contact="{self.user}" <sip:{self.user}@127.0.0.1>
default_proxy=0
register_only_when_upnp_is_ok=0
inc_timeout=60
in_call_timeout=0
media_encryption=none

[net]
mtu=1300

[rtp]
bind_address=127.0.0.1
audio_rtp_port={self.rtp_ports[0]}-{self.rtp_ports[1]}
video_rtp_port={self.rtp_ports[1] + 1}-{self.rtp_ports[1] + 10}
text_rtp_port={self.rtp_ports[1] + 11}-{self.rtp_ports[1] + 20}
audio_jitt_comp=60
nortp_timeout=30

[sound]
echocancellation=0

[video]
enabled=0
capture=0
display=0
automatically_initiate=0
automatically_accept=0

[misc]
max_calls=4
history_max_size=0

[proxy_0]
reg_proxy=<sip:{domain};transport=udp>
reg_identity="{self.user}" <sip:{self.user}@{domain}>
reg_expires=600
reg_sendregister=1
publish=0
dial_escape_plus=0
avpf=0

[auth_info_0]
username={self.user}
passwd={self.password}
realm={self.registrar.domain}
domain={domain}
"""
