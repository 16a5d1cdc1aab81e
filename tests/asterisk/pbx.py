"""A real Asterisk 22 (../shared/asterisk) for tests, on free loopback ports.

    pbx = Pbx(tmp_dir)            # nothing runs yet; ports are picked now
    cfg = pbx.voicebot_config()   # a voicebot Config that points at this Asterisk
    pbx.start(cfg)                # config = base + `voicebot asterisk snippet` for cfg (+ extra)
    pbx.rx("core show channels")  # the CLI (`asterisk -rx`)
    pbx.leftovers()               # channels and bridges still on Asterisk (should be none)
    pbx.stop()                    # SIGTERM, then SIGKILL

The generated config has: a UDP pjsip transport, ARI over HTTP (user `voicebot`), AMI (user
`voicebot`), an RTP port range, a phone endpoint `candidate` (no auth; phones REGISTER as
`candidate`: the latest one is `PJSIP/candidate`; any phone is `phone_dial(its SIP port)`;
a phone calling in is identified as `candidate` by its From user), the context
`from-phones` the phones call into (it includes the snippet's `from-candidates`, where 7000 is
the configured bridge's live line), and whatever `extra` adds per file. Why a real Asterisk:
the spec-checked peers in tests/peers missed its event timing and codec rules (issue 13).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voicebot.config import Config, load_config

ASTERISK_DIR = Path(os.environ.get("VOICEBOT_ASTERISK_DIR", "/work/shared/asterisk"))
RUN_ASTERISK = ASTERISK_DIR / "run-asterisk"
ARI_USER, ARI_PASSWORD = "voicebot", "voicebot-test"
AMI_USER, AMI_PASSWORD = "voicebot", "voicebot-test"
PHONE = "candidate"  # the phone endpoint's name (and the user phones register as)
EXTENSION = "7000"  # the screening line in from-candidates


def available() -> bool:
    """Whether the real Asterisk is on this machine (tests are skipped without it)."""
    return RUN_ASTERISK.exists()


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing is bound to right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_range(size: int, low: int = 20000, high: int = 60000) -> tuple[int, int]:
    """`size` consecutive UDP ports that are free now (a random start, so parallel runs
    rarely pick the same range)."""
    rng = random.Random()
    for _ in range(200):
        start = rng.randrange(low, high - size) & ~1
        socks = []
        try:
            for port in range(start, start + size, max(1, size // 16)):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no free UDP range of {size} ports")


class PbxError(RuntimeError):
    """Asterisk did not start, or a CLI command failed."""


@dataclasses.dataclass
class Leftovers:
    """What Asterisk still holds: ARI views of channels and bridges (ids and names)."""

    channels: list[dict[str, Any]]
    bridges: list[dict[str, Any]]

    def __bool__(self) -> bool:
        return bool(self.channels or self.bridges)

    def __str__(self) -> str:
        chans = [c.get("name", c.get("id")) for c in self.channels]
        return f"channels {chans}, bridges {[b.get('id') for b in self.bridges]}"


class Pbx:
    """One Asterisk process with a generated config dir under `root` (see the module doc)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.conf_dir = self.root / "conf"
        self.run_dir = self.root / "run"
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.http_port = free_port()
        self.ami_port = free_port()
        self.rtp_range = free_udp_range(400)
        self.proc: subprocess.Popen[bytes] | None = None
        self.files: dict[str, str] = {}

    # addresses ----------------------------------------------------------------------------

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "log" / "messages.log"

    def phone_dial(self, sip_port: int, user: str = PHONE) -> str:
        """The Dial()/ARI endpoint string that rings the phone listening on `sip_port`."""
        return f"PJSIP/{PHONE}/sip:{user}@127.0.0.1:{sip_port}"

    def voicebot_config(self, bridge: str = "ari", **sections: Mapping[str, Any]) -> Config:
        """A voicebot Config pointing at this Asterisk (ARI, AMI, free ports for voicebot's
        own RTP/FastAGI/AudioSocket listeners); `sections` override keys per section,
        e.g. `ari={"format": "slin16"}`."""
        lo, hi = free_udp_range(400)
        data: dict[str, dict[str, Any]] = {
            "ari": {
                "url": self.ari_url,
                "username": ARI_USER,
                "password": ARI_PASSWORD,
                "rtp_port_min": lo,
                "rtp_port_max": hi,
                "endpoint": f"PJSIP/{PHONE}/sip:{{number}}",
            },
            "agi": {
                "ami_port": self.ami_port,
                "ami_username": AMI_USER,
                "ami_password": AMI_PASSWORD,
                "agi_port": free_port(),
                "audiosocket_port": free_port(),
                "channel": f"PJSIP/{PHONE}/sip:{{number}}",
            },
        }
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        toml = [f'bridge = "{bridge}"']
        for name, values in data.items():
            toml.append(f"[{name}]")
            toml += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        path = self.root / f"voicebot-{bridge}.toml"
        self.root.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(toml) + "\n")
        return load_config(path, env={})

    # config -------------------------------------------------------------------------------

    def config_files(self, cfg: Config, extra: Mapping[str, str] = {}) -> dict[str, str]:
        """Base config + the snippet voicebot prints for `cfg` + `extra`, per file name."""
        from voicebot.serve import asterisk_snippet_files

        example = ASTERISK_DIR / "example-conf"
        lo, hi = self.rtp_range
        files = {
            "logger.conf": (example / "logger.conf").read_text(),
            "modules.conf": (example / "modules.conf").read_text(),
            "indications.conf": (example / "indications.conf").read_text(),
            "musiconhold.conf": "",
            "rtp.conf": f"[general]\nrtpstart = {lo}\nrtpend = {hi}\n",
            "pjsip.conf": (
                f"[transport-udp]\ntype = transport\nprotocol = udp\n"
                f"bind = 127.0.0.1:{self.sip_port}\n\n"
                f"[{PHONE}]\ntype = endpoint\ncontext = from-phones\ndisallow = all\n"
                f"allow = ulaw\naors = {PHONE}\ndirect_media = no\nrtp_symmetric = yes\n"
                "media_address = 127.0.0.1\nbind_rtp_to_media_address = yes\n"
                "dtmf_mode = rfc4733\n\n"
                f"[{PHONE}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
                "qualify_frequency = 0\n"
            ),
            "extensions.conf": "[from-phones]\ninclude => from-candidates\n\n",
        }
        for name, text in asterisk_snippet_files(cfg).items():
            if name in ("pjsip.conf", "extensions.conf", "modules.conf"):
                files[name] = files.get(name, "") + "\n" + text
            else:  # http, ari, manager, amd: the snippet's section is the whole file
                files[name] = text
        for name, text in extra.items():
            files[name] = files.get(name, "") + "\n" + text
        return files

    def write_config(self, files: Mapping[str, str]) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (self.conf_dir / name).write_text(text)
        self.files.update(files)

    # lifecycle ----------------------------------------------------------------------------

    def start(
        self, cfg: Config | None = None, extra: Mapping[str, str] = {}, timeout: float = 30.0
    ) -> Pbx:
        """Write the config and run Asterisk until ARI answers (and AMI accepts)."""
        if not available():
            raise PbxError(f"no Asterisk at {RUN_ASTERISK}")
        cfg = cfg or self.voicebot_config()
        if cfg.ari.url.rstrip("/") != self.ari_url or cfg.agi.ami_port != self.ami_port:
            raise PbxError("start() wants a Config from this Pbx's voicebot_config()")
        self.write_config(self.config_files(cfg, extra))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        out = (self.root / "asterisk.out").open("ab")
        self.proc = subprocess.Popen(
            [str(RUN_ASTERISK), str(self.conf_dir), str(self.run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PbxError(f"Asterisk exited ({self.proc.returncode}):\n{self.tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError, PbxError):
                self.ari("GET", "/asterisk/info")
                with socket.create_connection(("127.0.0.1", self.ami_port), timeout=1):
                    pass
                return self
            time.sleep(0.2)
        self.stop()
        raise PbxError(f"ARI not ready within {timeout}s:\n{self.tail()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace`; the whole process group."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def __enter__(self) -> Pbx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        """Stop and delete the config and run dirs."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # talking to it ------------------------------------------------------------------------

    def rx(self, command: str, timeout: float = 10.0) -> str:
        """One CLI command (`asterisk -rx`); its output."""
        done = subprocess.run(
            [str(RUN_ASTERISK), str(self.conf_dir), str(self.run_dir), "-rx", command],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise PbxError(f"-rx {command!r}: rc {done.returncode}: {done.stderr.decode()}")
        return done.stdout.decode("utf-8", "replace")

    def ari(self, method: str, path: str, timeout: float = 5.0) -> Any:
        """A blocking ARI request (for checks from the test; voicebot uses its own client)."""
        auth = b64encode(f"{ARI_USER}:{ARI_PASSWORD}".encode()).decode()
        req = urllib.request.Request(
            f"{self.ari_url}/ari{path}", method=method, headers={"Authorization": f"Basic {auth}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise PbxError(f"ARI {method} {path}: HTTP {e.code} {e.read()[:200]!r}") from None
        return json.loads(body) if body else None

    def leftovers(self) -> Leftovers:
        """Every channel and bridge on Asterisk now (ARI lists them all, in Stasis or not)."""
        return Leftovers(self.ari("GET", "/channels"), self.ari("GET", "/bridges"))

    def wait_clean(self, timeout: float = 10.0) -> Leftovers:
        """Wait until no channel or bridge is left (teardown is asynchronous); what is left.
        It blocks: from a test whose event loop must go on, `await asyncio.to_thread(...)`."""
        deadline = time.monotonic() + timeout
        left = self.leftovers()
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = self.leftovers()
        return left

    def hangup_all(self) -> None:
        """Clear what a failed test left, so the next test starts clean."""
        for bridge in self.ari("GET", "/bridges"):
            with contextlib.suppress(PbxError):
                self.ari("DELETE", f"/bridges/{bridge['id']}")
        with contextlib.suppress(PbxError):
            self.rx("channel request hangup all")

    def tail(self, lines: int = 40) -> str:
        for path in (self.log_path, self.root / "asterisk.out"):
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def log_since(self, offset: int) -> str:
        """messages.log from byte `offset` (take `log_size()` before the action)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0
