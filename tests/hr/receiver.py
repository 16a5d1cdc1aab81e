"""A real webhook receiver on 127.0.0.1 (aiohttp) that verifies every delivery with the
`standardwebhooks` library, unchanged, and answers as a test scripts it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    type: str
    data: dict
    status: int  # what the receiver answered


@dataclass
class Receiver:
    """`answer(n)` gives the status for the n-th request (0-based) and optional headers."""

    secrets: list[str]
    answer: Callable[[int], tuple[int, dict[str, str]]] = lambda n: (200, {})
    got: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        payload = None
        for secret in self.secrets:  # every secret the test expects must verify on its own
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as e:
                self.rejected.append(f"{headers.get('webhook-id')}: {e}")
                return web.Response(status=401)
        status, extra = self.answer(len(self.got))
        assert payload is not None
        self.got.append(Received(headers["webhook-id"], payload["type"], payload["data"], status))
        return web.Response(status=status, headers=extra)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def accepted_ids(self) -> list[str]:
        return [r.webhook_id for r in self.got if 200 <= r.status < 300]
