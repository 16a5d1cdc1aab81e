"""The bot as a SIP extension: registers (digest auth), takes and places calls, carries G.711
audio through voicebot's own media layer.

Signalling is an asyncio UDP user agent (RFC 3261 transactions and dialogs) built on
`sipmsg`; media is one RTP socket per call driven by one pacer task that both plays out the
jitter buffer and sends the next outbound frame every 20 ms. A re-INVITE updates the same
stream, it never starts a second sender. Why not pyVoIP's own phone: see the README
("Why not pyVoIP's VoIPPhone").
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from voicebot.config import SipConfig
from voicebot.media import g711
from voicebot.media.dtmf import DtmfError, DtmfReceiver, dtmf_payloads, parse_dtmf
from voicebot.media.frames import FRAME_SAMPLES
from voicebot.media.jitter import JitterBuffer
from voicebot.media.pacer import Pacer
from voicebot.media.rtp import RtpError, RtpSender, parse_rtp
from voicebot.media.sender import UdpOut
from voicebot.pii import redact
from voicebot.telephony.base import (
    Q850_CAUSES,
    Answered,
    CallEvent,
    CallStats,
    Direction,
    Dtmf,
    HangupCause,
    HungUp,
    Ringing,
)
from voicebot.telephony.base import CallFailed as BaseCallFailed
from voicebot.telephony.bridges import CallQueues, RateLimitedLog, run_incoming, same_address
from voicebot.telephony.sipmsg import (
    MediaDescription,
    SipMessage,
    SipParseError,
    bad_request,
    build_sdp,
    digest_authorization,
    header_param,
    header_uri,
    new_branch,
    new_call_id,
    new_tag,
    number,
    parse_message,
    parse_sdp,
    parse_uri,
    q850_cause,
    response_for,
)

log = logging.getLogger(__name__)

T1, T2, T_TIMEOUT = 0.5, 4.0, 32.0
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"
SIP_RATE_PER_S = 200.0  # per source address; beyond it messages are dropped as a flood
RTP_RATE_PER_S = 150.0  # 3x the 50 packets/s a 20 ms stream needs
MEDIA_TIMEOUT_S = 30.0  # no RTP from a peer that should be sending: the line is gone
# a new SSRC replaces the latched one after this many packets in a row with none of the old
# one between (Asterisk going native switches at once; a forged stream interleaves)
SSRC_SWITCH_PACKETS = 4
MAX_SERVER_TX = 20000  # server transactions remembered for retransmissions, at most
MAX_UNCONFIRMED_PER_SOURCE = 8  # answered, un-ACKed INVITEs one address may hold at a time


class SipError(RuntimeError):
    pass


class CallFailed(BaseCallFailed, SipError):
    """The bridge-neutral `CallFailed`, still a `SipError` for SIP-only callers."""


def _failure_cause(response: SipMessage) -> HangupCause:
    """A Q.850 cause in the Reason header wins over the status (RFC 3326); a cause the
    table does not know leaves the status to decide."""
    cause = q850_cause(response)
    if cause is not None and cause in Q850_CAUSES:
        return Q850_CAUSES[cause]
    status = response.status
    if status in (486, 600):
        return HangupCause.BUSY
    if status in (408, 480):
        return HangupCause.NO_ANSWER
    if status == 487:
        return HangupCause.CANCELLED
    if status in (603, 403):
        return HangupCause.REJECTED
    return HangupCause.FAILED


class TokenBucket:
    """Admits `rate` events a second with bursts of `burst`; the rest are a flood."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# media --------------------------------------------------------------------------------------


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, call: SipCall) -> None:
        self.call = call

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.call._on_rtp(data, addr)


@dataclass
class _Codec:
    pt: int
    codec: g711.Codec


class SipCall(CallQueues):
    """One SIP call; implements `voicebot.telephony.base.Call`."""

    bridge = "sip"

    def __init__(
        self,
        endpoint: SipEndpoint,
        *,
        direction: Direction,
        call_id: str,
        local_tag: str,
        remote_uri: str,
    ) -> None:
        self.endpoint = endpoint
        self.direction = direction
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = ""
        self.remote = remote_uri
        self.sample_rate = 8000
        self.stats = CallStats()
        self.local_uri = ""  # our From (UAC) / To (UAS) value without tag
        self.remote_party = ""  # their From/To value without tag
        self.remote_target = ""  # their Contact
        self.route_set: list[str] = []
        self.local_cseq = secrets.randbelow(10000) + 1
        self.remote_cseq = -1
        self.invite: SipMessage | None = None  # the initial INVITE (UAS) or our INVITE (UAC)
        self.signal_addr: tuple[str, int] | None = None
        self.confirmed = False
        self._init_queues()
        self._dtmf_out: deque[tuple[bytes, bool, int]] = deque()
        self._dtmf_in = DtmfReceiver()
        self.jitter = JitterBuffer()
        self.pacer = Pacer()
        self.rtp_sender = RtpSender()
        self.rtp_port = 0
        self._rtp_transport: asyncio.DatagramTransport | None = None
        self._rtp_out: UdpOut | None = None  # the sender thread's dup of _rtp_transport's socket
        self._rtp_bucket = TokenBucket(RTP_RATE_PER_S, 50)
        self._media_task: asyncio.Task[None] | None = None
        self.remote_media: MediaDescription | None = None
        self.codec: _Codec | None = None
        self.remote_dtmf_pt: int | None = None
        self.rtp_remote: tuple[str, int] | None = None
        self.sdp_session = secrets.randbelow(2**31)
        self.sdp_version = 1
        self.answered_at: float | None = None
        self.senders_started = 0  # stays 1 across re-INVITEs; tests pin it
        self._ack_event = asyncio.Event()
        self._dtmf_done = asyncio.Event()
        self._last_media = time.monotonic()  # the peer's last RTP (or the media's start)
        self._media_timed_out = False
        self._ssrc: int | None = None  # the peer's stream, latched at its first packet
        self._ssrc_next: tuple[int, int] | None = None  # (a new SSRC, its packets in a row)

    # Call protocol (frames, send, events... are CallQueues) --------------------------

    async def send_dtmf(self, digits: str) -> None:
        """RFC 4733 events, sent by the media loop in place of audio frames."""
        for digit in digits:
            payloads = dtmf_payloads(digit)
            duration = FRAME_SAMPLES * (len(payloads) - 3)
            for i, (payload, marker) in enumerate(payloads):
                self._dtmf_out.append((payload, marker, duration if i == len(payloads) - 1 else 0))
            self._dtmf_done.clear()
            await self._dtmf_done.wait()
            await asyncio.sleep(0.06)  # inter-digit gap

    async def hangup(self) -> None:
        await self.endpoint._hangup(self)

    # media plumbing ------------------------------------------------------------------------

    async def open_media(self) -> None:
        cfg = self.endpoint.cfg
        loop = asyncio.get_running_loop()
        for _ in range(50):
            port = (
                secrets.randbelow((cfg.rtp_port_max - cfg.rtp_port_min) // 2) * 2 + cfg.rtp_port_min
            )
            if port in self.endpoint._rtp_ports_in_use:
                continue
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _RtpProtocol(self), local_addr=(cfg.listen_host, port)
                )
            except OSError:
                continue
            self._rtp_transport = transport  # type: ignore[assignment]
            self._rtp_out = UdpOut(transport)
            self.rtp_port = port
            self.endpoint._rtp_ports_in_use.add(port)
            return
        raise SipError("no free RTP port in sip.rtp_port_min..rtp_port_max")

    def local_sdp(self) -> bytes:
        if self.codec is not None:
            codecs = [(self.codec.pt, self.codec.codec.encoding_name)]
            dtmf = self.remote_dtmf_pt
        else:
            codecs = [(int(g711.Codec[c]), c) for c in self.endpoint.cfg.codecs]
            dtmf = 101
        return build_sdp(
            host=self.endpoint.public_host,
            port=self.rtp_port,
            codecs=codecs,
            dtmf_pt=dtmf,
            session_id=self.sdp_session,
            version=self.sdp_version,
        )

    def apply_remote_sdp(self, media: MediaDescription, *, offer: bool) -> None:
        """Pick the codec (offerer's order among ours) and latch the remote RTP address."""
        chosen: _Codec | None = None
        allowed = set(self.endpoint.cfg.codecs)
        for pt in media.payload_types:
            enc = media.encoding(pt)
            if enc in allowed:
                chosen = _Codec(pt, g711.Codec[enc])
                break
        if chosen is None:
            raise SipError("no common codec")
        if self.codec is None or offer or self.codec.pt not in media.payload_types:
            if self.codec is None or self.codec.codec != chosen.codec:
                self.jitter.reset()
            self.codec = chosen
        self.remote_dtmf_pt = media.pt_for("telephone-event")
        self.remote_media = media
        if self.rtp_remote != (media.host, media.port):
            self._ssrc = None  # a new peer address: its stream is latched afresh
        self.rtp_remote = (media.host, media.port)
        self._last_media = time.monotonic()  # a new stream (or off hold): its clock restarts

    def media_lost(self, now: float) -> bool:
        """The peer should be sending (answered, not on hold) and has sent nothing for
        `MEDIA_TIMEOUT_S`: a phone that vanished without a BYE."""
        if self.answered_at is None or self._ended:
            return False
        direction = self.remote_media.direction if self.remote_media else "sendrecv"
        if direction in ("recvonly", "inactive"):
            return False
        return now - self._last_media > MEDIA_TIMEOUT_S

    def start_media(self) -> None:
        if self._media_task is None:
            self._last_media = time.monotonic()
            self.senders_started += 1
            self._media_task = asyncio.create_task(self._media_loop(), name=f"rtp-{self.call_id}")

    async def _media_loop(self) -> None:
        """Every 20 ms: one frame out of the jitter buffer to the session, one frame to the line."""
        try:
            await self._pace(self.pacer, self.jitter, self.stats, self._send_one, threaded=True)
        except asyncio.CancelledError:
            pass
        except Exception:  # the media loop must never take the process down
            log.exception("media loop failed on call %s", self.call_id)

    def _send_one(self, silence: bytes) -> None:
        """One frame to the line; runs on the sender thread (loop work goes through `_loop`)."""
        if not self._media_timed_out and self.media_lost(time.monotonic()):
            self._media_timed_out = True
            log.warning("call %s: no RTP for %.0f s; ending it", self.call_id, MEDIA_TIMEOUT_S)
            self._on_loop(self._media_timeout)
        out, remote, codec = self._rtp_out, self.rtp_remote, self.codec
        if out is None or remote is None or codec is None:
            return
        direction = self.remote_media.direction if self.remote_media else "sendrecv"
        if self._dtmf_out and self.remote_dtmf_pt is not None:
            payload, marker, advance = self._dtmf_out.popleft()
            data = self.rtp_sender.packet(payload, self.remote_dtmf_pt, marker=marker, samples=0)
            if advance:
                self.rtp_sender.advance(advance)
            if not self._dtmf_out:
                self._set(self._dtmf_done)
        else:
            if self._dtmf_out:  # the peer negotiated no telephone-event: nothing to send
                self._dtmf_out.clear()
                self._set(self._dtmf_done)
            pcm = self._next_outbound(silence)
            data = self.rtp_sender.packet(g711.encode(codec.codec, pcm), codec.pt)
        if direction in ("sendrecv", "recvonly"):
            out.sendto(data, remote)
            self.stats.packets_out += 1

    def _media_timeout(self) -> None:
        hangup = self.endpoint._hangup(self, HangupCause.FAILED, detail="media timeout")
        self.endpoint._spawn(hangup)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the call's event loop (the sender thread must not touch it directly)."""
        if self._loop is None:
            fn()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the call is gone
                self._loop.call_soon_threadsafe(fn)

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._ended:
            return
        if not self._rtp_bucket.take():
            self.stats.drop("flood")
            return
        try:
            pkt = parse_rtp(data)
        except RtpError as e:
            self.stats.drop(e.reason)
            return
        self.stats.packets_in += 1
        if self.codec is None:
            self.stats.drop("before_answer")
            return
        if self.rtp_remote is not None and not same_address(addr, self.rtp_remote):
            self.stats.drop("foreign_source")
            return
        if not self._latch_ssrc(pkt.ssrc):
            self.stats.drop("foreign_ssrc")
            return
        self._last_media = time.monotonic()
        if pkt.payload_type == self.codec.pt:
            if len(pkt.payload) != FRAME_SAMPLES:
                self.stats.drop("bad_length")
                return
            pcm = g711.decode(self.codec.codec, pkt.payload)
            drop = self.jitter.push(pkt.sequence, pcm, pkt.ssrc)
            if drop:
                self.stats.drop(drop)
        elif self.remote_dtmf_pt is not None and pkt.payload_type == self.remote_dtmf_pt:
            try:
                event = parse_dtmf(pkt.payload)
            except DtmfError:
                self.stats.drop("bad_dtmf")
                return
            digit = self._dtmf_in.feed(pkt.timestamp, event)
            if digit:
                self._emit(Dtmf(digit, event.duration // 8))
        elif pkt.payload_type in (13, 19):
            pass  # comfort noise: nothing to play
        else:
            self.stats.drop("unknown_payload_type")

    def _latch_ssrc(self, ssrc: int) -> bool:
        """Whether a packet belongs to the peer's stream: the latched SSRC, or a new one that
        has sent `SSRC_SWITCH_PACKETS` in a row (it replaced the old one, not joined it)."""
        if ssrc == self._ssrc or self._ssrc is None:
            self._ssrc, self._ssrc_next = ssrc, None
            return True
        count = self._ssrc_next[1] + 1 if self._ssrc_next and self._ssrc_next[0] == ssrc else 1
        if count < SSRC_SWITCH_PACKETS:
            self._ssrc_next = (ssrc, count)
            return False
        self._ssrc, self._ssrc_next = ssrc, None
        return True

    # lifecycle -----------------------------------------------------------------------------

    def _emit(self, ev: CallEvent) -> None:
        if not self._ended or isinstance(ev, HungUp):
            self._events.put_nowait(ev)

    def _finish(self, cause: HangupCause, by_remote: bool, detail: str = "") -> None:
        if self._ended:
            return
        self._close_queues(HungUp(cause, by_remote, detail))
        self._dtmf_done.set()
        if self._media_task is not None:
            self._media_task.cancel()
        if self._rtp_out is not None:  # _close_queues took the stream out of the sender
            self._rtp_out.close()
            self._rtp_out = None
        if self._rtp_transport is not None:
            self._rtp_transport.close()
        self.endpoint._rtp_ports_in_use.discard(self.rtp_port)
        self.stats.lost = self.jitter.stats.lost
        self.endpoint._calls.pop(self.call_id, None)
        log.info(
            "call %s ended: %s (%s), remote=%s stats=%s",
            self.call_id,
            cause,
            "remote" if by_remote else "local",
            redact(self.remote),
            {
                "in": self.stats.packets_in,
                "out": self.stats.packets_out,
                "dropped": self.stats.dropped,
            },
        )


# signalling ---------------------------------------------------------------------------------


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)


IncomingHandler = Callable[[SipCall], Awaitable[None]]


class SipEndpoint:
    """A SIP user agent bound to one UDP port; `await start()`, then `call()` or take calls."""

    name = "sip"

    def __init__(self, cfg: SipConfig, on_incoming: IncomingHandler | None = None) -> None:
        self.cfg = cfg
        self.on_incoming = on_incoming
        self.draining = False  # shutting down: new INVITEs get 503 + Retry-After (serve.drain)
        self.public_host = cfg.public_host or cfg.listen_host
        self.port = cfg.listen_port
        # the registrar's host:port, so a bare extension routes there and not to :5060
        self.domain = cfg.domain or cfg.registrar or self.public_host
        self.registered = asyncio.Event()
        self.stats = CallStats()  # signalling-level drops
        self._calls: dict[str, SipCall] = {}
        self._rtp_ports_in_use: set[int] = set()
        self._transport: asyncio.DatagramTransport | None = None
        # (branch, method) -> responses: a CANCEL shares its INVITE's branch (RFC 3261 9.1)
        self._pending: dict[tuple[str, str], asyncio.Queue[SipMessage]] = {}
        self._server_tx: dict[tuple[str, str], tuple[SipMessage | None, float]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._warn = RateLimitedLog(log)  # one line per source a minute, however hostile
        self._trusted: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self._family = socket.AF_INET
        self._tasks: set[asyncio.Task[None]] = set()
        self._byes: set[asyncio.Future[None]] = set()  # BYE transactions still in flight
        self._register_task: asyncio.Task[None] | None = None
        self._reg_call_id = ""
        self._reg_cseq = 1
        self._reg_tag = new_tag()

    # lifecycle -----------------------------------------------------------------------------

    @property
    def contact(self) -> str:
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"<sip:{self.cfg.username}@{host}:{self.port}>"

    @property
    def aor(self) -> str:
        return f"sip:{self.cfg.username}@{self.domain}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.cfg.listen_host else socket.AF_INET
        self._family = family
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self),
            local_addr=(self.cfg.listen_host, self.cfg.listen_port),
            family=family,
        )
        self._transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]
        log.info("SIP listening on %s:%d", self.cfg.listen_host, self.port)
        await self._resolve_trusted()
        if self.cfg.registrar:
            self._register_task = asyncio.create_task(self._register_loop())

    async def _resolve_trusted(self) -> None:
        """The addresses INVITEs may come from: the registrar's and `sip.allow_from` (by
        name or address); none configured = anyone."""
        names = list(self.cfg.allow_from)
        if (proxy := self._outbound_proxy()) is not None:
            names.append(proxy[0])
        loop = asyncio.get_running_loop()
        for name in names:
            try:
                self._trusted.add(ipaddress.ip_address(name.strip("[]")))
                continue
            except ValueError:
                pass
            try:
                infos = await loop.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
            except OSError as e:
                log.warning("sip: cannot resolve %s to trust its INVITEs: %s", name, e)
                continue
            self._trusted |= {ipaddress.ip_address(str(info[4][0])) for info in infos}

    def trusts(self, host: str) -> bool:
        if not self._trusted:
            return True
        try:
            return ipaddress.ip_address(host) in self._trusted
        except ValueError:
            return False

    async def stop(self) -> None:
        for call in list(self._calls.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._hangup(call), 2)
        if self._byes:  # give the peers a moment to answer the BYEs
            await asyncio.wait(set(self._byes), timeout=2)
        for bye in list(self._byes):
            bye.cancel()
        if self._register_task is not None:
            self._register_task.cancel()
            if self.registered.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._register(expires=0), 2)
        for task in list(self._tasks):
            task.cancel()
        if self._transport is not None:
            self._transport.close()

    async def __aenter__(self) -> SipEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # transport -----------------------------------------------------------------------------

    def _send(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        """Send to an IP address of the socket's family; a name is resolved off the loop.

        asyncio closes a datagram transport on any non-OSError from sendto (a NUL or an
        unencodable name in a peer's Contact), and that is the endpoint's only socket."""
        if self._transport is None:
            return
        data = msg.encode()
        try:
            ip = ipaddress.ip_address(addr[0])
        except ValueError:
            self._spawn(self._send_to_name(data, addr[0], addr[1]))
            return
        if (ip.version == 6) != (self._family == socket.AF_INET6) or not 0 < addr[1] <= 65535:
            self.stats.drop("sip_unsendable")
            return
        self._transport.sendto(data, (str(ip), addr[1]))

    async def _send_to_name(self, data: bytes, host: str, port: int) -> None:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(
                    host, port, family=self._family, type=socket.SOCK_DGRAM
                ),
                5,
            )
        except (OSError, UnicodeError, ValueError, TimeoutError) as e:
            self.stats.drop("sip_unresolvable")
            self._warn.warning(host[:64], "SIP: cannot send to %r: %s", host[:64], e)
            return
        if self._transport is not None and infos:
            self._transport.sendto(data, infos[0][4][:2])

    def _outbound_proxy(self) -> tuple[str, int] | None:
        if not self.cfg.registrar:
            return None
        host, _, port = self.cfg.registrar.partition(":")
        return host, int(port or 5060)

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        bucket = self._buckets.get(addr[0])
        if bucket is None:
            bucket = self._buckets[addr[0]] = TokenBucket(SIP_RATE_PER_S, 2 * SIP_RATE_PER_S)
        if not bucket.take():
            self.stats.drop("flood")
            return
        try:
            msg = parse_message(data)
        except SipParseError as e:
            if e.reason == "keepalive":
                return
            self.stats.drop(f"sip_{e.reason}")
            self._warn.warning(addr[0], "malformed SIP from %s: %s", addr[0], e)
            if (refusal := bad_request(data)) is not None and self._transport is not None:
                self._transport.sendto(refusal, addr)
            return
        try:
            if msg.is_request:
                self._on_request(msg, addr)
            else:
                self._on_response(msg)
        except SipParseError as e:
            self.stats.drop(f"sip_{e.reason}")
            self._warn.warning(addr[0], "malformed SIP from %s: %s", addr[0], e)
            if msg.is_request and msg.method != "ACK":
                with contextlib.suppress(SipParseError):
                    self._send(response_for(msg, 400, "Bad Request"), addr)
        except Exception as e:  # a bug, not the peer's fault: one line, the details at debug
            self.stats.drop("sip_handler_error")
            self._warn.warning(
                addr[0], "error handling SIP %s from %s: %r", msg.method or msg.status, addr[0], e
            )
            log.debug("SIP handler error", exc_info=True)
            if msg.is_request and msg.method != "ACK":
                with contextlib.suppress(Exception):
                    self._send(response_for(msg, 500, "Server Internal Error"), addr)

    def _on_response(self, msg: SipMessage) -> None:
        queue = self._pending.get((msg.branch, msg.cseq[1]))
        if queue is None:
            # a retransmitted 2xx to our INVITE: re-ACK it (RFC 3261 13.2.2.4)
            call = self._calls.get(msg.call_id)
            if call and 200 <= msg.status < 300 and msg.cseq[1] == "INVITE" and call.confirmed:
                self._send_ack(call, msg)
            return
        queue.put_nowait(msg)

    async def _transaction(
        self, msg: SipMessage, addr: tuple[str, int], *, limit: float = T_TIMEOUT
    ) -> AsyncIterator[SipMessage]:
        """Client transaction over UDP: retransmit until a response, yield every response."""
        key = (msg.branch, msg.method)
        queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._pending[key] = queue
        is_invite = msg.method == "INVITE"
        interval, deadline = T1, time.monotonic() + limit
        retransmit = True
        try:
            self._send(msg, addr)
            while time.monotonic() < deadline:
                wait = (
                    min(interval, deadline - time.monotonic())
                    if retransmit
                    else deadline - time.monotonic()
                )
                try:
                    resp = await asyncio.wait_for(queue.get(), max(wait, 0.001))
                except TimeoutError:
                    if retransmit:
                        self._send(msg, addr)
                        interval = interval * 2 if is_invite else min(interval * 2, T2)
                    continue
                retransmit = False
                yield resp
                if resp.status >= 200:
                    return
            raise TimeoutError(f"no final response to {msg.method}")
        finally:
            self._pending.pop(key, None)

    # requests we receive -------------------------------------------------------------------

    def _on_request(self, req: SipMessage, addr: tuple[str, int]) -> None:
        method = req.method
        key = _server_key(req)
        if method not in ("ACK",) and key in self._server_tx:
            last, _ = self._server_tx[key]
            if last is not None:
                self._send(last, addr)  # retransmitted request: repeat our last response
            return
        if method == "ACK":
            call = self._calls.get(req.call_id)
            if call is not None and not call._ack_event.is_set():
                call.confirmed = True
                call._ack_event.set()
                if call.direction == Direction.INBOUND and call.remote_media is None:
                    self._on_late_answer(call, req)
            return
        self._gc_server_tx()
        if method == "INVITE":
            call = self._calls.get(req.call_id)
            if call is not None and req.to_tag():
                self._on_reinvite(call, req, addr)
            elif req.to_tag():
                self._reply(req, addr, 481, "Call/Transaction Does Not Exist")
            else:
                self._on_invite(req, addr)
        elif method == "BYE":
            call = self._calls.get(req.call_id)
            if call is None:
                self._reply(req, addr, 481, "Call/Transaction Does Not Exist")
                return
            self._reply(req, addr, 200, "OK", to_tag=call.local_tag)
            call._finish(HangupCause.NORMAL, by_remote=True, detail="BYE")
        elif method == "CANCEL":
            call = self._calls.get(req.call_id)
            self._reply(
                req, addr, 200 if call else 481, "OK" if call else "Call/Transaction Does Not Exist"
            )
            if call is not None and not call.answered_at and call.invite is not None:
                final = response_for(call.invite, 487, "Request Terminated", to_tag=call.local_tag)
                self._remember(_server_key(call.invite), final)
                self._send(final, call.signal_addr or addr)
                call._finish(HangupCause.CANCELLED, by_remote=True, detail="CANCEL")
        elif method == "OPTIONS":  # a dispatcher's probe: a draining bot is taken out of its set
            resp = response_for(
                req, *((503, "Service Unavailable") if self.draining else (200, "OK")),
                to_tag=new_tag(),
            )  # fmt: skip
            resp.add("Allow", ALLOW)
            resp.add("Accept", "application/sdp")
            self._send_response(req, resp, addr)
        elif method == "INFO":
            call = self._calls.get(req.call_id)
            self._reply(
                req, addr, 200 if call else 481, "OK" if call else "Call/Transaction Does Not Exist"
            )
            if call is not None and req.content_type() == "application/dtmf-relay":
                for line in req.body.decode(errors="replace").splitlines():
                    k, _, v = line.partition("=")
                    if k.strip().lower() == "signal" and v.strip():
                        call._emit(Dtmf(v.strip()[0]))
        else:
            resp = response_for(req, 501, "Not Implemented", to_tag=new_tag())
            resp.add("Allow", ALLOW)
            self._send_response(req, resp, addr)

    def _reply(
        self,
        req: SipMessage,
        addr: tuple[str, int],
        status: int,
        reason: str,
        to_tag: str | None = None,
    ) -> SipMessage:
        resp = response_for(req, status, reason, to_tag=to_tag or new_tag())
        self._send_response(req, resp, addr)
        return resp

    def _send_response(self, req: SipMessage, resp: SipMessage, addr: tuple[str, int]) -> None:
        resp.add("Server", self.cfg.user_agent)
        self._remember(_server_key(req), resp)
        self._send(resp, addr)

    def _remember(self, key: tuple[str, str], resp: SipMessage) -> None:
        """Keep a transaction's last response; the dict stays in time order (oldest first)."""
        self._server_tx.pop(key, None)
        self._server_tx[key] = (resp, time.monotonic())

    def _gc_server_tx(self) -> None:
        """Forget transactions older than 64*T1, oldest first, stopping at the first young one:
        O(expired) per request, not O(all), whatever a flood leaves behind; never more than
        `MAX_SERVER_TX` remembered."""
        cutoff = time.monotonic() - T_TIMEOUT
        while self._server_tx:
            key, (_, at) = next(iter(self._server_tx.items()))
            if at >= cutoff and len(self._server_tx) <= MAX_SERVER_TX:
                break
            del self._server_tx[key]

    def _on_invite(self, req: SipMessage, addr: tuple[str, int]) -> None:
        if not self.trusts(addr[0]):  # not the PBX: nobody's call to take
            self.stats.drop("sip_untrusted_source")
            self._warn.warning(
                addr[0], "INVITE from %s refused: not the registrar/allow_from", addr[0]
            )
            self._reply(req, addr, 403, "Forbidden")
            return
        if req.call_id in self._calls:  # a new transaction for a live call's id: merged
            self._reply(req, addr, 482, "Loop Detected")  # (RFC 3261 8.2.2.2), not a takeover
            return
        if self.draining:  # a deploy: another instance (or this one, restarted) takes it
            resp = response_for(req, 503, "Service Unavailable", to_tag=new_tag())
            resp.add("Retry-After", "30")
            self._send_response(req, resp, addr)
            return
        if len(self._calls) >= self.cfg.max_calls or self.on_incoming is None:
            self._reply(req, addr, 486, "Busy Here")
            return
        unconfirmed = sum(
            1
            for c in self._calls.values()
            if not c.confirmed and c.signal_addr is not None and c.signal_addr[0] == addr[0]
        )
        if unconfirmed >= MAX_UNCONFIRMED_PER_SOURCE:  # INVITEs that never ACK: a slot attack
            self.stats.drop("sip_unconfirmed_invites")
            self._warn.warning(addr[0], "%s: too many un-ACKed INVITEs; refused", addr[0])
            self._reply(req, addr, 486, "Busy Here")
            return
        try:
            media = parse_sdp(req.body) if req.body else None
        except SipParseError:
            self._reply(req, addr, 488, "Not Acceptable Here")
            return
        call = SipCall(
            self,
            direction=Direction.INBOUND,
            call_id=req.call_id,
            local_tag=new_tag(),
            remote_uri=header_uri(req.require("From")),
        )
        call.invite = req
        call.signal_addr = addr
        call.remote_tag = req.from_tag()
        call.remote_party = req.require("From").split(";tag=")[0]
        call.local_uri = req.require("To")
        call.remote_target = header_uri(req.get("Contact") or req.require("From"))
        call.route_set = req.get_all("Record-Route")  # UAS keeps the order as received
        call.remote_cseq = req.cseq[0]
        self._next_hop(call.route_set, call.remote_target)  # a BYE must be able to get there
        if media is not None:
            try:
                call.apply_remote_sdp(media, offer=True)
            except SipError:
                self._reply(req, addr, 488, "Not Acceptable Here")
                return
        self._calls[call.call_id] = call
        self._send_response(req, response_for(req, 100, "Trying"), addr)
        log.info("incoming call %s from %s", call.call_id, redact(call.remote))
        self._spawn(self._accept(call, req, addr))

    async def _accept(self, call: SipCall, req: SipMessage, addr: tuple[str, int]) -> None:
        try:
            await call.open_media()
        except SipError:
            self._reply(req, addr, 503, "Service Unavailable", to_tag=call.local_tag)
            call._finish(HangupCause.FAILED, by_remote=False, detail="no RTP port")
            return
        ringing = response_for(req, 180, "Ringing", to_tag=call.local_tag)
        ringing.add("Contact", self.contact)
        self._send_response(req, ringing, addr)
        if call.ended:
            return
        ok = self._answer_response(call, req)
        self._send_response(req, ok, addr)
        call.answered_at = time.time()
        call.start_media()
        call._emit(Answered())
        assert self.on_incoming is not None
        self._spawn(self._run_handler(call))
        # retransmit the 2xx until the ACK arrives (RFC 3261 13.3.1.4)
        interval, waited = T1, 0.0
        while not call.ended and not call._ack_event.is_set() and waited < T_TIMEOUT:
            try:
                await asyncio.wait_for(call._ack_event.wait(), interval)
            except TimeoutError:
                waited += interval
                self._send(ok, addr)
                interval = min(interval * 2, T2)
        if not call._ack_event.is_set() and not call.ended:
            log.warning("no ACK for call %s (timer H); ending it", call.call_id)
            await self._hangup(call, HangupCause.FAILED, detail="no ACK")

    def _on_late_answer(self, call: SipCall, ack: SipMessage) -> None:
        """An INVITE without SDP got our offer in the 200; its ACK carries the answer (RFC
        3264). Without a usable one there can be no media: the call ends."""
        try:
            if not ack.body:
                raise SipParseError("bad_sdp", "no SDP answer in the ACK")
            call.apply_remote_sdp(parse_sdp(ack.body), offer=False)
        except (SipParseError, SipError) as e:
            self.stats.drop("sip_late_offer_unanswered")
            log.warning(
                "call %s: late offer not answered in the ACK (%s); ending it", call.call_id, e
            )
            self._spawn(self._hangup(call, HangupCause.FAILED, detail="no SDP answer"))
            return
        log.info("call %s: media from the ACK's answer (late offer)", call.call_id)

    def _answer_response(self, call: SipCall, req: SipMessage) -> SipMessage:
        ok = response_for(req, 200, "OK", to_tag=call.local_tag)
        for rr in req.get_all("Record-Route"):
            ok.add("Record-Route", rr)
        ok.add("Contact", self.contact)
        ok.add("Allow", ALLOW)
        ok.add("Content-Type", "application/sdp")
        ok.body = call.local_sdp()
        return ok

    async def _run_handler(self, call: SipCall) -> None:
        assert self.on_incoming is not None
        await run_incoming(self.on_incoming, call, lambda: self._hangup(call))

    def _on_reinvite(self, call: SipCall, req: SipMessage, addr: tuple[str, int]) -> None:
        """Same call, new SDP (hold, codec change, address change): update the one stream."""
        if req.cseq[0] <= call.remote_cseq:
            self._reply(req, addr, 500, "Server Internal Error", to_tag=call.local_tag)
            return
        call.remote_cseq = req.cseq[0]
        if req.body:
            try:
                call.apply_remote_sdp(parse_sdp(req.body), offer=True)
            except (SipParseError, SipError):
                self._reply(req, addr, 488, "Not Acceptable Here", to_tag=call.local_tag)
                return
        if contact := req.get("Contact"):
            parse_uri(header_uri(contact))  # unreachable: 400, and the old target stays
            call.remote_target = header_uri(contact)
        call.sdp_version += 1
        ok = response_for(req, 200, "OK", to_tag=call.local_tag)
        ok.add("Contact", self.contact)
        ok.add("Content-Type", "application/sdp")
        ok.body = call.local_sdp()
        self._send_response(req, ok, addr)
        log.info(
            "re-INVITE on call %s: codec %s", call.call_id, call.codec and call.codec.codec.name
        )

    # requests we send ----------------------------------------------------------------------

    def _request(
        self, method: str, uri: str, *, call_id: str, cseq: int, from_: str, to: str
    ) -> SipMessage:
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        msg = SipMessage(method=method, uri=uri)
        msg.add("Via", f"SIP/2.0/UDP {host}:{self.port};branch={new_branch()};rport")
        msg.add("Max-Forwards", "70")
        msg.add("From", from_)
        msg.add("To", to)
        msg.add("Call-ID", call_id)
        msg.add("CSeq", f"{cseq} {method}")
        msg.add("User-Agent", self.cfg.user_agent)
        return msg

    def _in_dialog(self, call: SipCall, method: str) -> tuple[SipMessage, tuple[str, int]]:
        """In-dialog request: remote target as R-URI, route set, both tags (RFC 3261 12.2.1)."""
        call.local_cseq += 1
        local = f"{call.local_uri.split(';tag=')[0]};tag={call.local_tag}"
        remote = call.remote_party + (f";tag={call.remote_tag}" if call.remote_tag else "")
        msg = self._request(
            method,
            call.remote_target,
            call_id=call.call_id,
            cseq=call.local_cseq,
            from_=local,
            to=remote,
        )
        for route in call.route_set:
            msg.add("Route", route)
        return msg, self._next_hop(call.route_set, call.remote_target)

    def _next_hop(self, route_set: list[str], target: str) -> tuple[str, int]:
        if route_set:
            return parse_uri(header_uri(route_set[0])).hostport
        uri = parse_uri(target)
        return uri.hostport

    async def _register(self, expires: int) -> int:
        """One REGISTER transaction with digest auth; returns the granted expiry."""
        proxy = self._outbound_proxy()
        assert proxy is not None
        if not self._reg_call_id:
            self._reg_call_id = new_call_id(self.public_host)
        uri = f"sip:{self.domain}"
        authorization: tuple[str, str] | None = None
        for _attempt in range(3):
            self._reg_cseq += 1
            msg = self._request(
                "REGISTER",
                uri,
                call_id=self._reg_call_id,
                cseq=self._reg_cseq,
                from_=f"<{self.aor}>;tag={self._reg_tag}",
                to=f"<{self.aor}>",
            )
            msg.add("Contact", self.contact)
            msg.add("Expires", str(expires))
            if authorization:
                msg.add(*authorization)
            final: SipMessage | None = None
            async for resp in self._transaction(msg, proxy):
                final = resp
            assert final is not None
            if 200 <= final.status < 300:
                return _granted_expiry(final, self.contact, expires)
            if final.status in (401, 407) and authorization is None:
                authorization = self._answer_challenge(final, "REGISTER", uri)
                continue
            raise SipError(f"registration refused: {final.status} {final.reason}")
        raise SipError("registration refused: authentication failed")

    def _answer_challenge(self, resp: SipMessage, method: str, uri: str) -> tuple[str, str]:
        www = resp.status == 401
        challenge = resp.get("WWW-Authenticate" if www else "Proxy-Authenticate")
        if not challenge:
            raise SipError(f"{resp.status} without a challenge")
        value = digest_authorization(
            challenge,
            method=method,
            uri=uri,
            username=self.cfg.username,
            password=self.cfg.password,
        )
        return ("Authorization" if www else "Proxy-Authorization", value)

    async def _register_loop(self) -> None:
        backoff = 1.0
        while True:
            try:
                granted = await self._register(self.cfg.register_expires)
                if not self.registered.is_set():
                    log.info("registered as %s at %s", self.cfg.username, self.cfg.registrar)
                self.registered.set()
                backoff = 1.0
                await asyncio.sleep(max(granted * 0.8, 5))
            except asyncio.CancelledError:
                raise
            except (SipError, TimeoutError, OSError) as e:
                self.registered.clear()
                log.warning("registration failed: %s; retrying in %.0f s", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)

    async def call(
        self,
        target: str,
        *,
        ring_timeout: float = 45.0,
        on_ringing: Callable[[], None] | None = None,
    ) -> SipCall:
        """Place a call and return it once answered; raises `CallFailed` with the cause."""
        if not target.startswith(("sip:", "sips:")):
            target = f"sip:{target}@{self.domain}"
        uri = parse_uri(target)
        call = SipCall(
            self,
            direction=Direction.OUTBOUND,
            call_id=new_call_id(self.public_host),
            local_tag=new_tag(),
            remote_uri=target,
        )
        call.local_uri = f'"{self.cfg.display_name}" <{self.aor}>'
        call.remote_party = f"<{target}>"
        call.remote_target = target
        await call.open_media()
        self._calls[call.call_id] = call
        addr = self._outbound_proxy() or uri.hostport
        authorization: tuple[str, str] | None = None
        try:
            for _attempt in range(2):
                invite = self._request(
                    "INVITE",
                    target,
                    call_id=call.call_id,
                    cseq=call.local_cseq,
                    from_=f"{call.local_uri};tag={call.local_tag}",
                    to=call.remote_party,
                )
                invite.add("Contact", self.contact)
                invite.add("Allow", ALLOW)
                invite.add("Content-Type", "application/sdp")
                if authorization:
                    invite.add(*authorization)
                invite.body = call.local_sdp()
                call.invite = invite
                final = await self._run_invite(call, invite, addr, ring_timeout, on_ringing)
                if 200 <= final.status < 300:
                    return call
                if final.status in (401, 407) and authorization is None:
                    authorization = self._answer_challenge(final, "INVITE", target)
                    call.local_cseq += 1
                    continue
                raise CallFailed(_failure_cause(final), final.status, final.reason)
            raise CallFailed(HangupCause.FAILED, 401, "authentication failed")
        except CallFailed as e:
            call._finish(e.cause, by_remote=True, detail=f"{e.status} {e.reason}")
            raise
        except BaseException:
            call._finish(HangupCause.FAILED, by_remote=False, detail="error placing call")
            raise

    async def dial(
        self, number: str, *, variables: Mapping[str, str] = {}, ring_timeout: float = 30.0
    ) -> SipCall:
        """The `Bridge` face of `call()`; SIP has no channel variables, so they are unused."""
        return await self.call(number, ring_timeout=ring_timeout)

    async def _run_invite(
        self,
        call: SipCall,
        invite: SipMessage,
        addr: tuple[str, int],
        ring_timeout: float,
        on_ringing: Callable[[], None] | None,
    ) -> SipMessage:
        final: SipMessage | None = None
        rang = False
        responses = self._transaction(invite, addr, limit=ring_timeout + 5)
        cancel_at = time.monotonic() + ring_timeout
        # one pending anext() at a time, never cancelled on a timeout: cancelling it would
        # close the transaction's generator, and the 487 after our CANCEL would be lost
        following: asyncio.Future[SipMessage] | None = None
        try:
            while True:
                remaining = cancel_at - time.monotonic()
                if remaining <= 0:
                    self._spawn(self._cancel(invite, addr))
                    cancel_at = time.monotonic() + 10  # wait for the 487
                    continue
                if following is None:
                    following = asyncio.ensure_future(anext(responses))
                done, _ = await asyncio.wait({following}, timeout=remaining)
                if not done:
                    continue
                arrived, following = following, None
                try:
                    resp = arrived.result()
                except StopAsyncIteration:
                    break
                if resp.status < 200:
                    if resp.status in (180, 183) and not rang:
                        rang = True
                        call._emit(Ringing())
                        if on_ringing:
                            on_ringing()
                    continue
                final = resp
                break
        except TimeoutError as e:
            raise CallFailed(HangupCause.NO_ANSWER, 408, "Request Timeout") from e
        finally:
            if following is not None:
                following.cancel()
                with contextlib.suppress(BaseException):
                    await following
            with contextlib.suppress(Exception):
                await responses.aclose()
        if final is None:
            raise CallFailed(HangupCause.NO_ANSWER, 408, "Request Timeout")
        if final.status >= 300:
            self._send_error_ack(invite, final, addr)
            if final.status == 487 and time.monotonic() >= cancel_at - 10:
                raise CallFailed(HangupCause.NO_ANSWER, 487, "no answer")
            return final
        # 2xx: the dialog is established with the To-tag of *this* response
        call.remote_tag = final.to_tag()
        call.remote_party = final.require("To").split(";tag=")[0]
        call.remote_target = header_uri(final.get("Contact") or call.remote_target)
        call.route_set = list(reversed(final.get_all("Record-Route")))
        call.signal_addr = addr
        if final.body:
            try:
                call.apply_remote_sdp(parse_sdp(final.body), offer=False)
            except (SipParseError, SipError):
                self._send_ack(call, final)
                await self._hangup(call)
                raise CallFailed(HangupCause.FAILED, 488, "unusable SDP answer") from None
        call.confirmed = True
        self._send_ack(call, final)
        call.answered_at = time.time()
        call.start_media()
        call._emit(Answered())
        log.info("call %s answered by %s", call.call_id, redact(call.remote))
        return final

    def _send_ack(self, call: SipCall, final: SipMessage) -> None:
        """ACK for a 2xx: new transaction, in-dialog, with that 2xx's To-tag (RFC 3261 13.2.2.4)."""
        ack, addr = self._in_dialog(call, "ACK")
        call.local_cseq -= 1
        ack.set("CSeq", f"{final.cseq[0]} ACK")
        self._send(ack, addr)

    @staticmethod
    def _invite_sibling(invite: SipMessage, method: str, to: str) -> SipMessage:
        """ACK-for-error or CANCEL: same branch, R-URI and Route set as the INVITE (RFC 3261
        9.1, 17.1.1.3), so every proxy on the path matches it to the INVITE transaction."""
        msg = SipMessage(method=method, uri=invite.uri)
        msg.add("Via", invite.top_via)
        msg.add("Max-Forwards", "70")
        msg.add("From", invite.require("From"))
        msg.add("To", to)
        msg.add("Call-ID", invite.call_id)
        msg.add("CSeq", f"{invite.cseq[0]} {method}")
        for route in invite.get_all("Route"):
            msg.add("Route", route)
        return msg

    def _send_error_ack(self, invite: SipMessage, final: SipMessage, addr: tuple[str, int]) -> None:
        """ACK for a non-2xx final, carrying that response's To (with its tag)."""
        self._send(self._invite_sibling(invite, "ACK", final.require("To")), addr)

    async def _cancel(self, invite: SipMessage, addr: tuple[str, int]) -> None:
        cancel = self._invite_sibling(invite, "CANCEL", invite.require("To"))
        with contextlib.suppress(TimeoutError):
            async for _ in self._transaction(cancel, addr, limit=8):
                pass

    async def _hangup(
        self, call: SipCall, cause: HangupCause = HangupCause.NORMAL, detail: str = "BYE"
    ) -> None:
        """End the call now; an answered call's BYE is retransmitted in the background, so
        whoever hangs up (the session, timer H, media loss) is never held by a silent peer."""
        if call.ended:
            return
        if call.answered_at is None:
            if call.direction == Direction.OUTBOUND and call.invite is not None:
                await self._cancel(
                    call.invite, self._outbound_proxy() or parse_uri(call.remote).hostport
                )
            elif call.invite is not None and call.signal_addr is not None:
                self._reply(
                    call.invite,
                    call.signal_addr,
                    480,
                    "Temporarily Unavailable",
                    to_tag=call.local_tag,
                )
            call._finish(HangupCause.CANCELLED, by_remote=False)
            return
        try:
            bye, addr = self._in_dialog(call, "BYE")
        except SipParseError as e:  # a target that cannot be reached: end it all the same
            call._finish(cause, by_remote=False, detail=f"{detail}, no BYE ({e})")
            return
        call._finish(cause, by_remote=False, detail=detail)
        task = asyncio.ensure_future(self._bye(bye, addr, call.call_id))
        self._byes.add(task)
        task.add_done_callback(self._byes.discard)

    async def _bye(self, bye: SipMessage, addr: tuple[str, int], call_id: str) -> None:
        try:
            async for _ in self._transaction(bye, addr, limit=8):
                pass
        except TimeoutError:
            log.warning("no response to BYE on call %s", call_id)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _server_key(req: SipMessage) -> tuple[str, str]:
    """The server transaction a request belongs to: its RFC 3261 branch, or, for a branch
    without the magic cookie (or none), the RFC 2543 identity of the request, so that
    branchless requests are not all taken as retransmissions of the first (17.2.3)."""
    branch = req.branch
    if branch.startswith("z9hG4bK") and len(branch) > 7:
        return branch, req.method
    legacy = "|".join((req.top_via, req.call_id, str(req.cseq[0]), req.from_tag(), req.uri))
    return legacy, req.method


def _granted_expiry(resp: SipMessage, contact: str, asked: int) -> int:
    ours = header_uri(contact)
    values = [header_param(c, "expires") for c in resp.get_all("Contact") if header_uri(c) == ours]
    for value in [*values, resp.get("Expires")]:
        with contextlib.suppress(SipParseError):
            if value:
                return number(value, "bad_expires", top=2**32)
    return asked
