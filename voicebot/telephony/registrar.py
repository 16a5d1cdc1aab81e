"""A throwaway kamailio registrar/proxy on 127.0.0.1 for demos and tests.

`LocalRegistrar` writes a minimal kamailio.cfg (digest-authenticated REGISTER against an
in-memory password table, in-memory usrloc, record-routed stateful relay to registered
contacts) into a temp dir, runs kamailio in the foreground and stops it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

DEFAULT_HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
_PASSWORD = re.compile(r"^[\x21-\x7e]{1,128}$")
_MODULES = (
    "kex", "corex", "tm", "tmx", "sl", "rr", "pv", "maxfwd", "usrloc", "registrar",
    "textops", "siputils", "xlog", "sanity", "auth", "htable",
)  # fmt: skip


class RegistrarError(RuntimeError):
    """kamailio could not be configured, started or reached."""


def free_udp_port(host: str = DEFAULT_HOST) -> int:
    """A UDP port on `host` that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def kamailio_module_path(binary: str = "kamailio") -> Path:
    """The directory holding kamailio's modules, as the installed binary reports it."""
    exe = shutil.which(binary) or binary
    try:
        out = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=10, check=False)
        text = out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistrarError(f"cannot run {exe!r}: {exc}") from exc
    found = re.search(r"-L path\s+Modules search path \(default: ([^)]+)\)", text)
    candidates = [Path(found.group(1))] if found else []
    candidates += sorted(Path("/usr/lib").glob("*/kamailio/modules"))
    candidates += [Path("/usr/lib/kamailio/modules"), Path("/usr/local/lib64/kamailio/modules")]
    for path in candidates:
        if (path / "tm.so").is_file():
            return path
    raise RegistrarError(f"no kamailio module directory with tm.so among {candidates}")


def check_users(users: Mapping[str, str]) -> None:
    """Raise RegistrarError unless every user name and password can go into the cfg."""
    for user, password in users.items():
        if not _NAME.match(user):
            raise RegistrarError(f"user name {user!r} must match {_NAME.pattern}")
        if not _PASSWORD.match(password):
            raise RegistrarError(f"password for {user!r} must be printable ASCII, no spaces")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    *,
    host: str,
    port: int,
    users: Mapping[str, str],
    module_path: Path,
    qop: bool = True,
    trace_dir: Path | None = None,
) -> str:
    """The kamailio.cfg text for a registrar on udp:host:port with `users`."""
    check_users(users)
    loads = "\n".join(f'loadmodule "{name}.so"' for name in _MODULES)
    if trace_dir is not None:
        loads += _TRACE.format(folder=_quote(str(trace_dir)))
    passwords = "\n".join(
        f"    $sht(passwd=>{_quote(user)[1:-1]}) = {_quote(pw)};" for user, pw in users.items()
    )
    return _CFG.format(
        host=host,
        port=port,
        mpath=_quote(str(module_path)),
        loads=loads,
        passwords=passwords or '    xlog("L_INFO", "registrar: no users\\n");',
        secret=_quote(secrets.token_hex(16)),
        qop="1" if qop else "0",
    )


class LocalRegistrar:
    """kamailio on udp:127.0.0.1:<port> acting as registrar and proxy for `users`.

    REGISTER needs digest auth (realm = domain) against `users`; everything else is
    routed without auth to the contact registered for the Request-URI user: 404 if the
    user is unknown, 480 if it is known but not registered.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        binary: str = "kamailio",
        qop: bool = True,
        sip_trace: bool = False,
        start_timeout: float = 10.0,
    ) -> None:
        check_users(users)
        self.users = dict(users)
        self.host = host
        self.port = port or free_udp_port(host)
        self.domain = host
        self.binary = binary
        self.qop = qop
        self.start_timeout = start_timeout
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="voicebot-kamailio-"))
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        self.trace_dir = self.workdir / "sipdump" if sip_trace else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The proxy's own SIP URI, e.g. for an outbound proxy setting."""
        return f"sip:{self.host}:{self.port}"

    def aor(self, user: str) -> str:
        """The address-of-record of `user` on this registrar."""
        return f"sip:{user}@{self.domain}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalRegistrar:
        """Write the config, start kamailio and return once it answers OPTIONS.

        kamailio gets SIGTERM if the thread that started it dies (PR_SET_PDEATHSIG), so a
        crashed test or demo leaves no registrar behind; start it from a long-lived thread.
        """
        if self.running:
            return self
        self._spawn(self._prepare())
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> list[str]:
        """Write kamailio.cfg; the command line that runs it."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise RegistrarError(f"kamailio binary {self.binary!r} not found on PATH")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config(kamailio_module_path(exe))
        return [exe, "-DD", "-E", "-f", str(self.cfg_path), "-m", "32", "-M", "8",
                "-Y", str(self.workdir)]  # fmt: skip

    def _write_config(self, module_path: Path) -> None:
        """The files kamailio reads: the registrar's kamailio.cfg (a subclass writes its own)."""
        if self.trace_dir is not None:
            self.trace_dir.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text(
            render_config(
                host=self.host,
                port=self.port,
                users=self.users,
                module_path=module_path,
                qop=self.qop,
                trace_dir=self.trace_dir,
            )
        )

    def _spawn(self, cmd: list[str]) -> None:
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate kamailio (SIGTERM, then SIGKILL to its process group)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        if proc is not None:
            # children that outlived the main process share its session/group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        """Stop and remove the temp dir if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.host, 0))
            sock.settimeout(0.2)
            local_port = sock.getsockname()[1]
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise RegistrarError(
                        f"kamailio exited with {self._proc.returncode} during start-up "
                        f"({self.cfg_path}); log tail:\n{self.log_tail()}"
                    )
                probe = _options_probe(self.host, self.port, self.host, local_port)
                sock.sendto(probe, (self.host, self.port))
                try:
                    data, _ = sock.recvfrom(65535)
                except (TimeoutError, ConnectionRefusedError):
                    continue
                if data.startswith(b"SIP/2.0 "):
                    return
        raise RegistrarError(
            f"kamailio did not answer OPTIONS on udp:{self.host}:{self.port} within "
            f"{self.start_timeout:.0f}s; log tail:\n{self.log_tail()}"
        )

    def __enter__(self) -> LocalRegistrar:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    async def __aenter__(self) -> LocalRegistrar:
        if self.running:
            return self
        cmd = await asyncio.to_thread(self._prepare)
        self._spawn(cmd)  # from the loop's thread, which outlives the call (see start())
        try:
            await asyncio.to_thread(self._wait_ready)
        except BaseException:
            await asyncio.to_thread(self.stop)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.cleanup)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent thread dies (Linux only).

    SIGTERM, not SIGKILL: kamailio's main process must live long enough to stop its
    children, which do not inherit the death signal.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _options_probe(host: str, port: int, local_host: str, local_port: int) -> bytes:
    tag = secrets.token_hex(4)
    branch = "z9hG4bK" + secrets.token_hex(8)
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {local_host}:{local_port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{local_host}>;tag={tag}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {secrets.token_hex(8)}@{local_host}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


_TRACE = """
loadmodule "sipdump.so"
modparam("sipdump", "enable", 1)
modparam("sipdump", "mode", 1)
modparam("sipdump", "folder", {folder})
modparam("sipdump", "fprefix", "sipdump-")
"""

_CFG = """\
#!KAMAILIO
# Written by voicebot.telephony.registrar.LocalRegistrar -- do not edit.

debug=2
log_stderror=yes
log_prefix="{{$mt $rm $ci}} "
memdbg=5
memlog=5
children=2
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
disable_tcp=yes
listen=udp:{host}:{port}
alias="{host}:{port}"
server_header="Server: voicebot-kamailio"
user_agent_header="User-Agent: voicebot-kamailio"

mpath={mpath}
{loads}

modparam("htable", "htable", "passwd=>size=4;")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 10)
modparam("registrar", "gruu_enabled", 0)
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 1)
modparam("auth", "secret", {secret})
modparam("tm", "fr_timer", 10000)
modparam("tm", "fr_inv_timer", 60000)

event_route[htable:mod-init] {{
{passwords}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "malformed request from $si:$sp\\n");
        exit;
    }}

    if (is_method("CANCEL")) {{
        if (t_check_trans()) route(RELAY);
        exit;
    }}
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{
            t_check_trans();
            exit;
        }}
        t_check_trans();
    }}

    route(WITHINDLG);

    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE|REFER")) record_route();

    if (is_method("REGISTER")) {{
        route(REGISTRAR);
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if ($rU == $null) {{
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}
    if (uri != myself) {{
        route(RELAY);
        exit;
    }}
    route(LOCATION);
}}

route[RELAY] {{
    if (!t_relay()) sl_reply_error();
    exit;
}}

route[WITHINDLG] {{
    if (!has_totag()) return;
    if (loose_route()) {{
        route(RELAY);
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) route(RELAY);
        exit;
    }}
    if (uri == myself && $rU != $null && lookup("location")) {{
        route(RELAY);
    }}
    sl_send_reply("404", "Not here");
    exit;
}}

route[REGISTRAR] {{
    if ($sht(passwd=>$tU) == $null) {{
        if (!is_present_hf("Authorization")) {{
            www_challenge("$td", "{qop}");
            exit;
        }}
        xlog("L_NOTICE", "REGISTER for unknown user $tU from $si:$sp rejected\\n");
        sl_send_reply("403", "Forbidden");
        exit;
    }}
    if (!pv_auth_check("$td", "$sht(passwd=>$tU)", "0", "1")) {{
        $var(rc) = $rc;
        if ($var(rc) == -5 || $var(rc) == -4 || $var(rc) == -6) {{
            www_challenge("$td", "{qop}");
            exit;
        }}
        xlog("L_NOTICE", "REGISTER for $tU from $si:$sp rejected (auth rc=$var(rc))\\n");
        sl_send_reply("403", "Forbidden");
        exit;
    }}
    consume_credentials();
    # one phone per user: a new binding replaces the old ones (no forking to stale contacts)
    if (!save("location", "0x04")) sl_reply_error();
    exit;
}}

route[LOCATION] {{
    if ($sht(passwd=>$rU) == $null) {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    if (!lookup("location")) {{
        $var(rc) = $rc;
        t_newtran();
        switch ($var(rc)) {{
            case -1:
            case -3:
                t_reply("480", "Temporarily Unavailable");
                exit;
            case -2:
                t_reply("405", "Method Not Allowed");
                exit;
        }}
        t_reply("480", "Temporarily Unavailable");
        exit;
    }}
    route(RELAY);
}}
"""
