"""Asterisk's side of ARI for tests: REST + the /ari/events websocket + externalMedia RTP.

Every request is checked against the API declarations in /work/shared/asterisk-ari/*.json
(path template, method, auth, required and unknown query parameters, allowed values, body)
and answered 4xx as Asterisk would when it is wrong; every event sent is checked against the
models in events.json (required fields and their types). Channels go Down → Ringing → Up;
originates are scripted per endpoint; an externalMedia channel enters Stasis shortly
after the REST answer (as on Asterisk 22: `media_stasis_delay`; addChannel before that is a
422) and streams μ-law RTP (payload type 0, 160 bytes, 50 packets a second, paced) once it
shares a bridge with a caller.
A bridge recording is finalised when its bridge is destroyed: stored (a WAV file of its own
per name), announced with RecordingFinished, served by /recordings/stored/{name}/file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import re
import time
import uuid
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from voicebot.media import g711
from voicebot.media.rtp import RtpSender, parse_rtp

SPEC_DIR = Path("/work/shared/asterisk-ari")
CAUSE_TEXT = {
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
    38: "Network out of order",
}


class SpecError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Operation:
    method: str
    path: str
    pattern: re.Pattern[str]
    nickname: str
    params: list[dict[str, Any]]


def load_spec(spec_dir: Path = SPEC_DIR) -> tuple[list[Operation], dict[str, Any]]:
    ops: list[Operation] = []
    models: dict[str, Any] = {}
    for f in sorted(spec_dir.glob("*.json")):
        doc = json.loads(f.read_text())
        models.update(doc.get("models", {}))
        for api in doc.get("apis", []):
            regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", api["path"]) + "$"
            for op in api["operations"]:
                ops.append(
                    Operation(
                        op["httpMethod"],
                        api["path"],
                        re.compile(regex),
                        op["nickname"],
                        op.get("parameters", []),
                    )
                )
    return ops, models


def check_model(models: dict[str, Any], name: str, value: Any, where: str) -> None:
    """Raise AssertionError if `value` lacks a required field of model `name` or has a bad type."""
    model = models[name]
    props = dict(model["properties"])
    for base in ("Message", "Event"):
        if name != base and name in _subtypes(models, base):
            props = {**models[base]["properties"], **props}
    for prop, decl in props.items():
        if prop not in value:
            assert not decl.get("required"), f"{where}: {name}.{prop} is required"
            continue
        _check_type(models, decl["type"], value[prop], f"{where}.{prop}")


def _subtypes(models: dict[str, Any], base: str) -> set[str]:
    out: set[str] = set()
    for sub in models[base].get("subTypes", []):
        out |= {sub, *_subtypes(models, sub)}
    return out


def _check_type(models: dict[str, Any], typ: str, value: Any, where: str) -> None:
    simple = {
        "string": str,
        "Date": str,
        "int": int,
        "long": int,
        "boolean": bool,
        "object": dict,
        "double": (int, float),
    }
    if typ.startswith("List["):
        assert isinstance(value, list), f"{where}: expected a list"
        for i, item in enumerate(value):
            _check_type(models, typ[5:-1], item, f"{where}[{i}]")
    elif typ in simple:
        assert isinstance(value, simple[typ]), f"{where}: expected {typ}, got {value!r}"
    elif typ in models:
        check_model(models, typ, value, where)


@dataclass
class Channel:
    id: str
    name: str
    state: str = "Down"
    caller: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    in_stasis: bool = False
    entering_stasis: bool = False  # an externalMedia channel on its way into the app
    hangup_pending: bool = False
    app: str = ""
    dialplan: tuple[str, str, int] = ("default", "s", 1)
    continued_to: tuple[str, str] | None = None
    script: str = "answer"
    rtp: RtpLeg | None = None
    dtmf_sent: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        ctx, exten, prio = self.dialplan
        return {
            "id": self.id,
            "protocol_id": "",
            "name": self.name,
            "state": self.state,
            "caller": {"name": "", "number": self.caller},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": ctx,
                "exten": exten,
                "priority": prio,
                "app_name": "Stasis" if self.in_stasis else "",
                "app_data": self.app if self.in_stasis else "",
            },
            "creationtime": _now(),
            "language": "en",
            "channelvars": dict(self.vars),
        }


@dataclass
class Bridge:
    id: str
    channels: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "technology": "simple_bridge",
            "bridge_type": "mixing",
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": "",
            "channels": list(self.channels),
            "creationtime": _now(),
        }


def _recording(request: web.Request, target: str) -> web.Response:
    """A LiveRecording, as Asterisk answers a record request."""
    live = {"name": request.query["name"], "format": request.query["format"]}
    return web.json_response({**live, "state": "recording", "target_uri": target}, status=201)


def recording_wav(name: str, seconds: float = 1.0) -> bytes:
    """The WAV file Asterisk ends up with for recording `name`: 8 kHz mono PCM16, a tone
    whose pitch depends on the name, so two recordings never have the same bytes."""
    hz = 300 + sum(name.encode()) % 700
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return out.getvalue()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class _RtpProto(asyncio.DatagramProtocol):
    def __init__(self, leg: RtpLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.leg.on_datagram(data)


class RtpLeg:
    """Asterisk's UnicastRTP end of an externalMedia channel."""

    def __init__(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.source = b""  # caller's speech, 8 kHz PCM16
        self.received: list[bytes] = []  # decoded PCM from voicebot
        self.arrivals: list[float] = []
        self.bad_packets = 0
        self._task: asyncio.Task[None] | None = None
        self._sender = RtpSender()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _RtpProto(self), local_addr=("127.0.0.1", 0)
        )
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._send_loop())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.close()

    def on_datagram(self, data: bytes) -> None:
        try:
            pkt = parse_rtp(data)
        except ValueError:
            self.bad_packets += 1
            return
        if pkt.payload_type != 0 or len(pkt.payload) != 160:
            self.bad_packets += 1
            return
        self.arrivals.append(time.monotonic())
        self.received.append(g711.ulaw_decode(pkt.payload).astype("<i2").tobytes())

    def audio(self) -> bytes:
        return b"".join(self.received)

    def jitter_ms(self) -> list[float]:
        gaps = np.diff(np.asarray(self.arrivals)) * 1000
        return list(np.abs(gaps - 20.0))

    async def _send_loop(self) -> None:
        assert self.transport is not None
        start = time.monotonic()
        for n in itertools.count(1):
            chunk, self.source = self.source[:320], self.source[320:]
            payload = g711.ulaw_encode(chunk.ljust(320, b"\0"))
            self.transport.sendto(self._sender.packet(payload, 0), self.remote)
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))


OP = web.RequestKey("op", Operation)
PATH_PARAMS = web.RequestKey("path_params", dict)
BODY = web.RequestKey("body", dict)


class AriServer:
    """A scripted Asterisk: `await start()`, then drive calls with `ring_in`, `dtmf`,
    `caller_hangup`, `crash_websocket`; `scripts[endpoint]` says how an originate goes:
    answer | busy | no_answer | reject | machine (AMD says MACHINE) | human | gone_during_amd.

    `stored` holds the recordings on Asterisk's disk, `finished` every recording ever
    finalised (deleting one from `stored` keeps it there). `recording_fault`: "" | "missing"
    (finished, but no file: 404) | "unreadable" (403) | "cut" (the download breaks off
    half-way) | "stall" (the download stops sending half-way)."""

    def __init__(
        self,
        *,
        username: str = "voicebot",
        password: str = "secret",
        amd_context: str = "voicebot-amd",
    ) -> None:
        self.username, self.password = username, password
        self.amd_context = amd_context
        self.ops, self.models = load_spec()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.scripts: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.rejected: list[tuple[int, str]] = []  # (status, reason) of requests refused
        self.events_sent: list[dict[str, Any]] = []
        self.apps: list[str] = []
        self.ws_refused = False
        self.stored: dict[str, bytes] = {}
        self.finished: dict[str, bytes] = {}
        self.recording_fault = ""
        self.ws_close_codes: list[int | None] = []  # per event socket, how it was closed
        self.media_stasis_delay = 0.03  # externalMedia response → its StasisStart
        self.port = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connected = asyncio.Event()

    # server lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._validate])
        app.router.add_route("*", "/ari/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for ch in self.channels.values():
            if ch.rtp:
                ch.rtp.close()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # request validation ------------------------------------------------------------------

    @web.middleware
    async def _validate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            self._check_auth(request)
            op, path_params = self._match(request)
            body = await self._check_params(request, op)
        except SpecError as e:
            self.rejected.append((e.status, e.message))
            return web.json_response({"message": e.message}, status=e.status)
        request[OP], request[PATH_PARAMS], request[BODY] = op, path_params, body
        self.requests.append((op.nickname, request.path, dict(request.query)))
        return await handler(request)

    def _check_auth(self, request: web.Request) -> None:
        want = f"{self.username}:{self.password}"
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            with contextlib.suppress(ValueError):
                if base64.b64decode(header[6:]).decode() == want:
                    return
        if request.query.get("api_key") == want:
            return
        raise SpecError(401, "Authentication required")

    def _match(self, request: web.Request) -> tuple[Operation, dict[str, str]]:
        path = request.path.removeprefix("/ari")
        found = [(op, m) for op in self.ops if (m := op.pattern.match(path))]
        if not found:
            raise SpecError(404, "Resource not found")
        # a literal segment beats a template ({channelId} must not swallow "externalMedia")
        found.sort(key=lambda om: om[0].path.count("{"))
        for op, m in found:
            if op.method == request.method:
                return op, m.groupdict()
        raise SpecError(405, "Invalid method")

    async def _check_params(self, request: web.Request, op: Operation) -> dict[str, Any]:
        declared = {p["name"]: p for p in op.params}
        query = {k: v for k, v in request.query.items() if k != "api_key"}
        for name in query:
            if name not in declared or declared[name]["paramType"] != "query":
                raise SpecError(400, f"{op.nickname}: unknown query parameter {name!r}")
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise SpecError(400, "body is not JSON") from None
            if not isinstance(body, dict):
                raise SpecError(400, "body must be a JSON object")
        for name, p in declared.items():
            if p["paramType"] == "query":
                value = query.get(name)
                if value is None:
                    if p.get("required"):
                        raise SpecError(400, f"{op.nickname}: missing required {name!r}")
                    continue
                allowed = p.get("allowableValues", {}).get("values")
                values = value.split(",") if p.get("allowMultiple") else [value]
                if allowed and any(v not in allowed for v in values):
                    raise SpecError(400, f"{op.nickname}: {name}={value!r} not in {allowed}")
                if p.get("dataType") in ("int", "long") and not re.fullmatch(r"-?\d+", value):
                    raise SpecError(400, f"{op.nickname}: {name} must be an integer")
            elif p["paramType"] == "body" and name in body:
                vars_ = body[name]
                ok = isinstance(vars_, dict) and all(isinstance(v, str) for v in vars_.values())
                if not ok:
                    raise SpecError(400, f"{op.nickname}: {name} must map names to strings")
        unknown_body = set(body) - {n for n, p in declared.items() if p["paramType"] == "body"}
        if unknown_body:
            raise SpecError(400, f"{op.nickname}: unknown body field(s) {sorted(unknown_body)}")
        return body

    # REST ---------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        op: Operation = request[OP]
        handler = getattr(self, f"_op_{op.path.split('/')[1]}_{op.nickname}", None)
        if handler is None:
            return web.json_response({"message": f"{op.nickname} not scripted"}, status=501)
        try:
            return await handler(request, **request[PATH_PARAMS])
        except SpecError as e:
            self.rejected.append((e.status, e.message))
            return web.json_response({"message": e.message}, status=e.status)

    def _channel(self, channel_id: str) -> Channel:
        if channel_id not in self.channels:
            raise SpecError(404, "Channel not found")
        return self.channels[channel_id]

    def _stasis_channel(self, channel_id: str) -> Channel:
        ch = self._channel(channel_id)
        if not ch.in_stasis:
            raise SpecError(409, "Channel not in a Stasis application")
        return ch

    async def _op_events_eventWebsocket(self, request: web.Request) -> web.StreamResponse:
        if self.ws_refused:
            raise SpecError(503, "Asterisk is restarting")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.apps = request.query["app"].split(",")
        self._sockets.add(ws)
        self.connected.set()
        close_code: int | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.CLOSE:
                    close_code = int(msg.data)
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        finally:
            self._sockets.discard(ws)
            # the code of the client's close frame; None when the TCP connection just went
            # (Asterisk logs "Web socket closed abruptly" then)
            self.ws_close_codes.append(close_code)
            if not self._sockets:
                self.connected.clear()
        return ws

    async def _op_channels_list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([c.to_json() for c in self.channels.values()])

    async def _op_channels_get(self, request: web.Request, channelId: str) -> web.StreamResponse:
        return web.json_response(self._channel(channelId).to_json())

    async def _op_channels_originate(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if "app" not in q and "extension" not in q:
            raise SpecError(400, "Invalid parameters for originating a channel.")
        cid = q.get("channelId") or str(uuid.uuid4())
        if cid in self.channels:
            raise SpecError(409, "Channel with given unique ID already exists.")
        endpoint = q["endpoint"]
        ch = Channel(cid, f"{endpoint}-{cid[:8]}", vars=dict(request[BODY].get("variables", {})))
        ch.args = q.get("appArgs", "").split(",") if q.get("appArgs") else []
        ch.script = self.scripts.get(endpoint, "answer")
        self.channels[cid] = ch
        self._spawn(self._run_originate(ch, float(q.get("timeout", "30"))))
        return web.json_response(ch.to_json())

    async def _run_originate(self, ch: Channel, timeout: float) -> None:
        await asyncio.sleep(0.05)
        await self._set_state(ch, "Ringing")
        script = ch.script
        if script == "busy":
            await asyncio.sleep(0.1)
            await self._destroy(ch, 17)
        elif script == "reject":
            await asyncio.sleep(0.1)
            await self._destroy(ch, 21)
        elif script == "no_answer":
            await asyncio.sleep(min(timeout, 1.0))
            await self._destroy(ch, 19)
        else:
            await asyncio.sleep(0.2)
            await self._set_state(ch, "Up")
            await self._stasis_start(ch, ch.args)

    async def _op_channels_answer(self, request: web.Request, channelId: str) -> web.Response:
        ch = self._stasis_channel(channelId)
        if ch.state != "Up":
            await self._set_state(ch, "Up")
        return web.Response(status=204)

    async def _op_channels_hangup(self, request: web.Request, channelId: str) -> web.Response:
        ch = self._channel(channelId)
        if ch.entering_stasis:
            ch.hangup_pending = True
        else:
            self._spawn(self._destroy(ch, 16, soft=False))
        return web.Response(status=204)

    async def _op_channels_continueInDialplan(
        self, request: web.Request, channelId: str
    ) -> web.Response:
        ch = self._stasis_channel(channelId)
        ctx, exten = request.query.get("context", ""), request.query.get("extension", "s")
        await self._leave_stasis(ch)
        ch.continued_to = (ctx, exten)
        if ctx == self.amd_context and ch.script == "gone_during_amd":
            self._spawn(self._after(0.1, self._destroy(ch, 16)))
        elif ctx == self.amd_context:
            status = "MACHINE" if ch.script == "machine" else "HUMAN"
            self._spawn(self._after(0.1, self._stasis_start(ch, ["amd", status])))
        return web.Response(status=204)

    async def _op_channels_sendDTMF(self, request: web.Request, channelId: str) -> web.Response:
        ch = self._stasis_channel(channelId)
        if not request.query.get("dtmf"):
            raise SpecError(400, "DTMF is required")
        ch.dtmf_sent.append(request.query["dtmf"])
        return web.Response(status=204)

    async def _op_channels_getChannelVar(
        self, request: web.Request, channelId: str
    ) -> web.StreamResponse:
        ch = self._channel(channelId)
        name = request.query["variable"]
        if name not in ch.vars:
            raise SpecError(404, "Channel variable not found")
        return web.json_response({"value": ch.vars[name]})

    async def _op_channels_externalMedia(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("encapsulation", "rtp") != "rtp" or q.get("transport", "udp") != "udp":
            raise SpecError(400, "Invalid parameters")
        if q["format"] != "ulaw":
            raise SpecError(400, f"this test Asterisk only scripts ulaw, not {q['format']}")
        host, _, port = q.get("external_host", "").rpartition(":")
        if not host or not port.isdigit():
            raise SpecError(400, "Invalid parameters")
        cid = q.get("channelId") or str(uuid.uuid4())
        leg = RtpLeg((host, int(port)))
        await leg.open()
        ch = Channel(cid, f"UnicastRTP/{host}:{port}-{cid[:8]}", state="Up", rtp=leg)
        ch.vars = {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1", "UNICASTRTP_LOCAL_PORT": str(leg.port)}
        self.channels[cid] = ch
        ch.entering_stasis = True
        # Asterisk 22 answers before the channel is in Stasis: it is dialled and sent to the
        # app on another thread, so StasisStart comes 1-60 ms after this response (issue 13)
        self._spawn(self._after(self.media_stasis_delay, self._media_enters_stasis(ch)))
        return web.json_response(ch.to_json())

    async def _media_enters_stasis(self, ch: Channel) -> None:
        """A hang-up requested meanwhile waits for the channel's own thread: StasisStart
        still comes, then StasisEnd and ChannelDestroyed."""
        ch.entering_stasis = False
        if self.channels.get(ch.id) is ch:
            await self._stasis_start(ch, [])
            if ch.hangup_pending:
                await self._destroy(ch, 16)

    async def _op_channels_record(self, request: web.Request, channelId: str) -> web.Response:
        self._stasis_channel(channelId).recordings.append(request.query["name"])
        return _recording(request, f"channel:{channelId}")

    async def _op_bridges_list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([b.to_json() for b in self.bridges.values()])

    async def _op_bridges_create(self, request: web.Request) -> web.StreamResponse:
        types = request.query.get("type", "mixing").split(",")
        if any(
            t
            not in (
                "mixing",
                "holding",
                "dtmf_events",
                "proxy_media",
                "video_sfu",
                "video_single",
                "sdp_label",
            )
            for t in types
        ):
            raise SpecError(400, "Invalid bridge type")
        bid = request.query.get("bridgeId") or str(uuid.uuid4())
        self.bridges[bid] = Bridge(bid)
        return web.json_response(self.bridges[bid].to_json())

    async def _op_bridges_destroy(self, request: web.Request, bridgeId: str) -> web.Response:
        bridge = self.bridges.pop(bridgeId, None)
        if bridge is None:
            raise SpecError(404, "Bridge not found")
        for name in bridge.recordings:  # the Recorder leaves; its file is closed a bit later
            self._spawn(self._after(0.1, self._finish_recording(name, f"bridge:{bridgeId}")))
        return web.Response(status=204)

    async def _op_bridges_addChannel(self, request: web.Request, bridgeId: str) -> web.Response:
        bridge = self.bridges.get(bridgeId)
        if bridge is None:
            raise SpecError(404, "Bridge not found")
        ids = request.query["channel"].split(",")
        for cid in ids:
            if cid not in self.channels:
                raise SpecError(400, "Channel not found")
            if not self.channels[cid].in_stasis:
                raise SpecError(422, "Channel not in Stasis application")
        bridge.channels += ids
        legs = [self.channels[c] for c in bridge.channels if self.channels[c].rtp]
        callers = [self.channels[c] for c in bridge.channels if not self.channels[c].rtp]
        if legs and callers:
            for leg in legs:
                assert leg.rtp is not None
                leg.rtp.start()
        return web.Response(status=204)

    async def _op_bridges_record(self, request: web.Request, bridgeId: str) -> web.Response:
        if bridgeId not in self.bridges:
            raise SpecError(404, "Bridge not found")
        name = request.query["name"]
        live = any(name in b.recordings for b in self.bridges.values())
        if live or (name in self.stored and request.query.get("ifExists", "fail") == "fail"):
            raise SpecError(409, "A recording with the same name already exists on the system")
        self.bridges[bridgeId].recordings.append(name)
        return _recording(request, f"bridge:{bridgeId}")

    async def _finish_recording(self, name: str, target: str) -> None:
        data = recording_wav(name)
        self.finished[name] = data
        if self.recording_fault != "missing":
            self.stored[name] = data
        live = {"name": name, "format": "wav", "state": "done", "target_uri": target}
        await self.send_event("RecordingFinished", recording={**live, "duration": 1})

    def _stored(self, name: str) -> bytes:
        if name not in self.stored:
            raise SpecError(404, "Recording not found")
        return self.stored[name]

    async def _op_recordings_getStoredFile(
        self, request: web.Request, recordingName: str
    ) -> web.StreamResponse:
        data = self._stored(recordingName)
        if self.recording_fault == "unreadable":
            raise SpecError(403, "The recording file could not be opened")
        resp = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        resp.content_length = len(data)
        await resp.prepare(request)
        if self.recording_fault in ("cut", "stall"):
            await resp.write(data[: len(data) // 2])
            transport = request.transport
            assert transport is not None
            # until voicebot gives up (or the server stops)
            while self.recording_fault == "stall" and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            transport.close()
            return resp
        await resp.write(data)
        await resp.write_eof()
        return resp

    async def _op_recordings_deleteStored(
        self, request: web.Request, recordingName: str
    ) -> web.Response:
        self._stored(recordingName)
        del self.stored[recordingName]
        return web.Response(status=204)

    # events and scripted behaviour ------------------------------------------------------

    async def send_event(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = {
            "type": type_,
            "application": self.apps[0] if self.apps else "voicebot",
            "timestamp": _now(),
            "asterisk_id": "00:11:22:33:44:55",
            **fields,
        }
        check_model(self.models, type_, event, type_)
        await self.send_raw(json.dumps(event))
        self.events_sent.append(event)
        return event

    async def send_raw(self, text: str) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)

    async def ring_in(self, caller: str = "+15551230001", *, script: str = "answer") -> Channel:
        """A candidate calls the screening number; the dialplan sends the channel to Stasis."""
        cid = str(uuid.uuid4())
        ch = Channel(cid, f"PJSIP/trunk-{cid[:8]}", state="Ring", caller=caller, script=script)
        self.channels[cid] = ch
        await self._stasis_start(ch, [])
        return ch

    async def dtmf(self, ch: Channel, digit: str) -> None:
        await self.send_event(
            "ChannelDtmfReceived", digit=digit, duration_ms=120, channel=ch.to_json()
        )

    async def caller_hangup(self, ch: Channel, cause: int = 16) -> None:
        await self.send_event("ChannelHangupRequest", cause=cause, channel=ch.to_json())
        await self._destroy(ch, cause)

    def media_leg(self, caller: Channel) -> RtpLeg:
        """The externalMedia leg bridged with `caller`."""
        for bridge in self.bridges.values():
            if caller.id in bridge.channels:
                for cid in bridge.channels:
                    leg = self.channels[cid].rtp
                    if leg is not None:
                        return leg
        raise LookupError(f"no externalMedia leg bridged with {caller.id}")

    async def crash_websocket(self, down_for: float = 0.5, *, lose: list[Channel] = ()) -> None:
        """Asterisk restarts: sockets drop, `lose` channels vanish meanwhile, then it is back."""
        self.ws_refused = True
        for ws in list(self._sockets):
            await ws.close()
        for ch in lose:
            self._forget(ch)
        await asyncio.sleep(down_for)
        self.ws_refused = False

    async def _set_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        await self.send_event("ChannelStateChange", channel=ch.to_json())

    async def _stasis_start(self, ch: Channel, args: list[str]) -> None:
        ch.in_stasis, ch.app = True, self.apps[0] if self.apps else "voicebot"
        await self.send_event("StasisStart", args=args, channel=ch.to_json())

    async def _leave_stasis(self, ch: Channel) -> None:
        for bridge in self.bridges.values():
            if ch.id in bridge.channels:
                bridge.channels.remove(ch.id)
        if ch.in_stasis:
            ch.in_stasis = False
            await self.send_event("StasisEnd", channel=ch.to_json())

    async def _destroy(self, ch: Channel, cause: int, soft: bool = True) -> None:
        if ch.id not in self.channels:
            return
        await self._leave_stasis(ch)
        self._forget(ch)
        await self.send_event(
            "ChannelDestroyed",
            cause=cause,
            cause_txt=CAUSE_TEXT.get(cause, "Unknown"),
            channel=ch.to_json(),
        )

    def _forget(self, ch: Channel) -> None:
        self.channels.pop(ch.id, None)
        for bridge in self.bridges.values():
            if ch.id in bridge.channels:
                bridge.channels.remove(ch.id)
        if ch.rtp is not None:
            ch.rtp.close()

    async def _after(self, delay: float, coro: Any) -> None:
        await asyncio.sleep(delay)
        await coro

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
