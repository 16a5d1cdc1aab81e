"""Kamailio's dispatcher in front of several bot workers: `voicebot kamailio snippet` prints
the kamailio.cfg and dispatcher.list, and `LocalDispatcher` runs them on loopback for tests.

New INVITEs are spread round-robin over the bots, each record-routed so BYEs and re-INVITEs
follow their dialog. Every bot is probed with OPTIONS every `ping_interval_s`: one that stops
answering (or answers 503 because it is draining) is taken out of the set until it answers
200 again, and an INVITE that reaches it first fails over to the next bot.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from voicebot.telephony.registrar import (
    DEFAULT_HOST,
    LocalRegistrar,
    RegistrarError,
    kamailio_module_path,
)

_MODULES = (
    "kex", "corex", "tm", "tmx", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog",
    "sanity", "dispatcher", "ctl",
)  # fmt: skip
_BOT = re.compile(r"^sip:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::(?P<port>\d{1,5}))?$")
_LISTEN = re.compile(r"^udp:(?P<host>[0-9.]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_DEST = re.compile(r"URI: (\S+)\s+FLAGS: (\S+)")
SET_ID = 1
ROUND_ROBIN = 4  # ds_select_dst algorithm: the next destination in turn


class DispatcherError(ValueError):
    """A bot address, listen address or timer the generated config cannot use."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What the generated config dispatches: where kamailio listens and which bots it feeds."""

    bots: tuple[str, ...]  # sip:host:port of each bot worker
    listen: str = "udp:127.0.0.1:5060"
    ping_interval_s: int = 2  # OPTIONS to every bot this often
    reply_timeout_ms: int = 2000  # no reply to an OPTIONS or INVITE this soon: the bot is down
    list_file: str = "/etc/kamailio/dispatcher.list"
    ctl_socket: str = "/run/kamailio/kamailio_ctl"  # `kamcmd dispatcher.list` shows the state

    def __post_init__(self) -> None:
        if not self.bots:
            raise DispatcherError("no bots to dispatch to: give --bot sip:HOST:PORT (or more)")
        for bot in self.bots:
            check_bot(bot)
        if len(set(self.bots)) != len(self.bots):
            raise DispatcherError(f"a bot is listed twice: {', '.join(self.bots)}")
        listen = _LISTEN.match(self.listen)
        if listen is None or not 0 < int(listen["port"]) < 65536:
            raise DispatcherError(f"listen {self.listen!r}: expected udp:IP:PORT")
        if not 1 <= self.ping_interval_s <= 3600:
            raise DispatcherError(f"ping interval {self.ping_interval_s} s: expected 1 to 3600")
        if not 100 <= self.reply_timeout_ms <= 60000:
            raise DispatcherError(f"reply timeout {self.reply_timeout_ms} ms: expected 100-60000")

    @property
    def host(self) -> str:
        return self.listen.split(":", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def check_bot(bot: str) -> str:
    """`bot` if it is a sip:host[:port] URI kamailio can probe; DispatcherError otherwise."""
    m = _BOT.match(bot)
    if m is None:
        raise DispatcherError(f"bot {bot!r}: expected sip:HOST:PORT (e.g. sip:10.0.0.5:5070)")
    if m["port"] is not None and not 0 < int(m["port"]) < 65536:
        raise DispatcherError(f"bot {bot!r}: port {m['port']} is out of range")
    if m["host"].startswith("["):
        try:
            ipaddress.IPv6Address(m["host"][1:-1])
        except ValueError:
            raise DispatcherError(f"bot {bot!r}: {m['host']} is not an IPv6 address") from None
    return bot


def dispatcher_list(d: Dispatch) -> str:
    """dispatcher.list: one line per bot in set 1 (setid destination flags priority)."""
    lines = ["# setid destination flags priority -- written by voicebot kamailio snippet"]
    lines += [f"{SET_ID} {bot} 0 0" for bot in d.bots]
    return "\n".join(lines) + "\n"


def render_cfg(d: Dispatch, module_path: Path | None = None) -> str:
    """kamailio.cfg for the dispatcher; `module_path` None leaves kamailio's own default."""
    mpath = f'mpath="{module_path}"\n' if module_path is not None else ""
    loads = "\n".join(f'loadmodule "{name}.so"' for name in _MODULES)
    return _CFG.format(
        listen=d.listen,
        host=d.host,
        port=d.port,
        mpath=mpath,
        loads=loads,
        list_file=d.list_file,
        ctl_socket=d.ctl_socket,
        ping_s=d.ping_interval_s,
        timeout_ms=d.reply_timeout_ms,
        set_id=SET_ID,
        alg=ROUND_ROBIN,
    )


def snippet(d: Dispatch) -> str:
    """Both files, each under a header naming where it goes."""
    return (
        f"#### ===== {d.list_file} =====\n{dispatcher_list(d)}\n"
        f"#### ===== kamailio.cfg =====\n{render_cfg(d, installed_module_path())}"
    )


def installed_module_path() -> Path | None:
    """This machine's kamailio module directory, if kamailio is installed here."""
    if shutil.which("kamailio") is None:
        return None
    try:
        return kamailio_module_path()
    except RegistrarError:
        return None


def write_files(d: Dispatch, folder: Path) -> list[Path]:
    """kamailio.cfg and dispatcher.list in `folder`, the cfg reading the list from there."""
    folder.mkdir(parents=True, exist_ok=True)
    listed = folder.resolve() / "dispatcher.list"
    d = replace(d, list_file=str(listed))
    cfg = folder / "kamailio.cfg"
    listed.write_text(dispatcher_list(d), encoding="utf-8")
    cfg.write_text(render_cfg(d, installed_module_path()), encoding="utf-8")
    return [cfg, listed]


class LocalDispatcher(LocalRegistrar):
    """kamailio on udp:127.0.0.1:<port> dispatching to `bots` (the tests' and a one-machine
    trial's); started, probed and stopped like `LocalRegistrar`."""

    def __init__(
        self,
        bots: tuple[str, ...],
        *,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        ping_interval_s: int = 1,
        reply_timeout_ms: int = 1000,
        workdir: str | Path | None = None,
        binary: str = "kamailio",
    ) -> None:
        super().__init__({}, host=host, port=port, workdir=workdir, binary=binary)
        self.list_path = self.workdir / "dispatcher.list"
        self.ctl_path = self.workdir / "kamailio_ctl"
        self.dispatch = Dispatch(
            bots,
            listen=f"udp:{self.host}:{self.port}",
            ping_interval_s=ping_interval_s,
            reply_timeout_ms=reply_timeout_ms,
            list_file=str(self.list_path),
            ctl_socket=str(self.ctl_path),
        )

    def states(self) -> dict[str, str]:
        """Each bot's dispatcher flags as kamailio holds them now ("AP" up, "IP" down)."""
        exe = shutil.which("kamcmd") or "kamcmd"
        try:
            out = subprocess.run(
                [exe, "-s", f"unix:{self.ctl_path}", "dispatcher.list"],
                capture_output=True, text=True, timeout=5, check=True,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as e:
            raise RegistrarError(f"kamcmd dispatcher.list failed: {e}") from e
        return dict(_DEST.findall(out.stdout))

    def _write_config(self, module_path: Path) -> None:
        self.list_path.write_text(dispatcher_list(self.dispatch))
        self.cfg_path.write_text(render_cfg(self.dispatch, module_path))


_CFG = """\
#!KAMAILIO
# Written by `voicebot kamailio snippet`: kamailio's dispatcher in front of voicebot workers.
# New INVITEs go round-robin to the bots of set {set_id} in {list_file}.
# Each bot is probed with OPTIONS every {ping_s} s; one that does not answer 200 within
# {timeout_ms} ms (a draining bot answers 503) gets no new calls until it answers again.
# `kamcmd -s unix:{ctl_socket} dispatcher.list` shows each bot's state (A active, IP down).

debug=2
children=4
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
disable_tcp=yes
listen={listen}
server_header="Server: voicebot-dispatcher"
user_agent_header="User-Agent: voicebot-dispatcher"

{mpath}{loads}

modparam("tm", "fr_timer", {timeout_ms})
modparam("tm", "fr_inv_timer", 60000)
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 1)
modparam("ctl", "binrpc", "unix:{ctl_socket}")
modparam("dispatcher", "list_file", "{list_file}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_from", "sip:dispatcher@{host}:{port}")
modparam("dispatcher", "ds_ping_interval", {ping_s})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2")

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
    if (has_totag()) {{
        route(WITHINDLG);
        exit;
    }}
    remove_hf("Route");
    if (is_method("OPTIONS") && uri == myself) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (is_method("ACK")) {{
        exit;  # an ACK of no transaction: nothing to route
    }}
    if (!is_method("INVITE")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    record_route();
    if (!ds_select_dst("{set_id}", "{alg}")) {{
        xlog("L_WARN", "INVITE $ci: no voicebot worker answers\\n");
        sl_send_reply("503", "No Bot Available");
        exit;
    }}
    xlog("L_INFO", "INVITE $ci to $du\\n");
    t_on_failure("NEXT_BOT");
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) sl_reply_error();
    exit;
}}

route[WITHINDLG] {{
    if (loose_route()) {{
        route(RELAY);
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) route(RELAY);
        exit;
    }}
    sl_send_reply("404", "Not here");
    exit;
}}

# no answer, or a bot that is draining (503) or full (486): the next bot takes the call; a
# silent or draining bot is also set to probing, so the next INVITE does not try it first
failure_route[NEXT_BOT] {{
    if (t_is_canceled()) exit;
    if (t_branch_timeout() || t_check_status("503")) {{
        xlog("L_WARN", "bot $du did not take INVITE $ci ($T_reply_code): probing it\\n");
        ds_mark_dst("ip");
    }}
    if (t_branch_timeout() || t_check_status("486|503")) {{
        if (ds_next_dst()) {{
            t_on_failure("NEXT_BOT");
            route(RELAY);
        }}
    }}
}}
"""
