"""Asterisk ARI controller: voicebot as a Stasis application, audio over externalMedia RTP.

Owns the REST calls and the `/ari/events` websocket. A call in Stasis is answered, put in a
mixing bridge with an externalMedia channel that sends RTP to a socket of ours, and handed
over as a `Call`. Outbound calls are originated into the app; ringing, answer and the Q.850
cause of a failure come from channel events. The websocket reconnects with backoff and, once
back, drops calls whose channels Asterisk no longer has. A call's bridge and externalMedia
channel are torn down on every end path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp

from voicebot.config import AriConfig
from voicebot.media.rtp import RtpError, RtpSender, parse_rtp
from voicebot.pii import redact
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
from voicebot.telephony.bridges import Backoff, StreamCall, WireFormat, run_incoming

log = logging.getLogger(__name__)

OUTBOUND_ARG = "voicebot-dial"
PAYLOAD_TYPES = {"ulaw": 0, "slin16": 118}  # Asterisk's RTP payload types for the formats
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=5)


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
        self._rtp_remote: tuple[str, int] | None = None
        self._sender = RtpSender()
        self.rtp_port = 0

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
        if self.bridge_id is not None:
            await self.ari.request(
                "POST", f"/bridges/{self.bridge_id}/record", name=name, format="wav"
            )

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
            self.rtp_port = port
            return
        raise AriError("bind", "rtp", 0, f"no free UDP port in {cfg.rtp_port_min}..")

    def close_rtp(self) -> None:
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
        if len(pkt.payload) != self._decoder.payload_bytes:
            self.stats.drop("bad_length")
            return
        self.push_audio(self._decoder.decode(pkt.payload), pkt.sequence)

    def send_wire(self, pcm: bytes) -> None:
        if self._rtp is None or self._rtp_remote is None:
            return
        self._rtp.sendto(self._sender.packet(self.wire.encode(pcm), self._pt), self._rtp_remote)


class _Dialing:
    """An originate waiting for its answer: state changes and the end cause land here."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.answered: asyncio.Future[list[str]] = loop.create_future()
        self.ringing = False


class AriBridge:
    """The ARI controller; `await start()` connects (and keeps reconnecting) the event socket."""

    name = "ari"

    def __init__(self, cfg: AriConfig, on_incoming: IncomingHandler | None = None) -> None:
        self.cfg = cfg
        self.on_incoming = on_incoming
        self.calls: dict[str, AriCall] = {}
        self.malformed_events = 0
        self.connected = asyncio.Event()
        self._base = cfg.url.rstrip("/") + "/ari"
        self._http: aiohttp.ClientSession | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._dialing: dict[str, _Dialing] = {}
        self._amd: dict[str, asyncio.Future[str]] = {}
        self._ours: set[str] = set()  # externalMedia channels we created
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_error = ""

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
        for task in [*self._tasks, *([self._events_task] if self._events_task else [])]:
            task.cancel()
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
        while True:
            try:
                async with self._http.ws_connect(
                    url, params={"app": self.cfg.app}, heartbeat=20, timeout=_WS_TIMEOUT
                ) as ws:
                    backoff.reset()
                    self._problem("")
                    log.info("ARI connected to %s as app %r", self.cfg.url, self.cfg.app)
                    await self._reconcile()
                    self.connected.set()
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            await self._on_text(msg.data)
                        elif msg.type == aiohttp.WSMsgType.ERROR:
                            break
                self.connected.clear()
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

    async def _reconcile(self) -> None:
        """After a (re)connect: calls whose channels Asterisk no longer has are over, and
        channels left in our app by an earlier voicebot process (it crashed) are cleaned up."""
        try:
            channels = await self.request("GET", "/channels")
            live = {c["id"] for c in channels}
            await self._sweep_orphans(channels)
        except (AriError, aiohttp.ClientError, KeyError, TypeError) as e:
            log.warning("ARI reconcile failed: %s", e)
            return
        for call in list(self.calls.values()):
            if call.channel_id not in live:
                log.info("call %s: channel gone while ARI was disconnected", call.call_id)
                self._spawn(self._end(call, HangupCause.FAILED, "channel lost during reconnect"))
        for cid, dialing in list(self._dialing.items()):
            if cid not in live and not dialing.answered.done():
                dialing.answered.set_exception(
                    CallFailed(HangupCause.FAILED, None, "channel lost during reconnect")
                )

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
            event = json.loads(text)
            kind = event["type"]
            channel = event.get("channel") or {}
            cid = channel.get("id") if isinstance(channel, dict) else None
            if kind.startswith("Channel") or kind.startswith("Stasis"):
                if not isinstance(cid, str):
                    raise ValueError(f"{kind} without channel.id")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self.malformed_events += 1
            log.warning("ARI: malformed event ignored (%s): %.120s", e, text)
            return
        try:
            await self._dispatch(kind, event, channel, cid)
        except Exception:
            log.exception("ARI: handling %s failed; the event socket goes on", kind)

    async def _dispatch(
        self, kind: str, event: dict[str, Any], channel: dict[str, Any], cid: str | None
    ) -> None:
        if kind == "StasisStart":
            self._on_stasis_start(cid, channel, [str(a) for a in event.get("args", [])])
        elif kind == "ChannelStateChange":
            dialing = self._dialing.get(cid or "")
            if dialing is not None and channel.get("state") == "Ringing" and not dialing.ringing:
                dialing.ringing = True
        elif kind == "ChannelDtmfReceived":
            call = self.calls.get(cid or "")
            if call is not None:
                call.emit(Dtmf(str(event["digit"]), int(event.get("duration_ms", 0))))
        elif kind == "ChannelHangupRequest":
            call = self.calls.get(cid or "")
            if call is not None and isinstance(event.get("cause"), int):
                call.hangup_cause = event["cause"]
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            self._on_channel_gone(kind, cid or "", event)
        else:
            log.debug("ARI: %s ignored", kind)

    def _on_stasis_start(self, cid: str | None, channel: dict[str, Any], args: list[str]) -> None:
        assert cid is not None
        if cid in self._ours:
            return  # our own externalMedia channel entering the app
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
        caller = (channel.get("caller") or {}).get("number", "") or "unknown"
        call = AriCall(self, cid, Direction.INBOUND, caller)
        call.variables = {k: str(v) for k, v in (channel.get("channelvars") or {}).items()}
        self.calls[cid] = call
        self._spawn(self._inbound(call))

    def _on_channel_gone(self, kind: str, cid: str, event: dict[str, Any]) -> None:
        dialing = self._dialing.get(cid)
        if dialing is not None and not dialing.answered.done() and kind == "ChannelDestroyed":
            cause = int(event.get("cause", 0))
            dialing.answered.set_exception(
                CallFailed(cause_from_q850(cause), cause, str(event.get("cause_txt", "")))
            )
            return
        amd = self._amd.get(cid)
        if amd is not None:  # left Stasis for the AMD detour: it comes back, or hangs up there
            if kind == "ChannelDestroyed" and not amd.done():
                cause = int(event.get("cause", 0))
                amd.set_exception(CallFailed(cause_from_q850(cause), cause, "hung up during AMD"))
            return
        call = self.calls.get(cid)
        if call is not None:
            cause = int(event.get("cause", call.hangup_cause))
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
        self._ours.add(media_id)
        call.media_channel_id = media_id
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
        vars_ = media.get("channelvars") or {}
        host, port = vars_.get("UNICASTRTP_LOCAL_ADDRESS"), vars_.get("UNICASTRTP_LOCAL_PORT")
        if host and port:
            call.set_rtp_remote(host, int(port))
        await self.request(
            "POST", f"/bridges/{call.bridge_id}/addChannel", channel=f"{call.channel_id},{media_id}"
        )
        call.start_media(call.send_wire)

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
        if media_id is not None:
            await self._quietly("DELETE", f"/channels/{media_id}")
            self._ours.discard(media_id)
        if bridge_id is not None:
            await self._quietly("DELETE", f"/bridges/{bridge_id}")

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
