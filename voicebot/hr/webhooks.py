"""Signed webhooks to HR systems, by the Standard Webhooks scheme, from a durable outbox.

Events are written to the store's outbox in the same transaction as the state they report;
`WebhookSender` delivers them: `webhook-id` (stable across retries, so receivers can drop
duplicates), `webhook-timestamp`, and `webhook-signature` = `v1,` + base64(HMAC-SHA256(secret,
id.timestamp.body)), with a second signature while a rotated-out secret is still live.
Failures retry on the schedule in `[webhooks]` with jitter; `Retry-After` is honoured; a 410
disables the endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from standardwebhooks import Webhook

from voicebot import metrics
from voicebot.config import WebhooksConfig
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.db import StoreError

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "candidate.contacted",
    "call.completed",
    "interview.completed",
    "candidate.opted_out",
    "candidate.callback_requested",
    "report.updated",  # a rescore added a report version (voicebot.store.reports)
    "review.decided",  # a reviewer advanced, rejected or held an interview (the console)
)
SECRET_PREFIX = "whsec_"
MAX_RETRY_AFTER_S = 86400.0


class WebhookError(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        raise WebhookError("webhook secret: expected whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `id.timestamp.body`, by the `standardwebhooks` library
    itself (the same one receivers verify with; ~1 µs more a delivery than HMAC by hand)."""
    _key(secret)  # a malformed secret is our one-line WebhookError, not the library's
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return Webhook(secret).sign(msg_id, when, body.decode("utf-8"))


def event_body(event_type: str, created_at: float, payload: Mapping[str, Any]) -> bytes:
    """The Standard Webhooks envelope: type, timestamp and data."""
    stamp = dt.datetime.fromtimestamp(created_at, dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event_type, "timestamp": stamp, "data": payload}, separators=(",", ":")
    ).encode()


def signed_headers(delivery: Mapping[str, Any], body: bytes, now: float) -> dict[str, str]:
    """Headers for one try; both secrets sign while the rotated-out one is still live."""
    timestamp = int(now)
    sigs = [sign(delivery["secret"], delivery["event_id"], timestamp, body)]
    old, until = delivery.get("old_secret"), delivery.get("old_secret_until")
    if old and until and now < until:
        sigs.append(sign(old, delivery["event_id"], timestamp, body))
    return {
        "content-type": "application/json",
        "webhook-id": delivery["event_id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sigs),
    }


def retry_after_s(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from now (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER_S)


@dataclass(frozen=True, slots=True)
class TryResult:
    delivered: bool
    status: int | None
    error: str | None
    retry_after: float | None = None


class WebhookSender:
    """Delivers due outbox entries; `await run()` until `stop()`, or `deliver_due()` once."""

    def __init__(
        self,
        store: Store,
        cfg: WebhooksConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        concurrency: int = 8,
        poll_s: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.cfg = cfg or WebhooksConfig()
        self.clock = clock
        self.poll_s = poll_s
        self.concurrency = concurrency
        self._sem = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._gone: set[str] = set()  # endpoints that answered 410: their leases are dropped
        self.delivered = 0

    def stop(self) -> None:
        self._stop.set()

    def lease_s(self, limit: int) -> float:
        """How long a pass's deliveries stay leased: its slowest possible delivery (each waits
        its turn for one of `concurrency` slots, then up to the timeout) and a margin. Short,
        because a sender that dies (kill -9) holds its leased deliveries back this long."""
        rounds = -(-limit // self.concurrency)
        return rounds * self.cfg.timeout_s + 10.0

    def wake(self) -> None:
        """New events are in the outbox: look now instead of at the next poll."""
        self._wake.set()

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    sent = await self.deliver_due()
                    if sent:
                        continue
                    next_at = await db.next_delivery_at(self.store)
                except StoreError as e:  # a busy or unreachable store: its leases expire, retry
                    log.warning("webhooks: %s; trying again in %.1f s", e, self.poll_s)
                    next_at = None
                delay = self.poll_s if next_at is None else next_at - self.clock()
                self._wake.clear()
                waits = [asyncio.ensure_future(e.wait()) for e in (self._stop, self._wake)]
                await asyncio.wait(
                    waits, timeout=max(0.0, min(delay, self.poll_s)),
                    return_when=asyncio.FIRST_COMPLETED,
                )  # fmt: skip
                for w in waits:
                    w.cancel()
        finally:
            await self.close()

    async def deliver_due(self, limit: int | None = None) -> int:
        """One pass over the due deliveries; returns how many were tried."""
        limit = limit or 2 * self.concurrency
        due = await db.lease_deliveries(self.store, self.clock(), limit, self.lease_s(limit))
        self._gone.clear()  # a replay re-enables an endpoint; the store says who is enabled
        if due:
            await asyncio.gather(*(self._deliver(d) for d in due))
        return len(due)

    async def _deliver(self, d: Mapping[str, Any]) -> None:
        async with self._sem:
            if d["endpoint_id"] in self._gone:
                # leased in the same pass as the 410: stays pending for a replay, never sent
                return
            body = event_body(d["type"], d["created_at"], json.loads(d["payload_json"]))
            # signed with the wall clock: receivers check the timestamp against theirs
            result = await self._post(d["url"], body, signed_headers(d, body, time.time()))
        await self._record(d, result)

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> TryResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_s)
            )
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                retry_after = retry_after_s(resp.headers.get("Retry-After"), self.clock())
                return TryResult(
                    ok, resp.status, None if ok else f"HTTP {resp.status}", retry_after
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            return TryResult(False, None, f"{type(e).__name__}: {e}".strip(": "))

    async def _record(self, d: Mapping[str, Any], r: TryResult) -> None:
        metrics.webhook_tried(r.status)
        now = self.clock()
        key = (d["event_id"], d["endpoint_id"])
        if r.delivered:
            self.delivered += 1
            await db.delivery_result(
                self.store, *key, state="delivered", status=r.status, error=None, next_at=now
            )
            return
        if r.status == 410:
            self._gone.add(d["endpoint_id"])
            log.warning("webhook endpoint %s answered 410 Gone: disabled", d["endpoint_id"])
            await db.delivery_result(
                self.store, *key, state="failed", status=410, error="410 Gone", next_at=now,
                disable_endpoint="410 Gone",
            )  # fmt: skip
            return
        tries = d["attempts"] + 1
        schedule = self.cfg.schedule
        if tries >= len(schedule):
            log.warning("webhook %s to %s failed %d times: giving up", *key, tries)
            await db.delivery_result(
                self.store, *key, state="failed", status=r.status, error=r.error, next_at=now
            )
            return
        delay = schedule[tries]
        delay *= 1 + self._rng.uniform(-self.cfg.jitter, self.cfg.jitter)
        if r.retry_after is not None:
            delay = max(delay, r.retry_after)
        await db.delivery_result(
            self.store, *key, state="pending", status=r.status, error=r.error, next_at=now + delay
        )
