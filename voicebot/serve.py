"""`voicebot serve` behind any PBX: pick the bridge from config, interview every call it hands
over; and `voicebot asterisk snippet`, the PBX configuration filled in from voicebot.toml.

Bridges connect in the background and keep retrying, so a PBX that is down or a wrong
password costs one clear log line, not a crash: voicebot starts taking calls once it gets in.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from voicebot.config import Config
from voicebot.interview.plan import Job
from voicebot.metrics import metrics_listener
from voicebot.store.db import store_unready
from voicebot.telephony.base import Bridge, Call, IncomingHandler

REPO = Path(__file__).resolve().parents[1]
SNIPPET_FILES = (
    REPO / "asterisk.conf.example",
    REPO / "dialplans" / "asterisk-extensions.conf",
    REPO / "dialplans" / "freeswitch-voicebot.xml",
)
BRIDGES = ("sip", "ari", "agi", "freeswitch")
log = logging.getLogger(__name__)


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
    """Interview everyone the bridge hands over until `stop` is set (or forever), then drain:
    take no new calls, give live interviews `shutdown_grace_s` to finish, end the rest with a
    short goodbye and a hang-up, and close every row before the store closes."""
    from voicebot import pii
    from voicebot.interview.runner import Interviewer
    from voicebot.store import Store

    store = await Store.open(cfg.store.path, pii.keys(cfg.pii))
    try:
        interviewer = await Interviewer.create(cfg, store=store)
        await interviewer.warm_prompts(job)
        bridge: Bridge | None = None
        drain = Drain(cfg.shutdown_grace_s)

        async def on_call(call: Call) -> None:
            assert bridge is not None
            name = bridge.name

            async def run(held: Call) -> Any:
                return await interviewer.interview(
                    held, job, bridge=name, candidate_id=candidate_of(call)
                )

            if not await drain.run(call, run):
                await say_goodbye(interviewer, job, call)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(call.hangup(), 5)

        bridge = make_bridge(cfg, on_call, bridge_name)
        await bridge.start()
        scrape: Any = None
        try:
            async def unready() -> str | None:
                if stop is not None and stop.is_set():
                    return "shutting down: live interviews are finishing"
                return await store_unready(store)

            scrape = await metrics_listener(cfg.metrics, announce, unready)
            announce(describe(cfg, bridge))
            await (stop or asyncio.Event()).wait()
            stop_taking_calls(bridge)
            announce(
                f"shutting down: {drain.live} live interview(s), "
                f"up to {cfg.shutdown_grace_s:g} s to finish"
            )
            await drain.finish()
        finally:
            if scrape is not None:
                scrape.close()
            await bridge.stop()
    finally:
        await store.close()


def stop_taking_calls(bridge: Any) -> None:
    """New calls are refused from now on: SIP answers 503 with Retry-After; other bridges
    stop handing calls over (a call already on its way is hung up by `Drain.run`)."""
    if hasattr(bridge, "draining"):
        bridge.draining = True
    elif hasattr(bridge, "on_incoming"):
        bridge.on_incoming = None


class HeldCall:
    """The call as the interview sees it. Once the drain cuts the interview, the session's
    own hang-up (in its cleanup) is held, so a goodbye can still be said; the drain's handler
    hangs up after it."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self.held = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)

    async def hangup(self) -> None:
        if not self.held:
            await self._call.hangup()


class Drain:
    """The interviews in progress, so a shutdown can wait for them and then cut the rest."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.draining = False
        self._interviews: dict[asyncio.Task[Any], HeldCall] = {}
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def live(self) -> int:
        return len(self._interviews)

    async def run(self, call: Call, interview: Callable[[Any], Any]) -> bool:
        """Run one interview; False when the shutdown cut it (or came before it began): the
        caller then says goodbye and hangs up. Its row is closed either way."""
        me = asyncio.current_task()
        if self.draining or me is None:
            return False
        held = HeldCall(call)
        task = asyncio.create_task(interview(held))
        self._interviews[task] = held
        self._handlers.add(me)
        try:
            await task
            return True
        except asyncio.CancelledError:
            if not task.cancelled() or me.cancelling():
                raise  # this handler itself was cancelled, not the interview by the drain
            return False
        finally:
            self._interviews.pop(task, None)
            self._handlers.discard(me)
            if not task.done():
                task.cancel()

    async def finish(self) -> None:
        """Stop taking interviews, wait up to the grace period, cut what is left (the
        runner closes each cut row as `interrupted`), then wait for the goodbyes."""
        self.draining = True
        handlers = set(self._handlers)
        if self._interviews:
            _, late = await asyncio.wait(set(self._interviews), timeout=self.grace_s)
            for task in late:
                if task in self._interviews:
                    self._interviews[task].held = True
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=10)
        if handlers:
            await asyncio.wait(handlers, timeout=15)


async def say_goodbye(interviewer: Any, job: Job, call: Call, limit_s: float = 8.0) -> None:
    """A short goodbye on a call the shutdown cut, if the voice can say it; never raises."""
    import numpy as np

    from voicebot.dialogue.prompts import Prompts
    from voicebot.media.resample import resample
    from voicebot.telephony.base import frame_bytes

    if call.ended:
        return
    locale = job.locale or interviewer.cfg.interview.locale
    try:
        async with asyncio.timeout(limit_s):
            text = Prompts().render("goodbye_shutdown", locale=locale)
            tts = await interviewer.tts_for(locale)
            pcm = await tts.render(text)
            if tts.sample_rate != call.sample_rate:
                pcm = resample(pcm, tts.sample_rate, call.sample_rate).astype(np.int16).tobytes()
            call.clear_output()
            size = frame_bytes(call.sample_rate)
            loop = asyncio.get_running_loop()
            started = loop.time()
            frames = [pcm[i : i + size].ljust(size, b"\0") for i in range(0, len(pcm), size)]
            for frame in frames:
                if call.ended:
                    return
                await call.send(frame)
            # the queue still plays out: hang up after the last frame is heard
            await asyncio.sleep(max(0.0, len(frames) * 0.02 - (loop.time() - started)) + 0.2)
    except Exception as e:  # a goodbye is a courtesy; the hang-up follows regardless
        log.warning("call %s: no goodbye on shutdown: %s", call.call_id, e)


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
        "agi_entry": "Goto(voicebot-spread,s,1)" if cfg.agi.bots else
        f"AGI(agi://{_reachable(cfg.agi.agi_host, bot_host)}:{cfg.agi.agi_port}/interview)",
        "agi_spread": agi_spread(cfg.agi.bots),
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


def agi_spread(bots: tuple[str, ...]) -> str:
    """The dialplan that spreads inbound calls over several bots' FastAGI servers.

    Round-robin from a global counter (concurrent calls may share a turn: it is a spread, not
    a strict rotation); a bot that refuses the connection sets AGISTATUS=FAILURE at once and
    the next one is tried, so a stopped bot gets no calls and nobody hears silence; when none
    answers the call ends with cause 34 (no circuit), which a trunk turns into a busy tone."""
    if not bots:
        return ""
    targets = "&".join(f"agi://{b}/interview" for b in bots)
    return "\n".join([
        "[voicebot-spread]",
        f"exten => s,1,Set(VB_BOTS={targets})",
        f" same => n,Set(VB_N={len(bots)})",
        " same => n,Set(VB_FIRST=$[0${GLOBAL(VOICEBOT_NEXT)} % ${VB_N}])",
        " same => n,Set(GLOBAL(VOICEBOT_NEXT)=$[${VB_FIRST} + 1])",
        " same => n,Set(VB_TRY=0)",
        " same => n(try),GotoIf($[${VB_TRY} >= ${VB_N}]?none)",
        " same => n,Set(VB_BOT=${CUT(VB_BOTS,&,$[(${VB_FIRST} + ${VB_TRY}) % ${VB_N} + 1])})",
        " same => n,Set(VB_TRY=$[${VB_TRY} + 1])",
        " same => n,AGI(${VB_BOT})",
        ' same => n,GotoIf($["${AGISTATUS}" = "FAILURE"]?try)',
        " same => n,Hangup()",
        " same => n(none),Hangup(34)",
    ])  # fmt: skip


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
