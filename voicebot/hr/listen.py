"""`voicebot webhooks listen`: a webhook receiver for trying voicebot out (a dry run, a new
endpoint) before an ATS is wired up. Every delivery is verified with the `standardwebhooks`
library, as a receiver should; a verified one is printed as one line, a refused one answered
401 and named on stderr."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

_FACTS = ("candidate_id", "external_id", "campaign_id", "outcome", "recommendation", "score",
          "report_url", "callback_at")  # fmt: skip


def describe(webhook_id: str, payload: dict[str, Any]) -> str:
    """'09:14:03  interview.completed  msg_…  candidate_id=… recommendation=yes score=3.8 …'."""
    data = payload.get("data") or {}
    facts = " ".join(f"{k}={data[k]}" for k in _FACTS if data.get(k) not in (None, ""))
    return f"{dt.datetime.now():%H:%M:%S}  {payload.get('type', '?'):28} {webhook_id}  {facts}"


def make_app(
    secret: str,
    out: Callable[[str], None],
    err: Callable[[str], None],
    *,
    as_json: bool = False,
) -> web.Application:
    hook = Webhook(secret)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        wid = headers.get("webhook-id", "?")
        try:
            payload = hook.verify(body, headers)
        except WebhookVerificationError as e:
            err(f"refused {wid}: {e}")
            return web.Response(status=401, text=f"{e}\n")
        out(json.dumps(payload, ensure_ascii=False) if as_json else describe(wid, payload))
        return web.Response(status=204)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", receive)
    return app


async def listen(
    secret: str,
    host: str,
    port: int,
    out: Callable[[str], None],
    err: Callable[[str], None],
    *,
    as_json: bool = False,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until cancelled; `ready(url)` once the socket is bound."""
    runner = web.AppRunner(make_app(secret, out, err, as_json=as_json), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if ready is not None:
            ready(f"http://{host}:{bound}/")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
