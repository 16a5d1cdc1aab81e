"""Prometheus metrics of this process, in the text format a scraper reads from /metrics.

Counters and histograms are per process (Prometheus sums the workers); campaign progress is
read from the shared store at scrape time, so every scrape of the API sees the same totals.
No label holds a name, number or id of a candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voicebot.config import ConfigError, MetricsConfig

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry()

CALLS_ACTIVE = Gauge(
    "voicebot_calls_active", "Interviews in progress in this process.", registry=REGISTRY
)
CALLS = Counter("voicebot_calls", "Interviews ended, by outcome.", ["outcome"], registry=REGISTRY)
VOICE_TO_VOICE = Histogram(
    "voicebot_voice_to_voice_seconds",
    "From the end of the candidate's answer to the first sound of the bot's reply.",
    buckets=(0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0),
    registry=REGISTRY,
)
ASR_DECODE = Histogram(
    "voicebot_asr_decode_seconds",
    "Model time of each final speech-recognition decode.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0),
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "voicebot_webhook_deliveries",
    "Webhook delivery tries, by HTTP status class (none: no response).",
    ["status"],
    registry=REGISTRY,
)
CAMPAIGN_ATTEMPTS = Counter(
    "voicebot_campaign_attempts",
    "Campaign call attempts ended in this process, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)


def call_started() -> None:
    CALLS_ACTIVE.inc()


def call_ended(outcome: str, reply_latencies_ms: Iterable[float | None]) -> None:
    """One interview over: its outcome counted, each reply's voice-to-voice latency observed."""
    CALLS_ACTIVE.dec()
    CALLS.labels(outcome=outcome or "unknown").inc()
    for ms in reply_latencies_ms:
        if ms is not None and ms >= 0:
            VOICE_TO_VOICE.observe(ms / 1000)


def asr_decoded(decode_ms: float) -> None:
    if decode_ms > 0:
        ASR_DECODE.observe(decode_ms / 1000)


def webhook_tried(status: int | None) -> None:
    WEBHOOK_DELIVERIES.labels(status=f"{status // 100}xx" if status else "none").inc()


def attempt_ended(outcome: str) -> None:
    CAMPAIGN_ATTEMPTS.labels(outcome=outcome or "unknown").inc()


class CampaignProgress(Collector):
    """Targets of every campaign by status, as last read from the store (`refresh`)."""

    def __init__(self) -> None:
        self.targets: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "voicebot_campaign_targets",
            "Candidates of each campaign by status (pending, done, skipped, ...).",
            labels=["campaign", "status"],
        )
        for (campaign, status), count in sorted(self.targets.items()):
            family.add_metric([campaign, status], count)
        yield family

    async def refresh(self, store: Any) -> None:
        """Read each campaign's progress; a store that fails keeps the last reading."""
        from voicebot.store import hr as db

        try:
            targets: dict[tuple[str, str], int] = {}
            for campaign in await db.list_campaigns(store):
                progress: Mapping[str, Any] = await db.campaign_progress(store, campaign["id"])
                for status, count in progress["by_status"].items():
                    targets[(campaign["id"], status)] = count
        except Exception as e:  # a scrape must still answer with what the process knows
            log.warning("metrics: campaign progress not read: %s", e)
            return
        self.targets = targets


CAMPAIGNS = CampaignProgress()
REGISTRY.register(CAMPAIGNS)


def exposition() -> tuple[bytes, str]:
    """The body and content type of a /metrics answer."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


Unready = Callable[[], Awaitable[str | None]]  # why the process cannot take work, or None


async def serve_metrics(host: str, port: int, unready: Unready | None = None) -> asyncio.Server:
    """A small HTTP listener on `metrics.port` of `voicebot serve` and `voicebot worker`:
    GET /metrics, /health (the process answers) and /ready (503 with the reason while
    `unready()` gives one: the store is down, a shutdown is draining)."""
    return await asyncio.start_server(
        functools.partial(_answer, unready=unready), host, port, limit=8192
    )


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, unready: Unready | None = None
) -> None:
    try:
        async with asyncio.timeout(5):
            request = await reader.readline()
            while await reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # headers: nothing in them changes the answer
        method, _, rest = request.decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        status = "200 OK"
        if method not in ("GET", "HEAD"):
            body, ctype, status = b"GET only\n", "text/plain", "405 Method Not Allowed"
        elif path == "/metrics":
            body, ctype = exposition()
        elif path == "/health":
            body, ctype = b"ok\n", "text/plain"
        elif path == "/ready":
            why = await unready() if unready is not None else None
            body, ctype = (f"{why}\n" if why else "ready\n").encode(), "text/plain"
            status = "503 Service Unavailable" if why else status
        else:
            body, ctype = b"not found: GET /metrics, /health or /ready\n", "text/plain"
            status = "404 Not Found"
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + (b"" if method == "HEAD" else body))
        await writer.drain()
    except (TimeoutError, ConnectionError, ValueError, asyncio.LimitOverrunError):
        pass  # a slow or broken scraper gets nothing; the next scrape tries again
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def mount(app: Any, store: Any) -> None:
    """GET /metrics on the HR API, outside its OpenAPI schema and without a token (bind the
    API where only the scraper reaches it); each scrape reads campaign progress first."""
    from fastapi import Response

    async def scrape() -> Response:
        await CAMPAIGNS.refresh(store)
        body, ctype = exposition()
        return Response(body, media_type=ctype)

    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)


async def metrics_listener(
    cfg: MetricsConfig, announce: Callable[[str], None], unready: Unready | None = None
) -> asyncio.Server | None:
    """The listener on metrics.host:port when metrics.port is set (Prometheus scrapes it)."""
    if not cfg.port:
        return None
    try:
        server = await serve_metrics(cfg.host, cfg.port, unready)
    except OSError as e:
        where = f"{cfg.host}:{cfg.port}"
        raise ConfigError(f"metrics.port: cannot listen on {where}: {e.strerror}") from None
    announce(f"metrics on http://{cfg.host}:{cfg.port}/metrics (and /health, /ready)")
    return server
