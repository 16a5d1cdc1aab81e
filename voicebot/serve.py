"""`voicebot serve` behind any PBX: pick the bridge from config, interview every call it hands
over; and `voicebot asterisk snippet`, the PBX configuration filled in from voicebot.toml.

Bridges connect in the background and keep retrying, so a PBX that is down or a wrong
password costs one clear log line, not a crash: voicebot starts taking calls once it gets in.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from voicebot.config import Config
from voicebot.interview.plan import Job
from voicebot.telephony.base import Bridge, Call, IncomingHandler

REPO = Path(__file__).resolve().parents[1]
SNIPPET_FILES = (
    REPO / "asterisk.conf.example",
    REPO / "dialplans" / "asterisk-extensions.conf",
    REPO / "dialplans" / "freeswitch-voicebot.xml",
)
BRIDGES = ("sip", "ari", "agi", "freeswitch")


def make_bridge(cfg: Config, on_incoming: IncomingHandler | None, name: str = "") -> Bridge:
    """The configured bridge (or `name`), not yet started."""
    name = name or cfg.bridge
    if name == "sip":
        from voicebot.telephony.sip import SipEndpoint

        return SipEndpoint(cfg.sip, on_incoming)  # type: ignore[arg-type]
    if name == "ari":
        from voicebot.telephony.ari import AriBridge

        return AriBridge(cfg.ari, on_incoming, recordings_dir=cfg.api.recordings_dir)
    if name == "agi":
        from voicebot.telephony.agi import AgiBridge

        return AgiBridge(cfg.agi, on_incoming)
    if name == "freeswitch":
        from voicebot.telephony.freeswitch import FreeswitchBridge

        return FreeswitchBridge(cfg.freeswitch, cfg.sip, on_incoming)
    raise ValueError(f"unknown bridge {name!r}; choose one of {', '.join(BRIDGES)}")


class BridgeNotReady(RuntimeError):
    """The PBX did not let voicebot in within the wait; the message says what went wrong."""


@contextlib.asynccontextmanager
async def open_bridge(
    cfg: Config, name: str = "", on_incoming: IncomingHandler | None = None, wait_s: float = 15.0
) -> AsyncIterator[Any]:
    """A started bridge that is connected (logged in, registered) and can dial."""
    bridge: Any = make_bridge(cfg, on_incoming, name)
    await bridge.start()
    try:
        ready = next(
            (getattr(bridge, a) for a in ("connected", "logged_in") if hasattr(bridge, a)),
            bridge.registered if bridge.name == "sip" and cfg.sip.registrar else None,
        )
        if ready is not None:
            try:
                await asyncio.wait_for(ready.wait(), wait_s)
            except TimeoutError:
                why = getattr(bridge, "_last_error", "") or "no answer"
                msg = f"{bridge.name} bridge not ready after {wait_s:.0f} s: {why}"
                raise BridgeNotReady(msg) from None
        yield bridge
    finally:
        await bridge.stop()


def describe(cfg: Config, bridge: Any) -> str:
    """One line saying where calls come from, for the operator."""
    name = bridge.name
    if name == "sip":
        return f"taking calls as SIP extension on {cfg.sip.listen_host}:{bridge.port}"
    if name == "ari":
        return f"taking calls as ARI app {cfg.ari.app!r} at {cfg.ari.url}"
    if name == "agi":
        return (
            f"taking calls over FastAGI on {cfg.agi.agi_host}:{bridge.agi_port}, audio on "
            f"AudioSocket {bridge.audiosocket_address}; AMI {cfg.agi.ami_host}:{cfg.agi.ami_port}"
        )
    return f"taking calls from FreeSWITCH ESL {cfg.freeswitch.host}:{cfg.freeswitch.port}"


def candidate_of(call: Call) -> str | None:
    """The candidate id the PBX put on the channel (ARI/AGI variables), if any."""
    variables: dict[str, str] = getattr(call, "variables", {}) or {}
    return variables.get("CANDIDATE_ID") or variables.get("candidate_id")


async def serve(
    cfg: Config,
    job: Job,
    *,
    bridge_name: str = "",
    announce: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Interview everyone the bridge hands over until `stop` is set (or forever)."""
    from voicebot.interview.runner import Interviewer
    from voicebot.store import Store

    store = await Store.open(cfg.store.path)
    try:
        interviewer = await Interviewer.create(cfg, store=store)
        await interviewer.warm_prompts(job)
        bridge: Bridge | None = None

        async def on_call(call: Call) -> None:
            assert bridge is not None
            await interviewer.interview(
                call, job, bridge=bridge.name, candidate_id=candidate_of(call)
            )

        bridge = make_bridge(cfg, on_call, bridge_name)
        await bridge.start()
        try:
            announce(describe(cfg, bridge))
            await (stop or asyncio.Event()).wait()
        finally:
            await bridge.stop()
    finally:
        await store.close()


def asterisk_snippet(cfg: Config) -> str:
    """asterisk.conf.example and the dialplans, with voicebot's settings filled in.

    ARI and AMI bind where voicebot connects to them (loopback by default), the manager.conf
    permit is the address voicebot connects *from* (a refused permit looks to voicebot exactly
    like a wrong secret), and the inbound 7000 line of the configured bridge is the live one,
    so on one machine the output loads into Asterisk and works unedited."""
    bot_host = cfg.sip.public_host or cfg.sip.listen_host
    ari_url = urlsplit(cfg.ari.url)
    ami_bind = _address_of(cfg.agi.ami_host)
    values = {
        "ari_bindaddr": _address_of(ari_url.hostname or "127.0.0.1"),
        "ari_port": str(ari_url.port or 8088),
        "ari_username": cfg.ari.username,
        "ari_password": cfg.ari.password or "CHANGE-ME",
        "ari_app": cfg.ari.app,
        "ari_amd_context": cfg.ari.amd_context or "voicebot-amd",
        "ari_transfer_context": cfg.ari.transfer_context,
        "ami_bindaddr": ami_bind,
        "ami_port": str(cfg.agi.ami_port),
        "ami_username": cfg.agi.ami_username,
        "ami_password": cfg.agi.ami_password or "CHANGE-ME",
        "ami_permit": _source_address(ami_bind, cfg.agi.ami_port),
        "voicebot_host": bot_host,
        "agi_host": _reachable(cfg.agi.agi_host, bot_host),
        "agi_port": str(cfg.agi.agi_port),
        "agi_context": cfg.agi.context,
        "audiosocket_address": cfg.agi.audiosocket_public
        or f"{_reachable(cfg.agi.audiosocket_host, bot_host)}:{cfg.agi.audiosocket_port}",
        "sip_username": cfg.sip.username,
        "sip_password": cfg.sip.password or "CHANGE-ME",
        "bot_uri": cfg.freeswitch.bot_uri or f"{bot_host}:{cfg.sip.listen_port}",
        "freeswitch_endpoint": cfg.freeswitch.endpoint.replace("{number}", "<number>"),
    }
    parts = []
    for path in SNIPPET_FILES:
        text = path.read_text(encoding="utf-8")
        filled = re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m[1], m[0]), text)
        parts.append(f";;;; ===== {path.relative_to(REPO)} =====\n{_live_line(filled, cfg.bridge)}")
    return "\n".join(parts)


SECTION = re.compile(r"^;-{20,} (\S+\.conf)\b.*$", re.MULTILINE)


def asterisk_snippet_files(cfg: Config) -> dict[str, str]:
    """The snippet split by target file (http.conf, ari.conf, amd.conf, manager.conf,
    modules.conf, pjsip.conf, extensions.conf): what a fresh Asterisk needs added."""
    text = asterisk_snippet(cfg)
    ast_part, _, rest = text.partition(";;;; ===== dialplans/asterisk-extensions.conf =====\n")
    dialplan = rest.split(";;;; ===== ", 1)[0]
    files: dict[str, str] = {}
    pieces = SECTION.split(ast_part)  # [preamble, name, body, name, body, …]
    for name, body in zip(pieces[1::2], pieces[2::2], strict=True):
        files[name] = files.get(name, "") + body.strip("\n") + "\n"
    files["extensions.conf"] = dialplan
    return files


def _live_line(text: str, bridge: str) -> str:
    """Uncomment the dialplan lines tagged `; <bridge>` (`;exten => …  ; ari`), comment out
    the other bridges' lines; with the freeswitch bridge the `sip` line stays live."""
    live = "sip" if bridge == "freeswitch" else bridge

    def toggle(m: re.Match[str]) -> str:
        line = m[2] + m[3] + m[4]
        return line if m[4] == live else f";{line}"

    return re.sub(r"^(;?)(exten => .*?)(\s+; )(sip|ari|agi)\b", toggle, text, flags=re.MULTILINE)


def _address_of(host: str) -> str:
    """The IP address `host` names (what Asterisk binds ARI/AMI to); loopback if unknown."""
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
    except (OSError, IndexError):
        return "127.0.0.1"


def _source_address(host: str, port: int) -> str:
    """The local address this machine's connections to host:port come from (the AMI
    permit); a loopback target is reached from 127.0.0.1."""
    if ipaddress.ip_address(host).is_loopback:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, port))  # UDP: no packet is sent, only the route is looked up
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _reachable(listen_host: str, bot_host: str) -> str:
    """Where Asterisk reaches a server voicebot listens on (a wildcard bind is not one)."""
    if listen_host in ("", "0.0.0.0", "::"):
        return bot_host if bot_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return listen_host
