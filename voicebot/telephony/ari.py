"""Asterisk ARI controller: voicebot as a Stasis application, audio over externalMedia RTP.

Owns the REST calls and the `/ari/events` websocket. A call in Stasis is answered, put in a
mixing bridge with an externalMedia channel that sends RTP to a socket of ours, and handed
over as a `Call`. Asterisk answers `POST /channels/externalMedia` before that channel is in
Stasis (it is sent there on another thread), so the bridge waits for the media channel's own
StasisStart before adding it to the bridge, and the channel stays ours until its StasisEnd: its
StasisStart, however late, is never taken for a new inbound call. Outbound calls are
originated into the app; ringing, answer and the Q.850 cause of a failure come from channel
events. The websocket reconnects with backoff and, once back, drops calls whose channels
Asterisk no longer has; stop() ends it with a close frame. A call's bridge and externalMedia
channel are torn down on every end path.

A call recorded with `start_recording` is recorded by Asterisk, on Asterisk's disk. Once the
call's bridge is gone (Asterisk finalises the file then, and says so with RecordingFinished),
a background task fetches it (`GET /recordings/stored/{name}/file`) into
`<recordings_dir>/<call_id>.wav` through a temporary file and a rename, then deletes it from
Asterisk unless `ari.keep_recordings`. A fetch that fails costs one warning line, never the
call's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from voicebot.config import AriConfig
from voicebot.media.rtp import RtpError, RtpSender, parse_rtp
from voicebot.media.sender import UdpOut
from voicebot.pii import redact
from voicebot.safeload import load_json
from voicebot.telephony.base import (
    Answered,
    CallFailed,
    Direction,
    Dtmf,
    HangupCause,
    IncomingHandler,
    Ringing,
    cause_from_q850,
)
from voicebot.telephony.bridges import (
    Backoff,
    RateLimitedLog,
    StreamCall,
    WireFormat,
    run_incoming,
    same_address,
)

log = logging.getLogger(__name__)

OUTBOUND_ARG = "voicebot-dial"
PAYLOAD_TYPES = {"ulaw": 0, "slin16": 118}  # Asterisk's RTP payload types for the formats
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=5)
_ORPHAN_GRACE_S = 0.5  # after a reconnect, time for queued StasisStarts to claim channels
_MEDIA_STASIS_TIMEOUT_S = 5.0  # externalMedia answered → its StasisStart (Asterisk: ~1-60 ms)


class AriError(RuntimeError):
    """An ARI request Asterisk refused; the message names the request and its answer."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"ARI {method} {path}: HTTP {status} {text[:200]}")
        self.status = status


class _RtpIn(asyncio.DatagramProtocol):
    def __init__(self, call: AriCall) -> None:
        self.call = call

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.call.on_rtp(data, addr)


class AriCall(StreamCall):
    """One call in Stasis: the caller's channel, its mixing bridge and its externalMedia leg."""

    bridge = "ari"

    def __init__(self, ari: AriBridge, channel_id: str, direction: Direction, remote: str) -> None:
        super().__init__(
            call_id=channel_id, direction=direction, remote=remote, on_hangup=ari._hangup_call
        )
        self.ari = ari
        self.channel_id = channel_id
        self.bridge_id: str | None = None
        self.media_channel_id: str | None = None
        self.machine = False
        self.hangup_cause = 16
        self.wire = WireFormat(ari.cfg.format, big_endian=True)
        self._decoder = WireFormat(ari.cfg.format, big_endian=True)
        self._pt = PAYLOAD_TYPES[ari.cfg.format]
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtp_out: UdpOut | None = None  # the sender thread's dup of _rtp's socket
        self._rtp_remote: tuple[str, int] | None = None
        self._sender = RtpSender()
        self.rtp_port = 0
        self.recording: str | None = None  # the stored recording's name, once started

    async def send_dtmf(self, digits: str) -> None:
        await self.ari.request("POST", f"/channels/{self.channel_id}/dtmf", dtmf=digits)

    async def transfer(self, target: str) -> bool:
        """Continue the caller's channel into `target` in the transfer context (a recruiter)."""
        self.ari.calls.pop(self.call_id, None)  # its StasisEnd is the hand-over, not a hang-up
        try:
            await self.ari.request(
                "POST",
                f"/channels/{self.channel_id}/continue",
                context=self.ari.cfg.transfer_context,
                extension=target,
                priority="1",
            )
        except AriError as e:
            log.warning("call %s: transfer failed: %s", self.call_id, e)
            self.ari.calls[self.call_id] = self
            return False
        await self.ari._teardown(self)
        self.finish(HangupCause.NORMAL, by_remote=False, detail="transferred")
        return True

    async def start_recording(self, name: str) -> None:
        """Record the bridge (both sides). Call only after the candidate consented."""
        if self.bridge_id is None:
            return
        self.ari._recording_done.setdefault(name, asyncio.Event())
        try:
            await self.ari.request(
                "POST", f"/bridges/{self.bridge_id}/record", name=name, format="wav"
            )
        except BaseException:
            if self.recording != name:
                self.ari._recording_done.pop(name, None)
            raise
        self.recording = name

    async def open_rtp(self) -> None:
        cfg = self.ari.cfg
        loop = asyncio.get_running_loop()
        for _ in range(50):
            port = secrets.randbelow(cfg.rtp_port_max - cfg.rtp_port_min) + cfg.rtp_port_min
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _RtpIn(self), local_addr=(cfg.media_host, port)
                )
            except OSError:
                continue
            self._rtp = transport  # type: ignore[assignment]
            self._rtp_out = UdpOut(transport)
            self.rtp_port = port
            return
        raise AriError("bind", "rtp", 0, f"no free UDP port in {cfg.rtp_port_min}..")

    def close_rtp(self) -> None:
        self._stop_sender()  # no frame goes out through the socket after this
        if self._rtp_out is not None:
            self._rtp_out.close()
            self._rtp_out = None
        if self._rtp is not None:
            self._rtp.close()
            self._rtp = None

    def set_rtp_remote(self, host: str, port: int) -> None:
        self._rtp_remote = (host, port)

    def on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            pkt = parse_rtp(data)
        except RtpError as e:
            self.stats.drop(e.reason)
            return
        if self._rtp_remote is None:
            self._rtp_remote = addr  # symmetric RTP: answer where Asterisk sends from
        elif not same_address(addr, self._rtp_remote):
            self.stats.drop("foreign_source")  # not Asterisk's media leg: injected
            return
        if len(pkt.payload) != self._decoder.payload_bytes:
            self.stats.drop("bad_length")
            return
        self.push_audio(self._decoder.decode(pkt.payload), pkt.sequence, pkt.ssrc)

    def send_wire(self, pcm: bytes) -> None:
        """Runs on the sender thread: it sends through a socket of its own (`UdpOut`)."""
        out: UdpOut | asyncio.DatagramTransport | None = self._rtp_out or self._rtp  # or a fake
        remote = self._rtp_remote
        if out is None or remote is None:
            return
        payload = self.wire.encode(pcm)  # the RTP clock runs at the wire rate: 320 per 20 ms
        packet = self._sender.packet(payload, self._pt, samples=self.wire.rate // 50)  # at 16 kHz
        out.sendto(packet, remote)


_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,150}")  # Asterisk's ids: AST_MAX_UNIQUEID is 150


def parse_event(text: str) -> tuple[str, dict[str, Any], dict[str, Any], str | None]:
    """An event frame as (type, event, channel, channel id), its fields of the types the
    handlers use (`args` a list, `cause` and `duration_ms` ints or None, `digit` a str), else
    ValueError: a broken or hostile PBX must cost one warning, not the event reader."""
    event = load_json(text, "ARI event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("not an event object with a type")
    kind = event["type"]
    channel = event.get("channel")
    if channel is None:
        channel = {}
    if not isinstance(channel, dict):
        raise ValueError(f"{kind}: channel is not an object")
    cid = channel.get("id")
    if kind.startswith(("Channel", "Stasis")) and not (isinstance(cid, str) and _ID.fullmatch(cid)):
        raise ValueError(f"{kind} without a valid channel.id")
    args = event.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str | int) for a in args):
        raise ValueError(f"{kind}: args is not a list of strings")
    event["args"] = args
    for key in ("cause", "duration_ms"):
        value = event.get(key)
        if value is not None and (type(value) is not int or not 0 <= value < 2**31):
            raise ValueError(f"{kind}: {key} is not a small integer")
        event[key] = value
    event["duration_ms"] = event["duration_ms"] or 0
    if kind == "ChannelDtmfReceived" and not isinstance(event.get("digit"), str):
        raise ValueError(f"{kind}: digit is not a string")
    return kind, event, channel, cid if isinstance(cid, str) else None


class _Dialing:
    """An originate waiting for its answer: state changes and the end cause land here."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.answered: asyncio.Future[list[str]] = loop.create_future()
        self.ringing = False


class AriBridge:
    """The ARI controller; `await start()` connects (and keeps reconnecting) the event socket.

    `recordings_dir` is where finished call recordings are fetched to (the HTTP API serves
    them from `api.recordings_dir`); None leaves them on Asterisk."""

    name = "ari"
    finalise_wait_s = 5.0  # for Asterisk's RecordingFinished after the bridge is destroyed
    fetch_timeout_s = 120.0  # the whole fetch, finalise wait included
    shutdown_grace_s = 10.0  # stop() lets running fetches finish this long

    def __init__(
        self,
        cfg: AriConfig,
        on_incoming: IncomingHandler | None = None,
        *,
        recordings_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_incoming = on_incoming
        self.recordings_dir = Path(recordings_dir) if recordings_dir is not None else None
        self.calls: dict[str, AriCall] = {}
        self.malformed_events = 0
        self.connected = asyncio.Event()
        self._base = cfg.url.rstrip("/") + "/ari"
        self._http: aiohttp.ClientSession | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._dialing: dict[str, _Dialing] = {}
        self._amd: dict[str, asyncio.Future[str]] = {}
        self._ours: set[str] = set()  # externalMedia channels we created, until their StasisEnd
        self._media_in_stasis: dict[str, asyncio.Future[None]] = {}  # media id → its StasisStart
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetches: set[asyncio.Task[None]] = set()
        self._recording_done: dict[str, asyncio.Event] = {}  # name -> finished (or failed)
        self._recording_failed: dict[str, str] = {}  # name -> Asterisk's cause
        self._last_error = ""
        self._warn = RateLimitedLog(log)  # one malformed-event line a minute

    # lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            headers={
                "Authorization": aiohttp.encode_basic_auth(self.cfg.username, self.cfg.password)
            },
            timeout=aiohttp.ClientTimeout(total=10),
        )
        self._events_task = asyncio.create_task(self._events_loop(), name="ari-events")

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(call.hangup(), 3)
        if self._fetches:  # recordings of the calls just ended, while the socket still runs
            await asyncio.wait(self._fetches, timeout=self.shutdown_grace_s)
        for task in [*self._fetches, *self._tasks]:
            task.cancel()
        self._stopping = True
        ws = self._ws
        if ws is not None and not ws.closed:  # a close frame, so Asterisk sees a clean close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)
        if self._events_task is not None:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._events_task
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> AriBridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # REST ---------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, **query: str
    ) -> Any:
        assert self._http is not None, "AriBridge.start() first"
        async with self._http.request(
            method, self._base + path, params=query or None, json=body
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise AriError(method, path, resp.status, text)
            return json.loads(text) if text else None

    # events -------------------------------------------------------------------------------

    async def _events_loop(self) -> None:
        assert self._http is not None
        backoff = Backoff()
        url = self._base + "/events"
        while not self._stopping:
            try:
                async with self._http.ws_connect(
                    url, params={"app": self.cfg.app}, heartbeat=20, timeout=_WS_TIMEOUT
                ) as ws:
                    self._ws = ws
                    backoff.reset()
                    self._problem("")
                    log.info("ARI connected to %s as app %r", self.cfg.url, self.cfg.app)
                    # events flow while we reconcile: a call ringing in right now must reach
                    # its StasisStart handler, not be taken for a leftover
                    ready = asyncio.create_task(self._reconcile_then_ready())
                    try:
                        async for msg in ws:
                            if msg.type == aiohttp.WSMsgType.TEXT:
                                await self._on_text(msg.data)
                            elif msg.type == aiohttp.WSMsgType.ERROR:
                                break
                    finally:
                        ready.cancel()
                        self._ws = None
                self.connected.clear()
                if self._stopping:
                    return
                self._problem(f"ARI event socket to {self.cfg.url} closed")
            except aiohttp.WSServerHandshakeError as e:
                self.connected.clear()
                why = {
                    401: "authentication failed (check ari.username/ari.password)",
                    404: "no ARI there (is res_ari loaded, is ari.url right?)",
                }
                reason = why.get(e.status, e.message)
                self._problem(f"ARI at {self.cfg.url}: HTTP {e.status}, {reason}")
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                self.connected.clear()
                self._problem(f"ARI at {self.cfg.url} unreachable: {e}")
            await asyncio.sleep(backoff.next())

    def _problem(self, line: str) -> None:
        """One clear line per distinct problem, not one per retry."""
        if line and line != self._last_error:
            log.warning("%s; retrying with backoff", line)
        self._last_error = line

    async def _reconcile_then_ready(self) -> None:
        await self._reconcile()
        self.connected.set()

    async def _reconcile(self) -> None:
        """After a (re)connect: calls whose channels Asterisk no longer has are over, and
        channels left in our app by an earlier voicebot process (it crashed) are cleaned up."""
        # only what we knew before asking can be judged by the answer (events keep flowing)
        calls, dialing_before = list(self.calls.values()), dict(self._dialing)
        try:
            channels = await self.request("GET", "/channels")
            live = {c["id"] for c in channels}
        except (AriError, aiohttp.ClientError, KeyError, TypeError) as e:
            log.warning("ARI reconcile failed: %s", e)
            return
        for call in calls:
            if call.channel_id not in live and self.calls.get(call.channel_id) is call:
                log.info("call %s: channel gone while ARI was disconnected", call.call_id)
                self._spawn(self._end(call, HangupCause.FAILED, "channel lost during reconnect"))
        for media_id in list(self._ours):  # their StasisEnd may have been missed meanwhile
            if media_id not in live and media_id not in self._media_in_stasis:
                self._ours.discard(media_id)
        for cid, dialing in dialing_before.items():
            if cid not in live and not dialing.answered.done():
                dialing.answered.set_exception(
                    CallFailed(HangupCause.FAILED, None, "channel lost during reconnect")
                )
        try:
            await self._sweep_orphans(channels)
        except (AriError, aiohttp.ClientError, KeyError, TypeError) as e:
            log.warning("ARI orphan sweep failed: %s", e)

    async def _sweep_orphans(self, channels: list[dict[str, Any]]) -> None:
        """Hang up channels in our Stasis app that no call of ours owns, and their bridges."""
        known = {c.channel_id for c in self.calls.values()} | set(self._dialing) | self._ours
        known |= set(self._amd)
        orphans = [
            c["id"]
            for c in channels
            if c["id"] not in known
            and (c.get("dialplan") or {}).get("app_name") == "Stasis"
            and str((c.get("dialplan") or {}).get("app_data", "")).split(",")[0] == self.cfg.app
        ]
        if orphans:  # a StasisStart already on its way claims its channel within the grace
            await asyncio.sleep(_ORPHAN_GRACE_S)
            known = {c.channel_id for c in self.calls.values()} | set(self._dialing) | self._ours
            orphans = [c for c in orphans if c not in known and c not in self._amd]
        if not orphans:
            return
        log.warning("ARI: hanging up %d channel(s) left by an earlier voicebot", len(orphans))
        for bridge in await self.request("GET", "/bridges"):
            if set(bridge.get("channels", [])) & set(orphans):
                await self._quietly("DELETE", f"/bridges/{bridge['id']}")
        for cid in orphans:
            await self._quietly("DELETE", f"/channels/{cid}")

    async def _on_text(self, text: str) -> None:
        try:
            kind, event, channel, cid = parse_event(text)
        except ValueError as e:
            self.malformed_events += 1
            self._warn.warning("malformed", "ARI: malformed event ignored (%s): %.120r", e, text)
            return
        try:
            await self._dispatch(kind, event, channel, cid)
        except Exception:
            log.exception("ARI: handling %s failed; the event socket goes on", kind)

    async def _dispatch(
        self, kind: str, event: dict[str, Any], channel: dict[str, Any], cid: str | None
    ) -> None:
        if kind == "StasisStart":
            self._on_stasis_start(cid, channel, [str(a) for a in event["args"]])
        elif kind == "ChannelStateChange":
            dialing = self._dialing.get(cid or "")
            if dialing is not None and channel.get("state") == "Ringing" and not dialing.ringing:
                dialing.ringing = True
        elif kind == "ChannelDtmfReceived":
            call = self.calls.get(cid or "")
            if call is not None:
                call.emit(Dtmf(event["digit"], event["duration_ms"]))
        elif kind == "ChannelHangupRequest":
            call = self.calls.get(cid or "")
            if call is not None and event["cause"] is not None:
                call.hangup_cause = event["cause"]
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            self._on_channel_gone(kind, cid or "", event)
        elif kind in ("RecordingFinished", "RecordingFailed"):
            recording = event.get("recording")
            name = str(recording.get("name", "")) if isinstance(recording, dict) else ""
            done = self._recording_done.get(name)
            if done is not None:
                if kind == "RecordingFailed":
                    cause = str(recording.get("cause", "")) if isinstance(recording, dict) else ""
                    self._recording_failed[name] = cause or "failed"
                done.set()
        else:
            log.debug("ARI: %s ignored", kind)

    def _on_stasis_start(self, cid: str | None, channel: dict[str, Any], args: list[str]) -> None:
        assert cid is not None
        if cid in self._ours:  # our own externalMedia channel entering the app
            started = self._media_in_stasis.get(cid)
            if started is not None and not started.done():
                started.set_result(None)
            return
        if args[:1] == ["amd"]:
            fut = self._amd.get(cid)
            if fut is not None and not fut.done():
                fut.set_result(args[1] if len(args) > 1 else "NOTSURE")
            return
        dialing = self._dialing.get(cid)
        if dialing is not None:
            if not dialing.answered.done():
                dialing.answered.set_result(args)
            return
        if cid in self.calls:  # a second StasisStart must not take over a live call's channel
            self._warn.warning("restart", "ARI: StasisStart for live call %s ignored", cid)
            return
        caller = channel.get("caller")
        number = caller.get("number") if isinstance(caller, dict) else None
        call = AriCall(self, cid, Direction.INBOUND, str(number or "") or "unknown")
        chan_vars = channel.get("channelvars")
        call.variables = (
            {str(k): str(v) for k, v in chan_vars.items()} if isinstance(chan_vars, dict) else {}
        )
        self.calls[cid] = call
        self._spawn(self._inbound(call))

    def _on_channel_gone(self, kind: str, cid: str, event: dict[str, Any]) -> None:
        if cid in self._ours:  # our media channel left the app: now it may be forgotten
            self._ours.discard(cid)
            started = self._media_in_stasis.get(cid)
            if started is not None and not started.done():
                started.set_exception(AriError("externalMedia", cid, 0, f"{kind} before Stasis"))
        dialing = self._dialing.get(cid)
        if dialing is not None and not dialing.answered.done() and kind == "ChannelDestroyed":
            cause = event["cause"] or 0
            dialing.answered.set_exception(
                CallFailed(cause_from_q850(cause), cause, str(event.get("cause_txt", "")))
            )
            return
        amd = self._amd.get(cid)
        if amd is not None:  # left Stasis for the AMD detour: it comes back, or hangs up there
            if kind == "ChannelDestroyed" and not amd.done():
                cause = event["cause"] or 0
                amd.set_exception(CallFailed(cause_from_q850(cause), cause, "hung up during AMD"))
            return
        call = self.calls.get(cid)
        if call is not None:
            cause = call.hangup_cause if event["cause"] is None else event["cause"]
            detail = f"{kind} cause {cause}"
            self._spawn(self._end(call, cause_from_q850(cause), detail, remote=True))
            return
        for call in list(self.calls.values()):
            if call.media_channel_id == cid and not call.ended:
                log.warning("call %s: externalMedia channel went away", call.call_id)
                self._spawn(self._end(call, HangupCause.FAILED, "media channel gone"))

    # calls --------------------------------------------------------------------------------

    async def _inbound(self, call: AriCall) -> None:
        try:
            await self.request("POST", f"/channels/{call.channel_id}/answer")
            await self._attach_media(call)
        except Exception as e:
            log.warning("inbound call %s could not be set up: %s", call.call_id, e)
            await self._end(call, HangupCause.FAILED, "setup failed")
            return
        call.emit(Answered())
        if self.on_incoming is None:
            await self._end(call, HangupCause.NORMAL, "no handler")
            return
        await run_incoming(self.on_incoming, call, call.hangup)

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> AriCall:
        """Originate to `ari.endpoint` into the app; returns the answered call or raises
        `CallFailed` (busy 17, no answer 19, rejected 21, anything else failed)."""
        cid = str(uuid.uuid4())
        dialing = _Dialing()
        self._dialing[cid] = dialing
        query = {
            "endpoint": self.cfg.endpoint.format(number=number),
            "app": self.cfg.app,
            "appArgs": OUTBOUND_ARG,
            "timeout": str(int(ring_timeout)),
            "channelId": cid,
        }
        if self.cfg.caller_id:
            query["callerId"] = self.cfg.caller_id
        call = AriCall(self, cid, Direction.OUTBOUND, number)
        call.variables = dict(variables)
        try:
            await self.request("POST", "/channels", {"variables": dict(variables)}, **query)
            try:
                async with asyncio.timeout(ring_timeout + 5):
                    await dialing.answered
            except TimeoutError:
                with contextlib.suppress(AriError, aiohttp.ClientError):
                    await self.request("DELETE", f"/channels/{cid}", reason="no_answer")
                raise CallFailed(HangupCause.NO_ANSWER, 19, "ring timeout") from None
            self.calls[cid] = call
            if self.cfg.amd_context:
                call.machine = await self._detect_machine(cid)
            await self._attach_media(call)
        except AriError as e:
            await self._end(call, HangupCause.FAILED, str(e))
            raise CallFailed(HangupCause.FAILED, e.status, str(e)) from e
        except BaseException:
            if cid in self.calls:
                await self._end(call, HangupCause.FAILED, "dial aborted")
            raise
        finally:
            self._dialing.pop(cid, None)
        if dialing.ringing:
            call.emit(Ringing())
        call.emit(Answered(machine=call.machine))
        log.info("call %s answered (%s)", cid, redact(number))
        return call

    async def _detect_machine(self, cid: str) -> bool:
        """Send the answered channel through the AMD context; it comes back with the verdict."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._amd[cid] = fut
        try:
            await self.request(
                "POST",
                f"/channels/{cid}/continue",
                context=self.cfg.amd_context,
                extension="s",
                priority="1",
            )
            async with asyncio.timeout(10):
                return (await fut) == "MACHINE"
        except TimeoutError:
            log.warning("call %s: no AMD verdict within 10 s; treating as a person", cid)
            return False
        finally:
            self._amd.pop(cid, None)

    async def _attach_media(self, call: AriCall) -> None:
        """Bridge the caller with an externalMedia channel that streams RTP to our socket."""
        await call.open_rtp()
        bridge = await self.request("POST", "/bridges", type="mixing")
        call.bridge_id = bridge["id"]
        media_id = str(uuid.uuid4())
        self._ours.add(media_id)  # before the request: its StasisStart may come at any time
        started = asyncio.get_running_loop().create_future()
        self._media_in_stasis[media_id] = started
        call.media_channel_id = media_id
        try:
            try:
                media = await self.request(
                    "POST",
                    "/channels/externalMedia",
                    channelId=media_id,
                    app=self.cfg.app,
                    external_host=f"{self.cfg.media_host}:{call.rtp_port}",
                    format=self.cfg.format,
                    encapsulation="rtp",
                    transport="udp",
                    direction="both",
                )
            except AriError:  # refused: no such channel will ever enter Stasis
                self._ours.discard(media_id)
                raise
            vars_ = media.get("channelvars") or {}
            host, port = vars_.get("UNICASTRTP_LOCAL_ADDRESS"), vars_.get("UNICASTRTP_LOCAL_PORT")
            if host and port:
                call.set_rtp_remote(host, int(port))
            # the 200 comes before the channel is in Stasis; addChannel would get a 422
            try:
                await asyncio.wait_for(asyncio.shield(started), _MEDIA_STASIS_TIMEOUT_S)
            except TimeoutError:
                raise AriError(
                    "externalMedia", media_id, 0, f"no StasisStart in {_MEDIA_STASIS_TIMEOUT_S} s"
                ) from None
        finally:
            self._media_in_stasis.pop(media_id, None)
            if not started.done():
                started.cancel()
        if call.ended or call.bridge_id is None:  # hung up while we waited: torn down already
            raise AriError("externalMedia", media_id, 0, "call ended during media setup")
        await self.request(
            "POST", f"/bridges/{call.bridge_id}/addChannel", channel=f"{call.channel_id},{media_id}"
        )
        call.start_media(call.send_wire, threaded=True)

    async def _hangup_call(self, call: StreamCall) -> None:
        assert isinstance(call, AriCall)
        await self._end(call, HangupCause.NORMAL, "", remote=False, hang_up_channel=True)

    async def _end(
        self,
        call: AriCall,
        cause: HangupCause,
        detail: str,
        *,
        remote: bool = False,
        hang_up_channel: bool = False,
    ) -> None:
        """Finish the call and tear down everything it had in Asterisk, whoever ended it."""
        call.finish(cause, by_remote=remote, detail=detail)
        try:
            await self._teardown(call)
            if hang_up_channel or not remote:
                await self._quietly("DELETE", f"/channels/{call.channel_id}", reason="normal")
        finally:
            self.calls.pop(call.call_id, None)

    async def _teardown(self, call: AriCall) -> None:
        call.close_rtp()
        bridge_id, media_id = call.bridge_id, call.media_channel_id
        call.bridge_id = call.media_channel_id = None
        if media_id is not None:  # stays in _ours until its StasisEnd (a late StasisStart)
            await self._quietly("DELETE", f"/channels/{media_id}")
        if bridge_id is not None:
            await self._quietly("DELETE", f"/bridges/{bridge_id}")
        name, call.recording = call.recording, None
        if name is not None:
            if self.recordings_dir is None:
                self._recording_done.pop(name, None)
                log.info("call %s: recording left on Asterisk as %r", call.call_id, name)
            else:
                task = asyncio.create_task(self._collect_recording(call.call_id, name))
                self._fetches.add(task)
                task.add_done_callback(self._fetches.discard)

    # recordings ---------------------------------------------------------------------------

    async def _collect_recording(self, call_id: str, name: str) -> None:
        """Fetch a finished recording to `<recordings_dir>/<call_id>.wav`, then delete it on
        Asterisk. Any failure is one warning line; the call has ended either way."""
        assert self.recordings_dir is not None
        done = self._recording_done.get(name)
        path = self.recordings_dir / f"{call_id}.wav"
        try:
            async with asyncio.timeout(self.fetch_timeout_s):
                if done is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), self.finalise_wait_s)
                if name in self._recording_failed:
                    cause = self._recording_failed[name]
                    log.warning("call %s: Asterisk's recording failed (%s)", call_id, cause)
                    return
                size = await self._fetch_recording(name, path)
        except Exception as e:  # HTTP 404/403, a broken or stalled download, a full disk
            why = str(e) or type(e).__name__
            log.warning("call %s: recording not fetched from Asterisk: %s", call_id, why)
            return
        finally:
            self._recording_done.pop(name, None)
            self._recording_failed.pop(name, None)
        log.info("call %s: recording saved to %s (%d bytes)", call_id, path, size)
        if self.cfg.keep_recordings:
            return
        try:
            await self.request("DELETE", f"/recordings/stored/{quote(name, safe='')}")
        except Exception as e:
            log.warning("call %s: recording saved but not deleted on Asterisk: %s", call_id, e)

    async def _fetch_recording(self, name: str, path: Path) -> int:
        """GET the stored recording's file into `path` atomically; returns its size."""
        assert self._http is not None, "AriBridge.start() first"
        api_path = f"/recordings/stored/{quote(name, safe='')}/file"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        size = 0
        try:
            async with self._http.get(
                self._base + api_path, timeout=aiohttp.ClientTimeout(total=None, sock_read=30)
            ) as resp:
                if resp.status >= 400:
                    raise AriError("GET", api_path, resp.status, await resp.text())
                with tmp.open("wb") as f:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        f.write(chunk)
                        size += len(chunk)
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return size

    async def _quietly(self, method: str, path: str, **query: str) -> None:
        """A teardown request: 404 means already gone; other failures are logged, not raised."""
        try:
            await self.request(method, path, **query)
        except AriError as e:
            if e.status != 404:
                log.warning("teardown: %s", e)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            log.warning("teardown %s %s failed: %s", method, path, e)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
