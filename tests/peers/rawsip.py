"""A bare UDP SIP user agent for probing the registrar and capturing raw requests.

`RawSipUser` speaks just enough SIP to REGISTER with digest auth (MD5, optional qop=auth),
receive requests verbatim and answer them with a fixed status; nothing here is meant to be a
SIP stack, only a byte-exact window on what the peers send.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field


@dataclass(slots=True)
class SipMessage:
    """One SIP message as received, with its first line and headers parsed."""

    raw: bytes
    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def parse(cls, raw: bytes) -> SipMessage:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return cls(raw=raw, start_line=lines[0], headers=headers, body=body)

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0] if self.is_request else ""

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.start_line.split(" ", 2)[1])

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def _digest(challenge: str, *, user: str, password: str, method: str, uri: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    fields = [
        f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
        "algorithm=MD5",
    ]  # fmt: skip
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[SipMessage]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip():  # keep-alive CRLFs are not messages
            self.queue.put_nowait(SipMessage.parse(data))


class RawSipUser:
    """A UDP socket on 127.0.0.1 that can REGISTER as `user` and see raw requests."""

    def __init__(self, user: str, password: str, registrar: tuple[str, int]) -> None:
        self.user = user
        self.password = password
        self.registrar = registrar
        self.host = registrar[0]
        self.port = 0
        self._queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._transport: asyncio.DatagramTransport | None = None
        self._call_id = f"{secrets.token_hex(8)}@{self.host}"
        self._tag = secrets.token_hex(4)
        self._cseq = 0

    async def open(self) -> RawSipUser:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._queue), local_addr=(self.host, 0)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> RawSipUser:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        assert self._transport is not None, "open() first"
        self._transport.sendto(data, addr or self.registrar)

    async def receive(self, timeout: float = 5.0) -> SipMessage:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def register(
        self, *, password: str | None = None, expires: int = 300, timeout: float = 5.0
    ) -> list[int]:
        """REGISTER (answering one digest challenge); the statuses of the final replies."""
        domain = f"{self.registrar[0]}:{self.registrar[1]}"
        uri = f"sip:{domain}"
        statuses: list[int] = []
        auth = ""
        for _ in range(2):
            self._cseq += 1
            request = (
                f"REGISTER {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.host}:{self.port};rport;"
                f"branch=z9hG4bK{secrets.token_hex(8)}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{self.user}@{domain}>;tag={self._tag}\r\n"
                f"To: <sip:{self.user}@{domain}>\r\n"
                f"Call-ID: {self._call_id}\r\n"
                f"CSeq: {self._cseq} REGISTER\r\n"
                f"Contact: <sip:{self.user}@{self.host}:{self.port}>\r\n"
                f"Expires: {expires}\r\n"
                f"{auth}"
                "Content-Length: 0\r\n\r\n"
            )
            self.send(request.encode())
            reply = await self._final_reply("REGISTER", self._cseq, timeout)
            statuses.append(reply.status)
            challenge = reply.header("WWW-Authenticate")
            if reply.status != 401 or challenge is None or auth:
                break
            digest = _digest(
                challenge,
                user=self.user,
                password=self.password if password is None else password,
                method="REGISTER",
                uri=uri,
            )
            auth = f"Authorization: {digest}\r\n"
        return statuses

    async def _final_reply(self, method: str, cseq: int, timeout: float) -> SipMessage:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self._queue.get()
                if msg.is_request or msg.status < 200:
                    continue
                if msg.header("CSeq") == f"{cseq} {method}":
                    return msg

    async def next_request(self, method: str, timeout: float = 10.0) -> SipMessage:
        """The next request with `method`, skipping anything else."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self._queue.get()
                if msg.method == method:
                    return msg

    def reply(self, request: SipMessage, status: int, reason: str) -> None:
        """Answer `request` statelessly (copying Via/From/To/Call-ID/CSeq)."""
        lines = [f"SIP/2.0 {status} {reason}"]
        for name in ("Via", "Record-Route"):
            lines += [f"{name}: {value}" for value in request.all(name)]
        to = request.header("To") or ""
        if "tag=" not in to:
            to += f";tag={self._tag}"
        lines += [
            f"From: {request.header('From')}",
            f"To: {to}",
            f"Call-ID: {request.header('Call-ID')}",
            f"CSeq: {request.header('CSeq')}",
            "Content-Length: 0",
        ]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
